"""Batched full-resolution inference over a dataset (used by select, pseudo and evaluate).

`predict` normalises each image exactly as training does (ImageNet mean/std, no resizing),
groups consecutive images of equal size into batches, and runs the model without autograd
(`torch.no_grad`, scoped to each forward), with bf16 autocast and channels_last on CUDA.
"""

from __future__ import annotations

import logging
from typing import Iterator, Sequence

import torch
import torch.nn.functional as F
from tqdm import tqdm

from actseg.transforms import normalize_image

log = logging.getLogger(__name__)


class InferenceMemoryError(MemoryError):
    """Out of memory on a single image: lowering the batch size cannot help."""


def resolve_device(device: str | torch.device) -> torch.device:
    """'auto' -> cuda if available else cpu; errors clearly if cuda is asked but absent."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {str(device)!r} requested but CUDA is not available")
    return device


def native_bf16_cpu() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX): there oneDNN runs bf16
    channels_last convolutions about 1.5x faster than fp32 (benchmarks/train.py); elsewhere
    bf16 is emulated and slower."""
    probes = [getattr(torch.cpu, name, None)
              for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(probe is not None and probe() for probe in probes)


def resolve_switch(value: str | bool | None, device: torch.device,
                   cpu_auto: bool = False) -> bool:
    """auto|on|off (or a bool) -> bool. 'auto' means on for CUDA; on CPU it is on only with
    `cpu_auto` (training passes it) and a CPU with native bf16 (`native_bf16_cpu`)."""
    if isinstance(value, bool):
        return value
    if value in (None, "auto"):
        return device.type == "cuda" or (cpu_auto and device.type == "cpu"
                                         and native_bf16_cpu())
    if value in ("on", "true", "1"):
        return True
    if value in ("off", "false", "0"):
        return False
    raise ValueError(f"expected auto|on|off, got {value!r}")


def size_batches(sizes: Sequence[tuple[int, int]], batch_size: int) -> list[list[int]]:
    """Split positions 0..len(sizes)-1 into runs of equal size, each at most batch_size long."""
    batches: list[list[int]] = []
    for pos, size in enumerate(sizes):
        if batches and len(batches[-1]) < batch_size and sizes[batches[-1][0]] == size:
            batches[-1].append(pos)
        else:
            batches.append([pos])
    return batches


def upsample_features(features: torch.Tensor, size: tuple[int, int],
                      renormalize: bool = False) -> torch.Tensor:
    """Bilinear upsampling of the (unit) decoder features to `size`.

    Interpolating unit vectors shortens them between feature-map pixels, so similarities
    near feature edges come out smaller: the authors' code keeps it so (the default,
    `pseudo.renormalize: false`); `renormalize` L2-normalises every pixel again, which makes
    inner products cosine similarities.
    """
    up = F.interpolate(features.float(), size=size, mode="bilinear", align_corners=False)
    return F.normalize(up, dim=1, eps=1e-12) if renormalize else up


def predict(model: torch.nn.Module, dataset, indices: Sequence[int], batch_size: int = 8,
            device: str | torch.device = "cpu", amp: bool | str = "auto",
            return_features: bool = False, channels_last: bool | str = "auto",
            progress: bool = True, desc: str = "inference", setting: str = "batch_size",
            ) -> Iterator[tuple[list[int], torch.Tensor, torch.Tensor | None]]:
    """Yield `(batch_indices, logits, features)` over `indices` of `dataset`, in order.

    - `logits`: (b, C+1, H, W) float32 raw cosine logits at the image's full resolution.
    - `features`: (b, D, h, w) float32 L2-normalised decoder features at the model's
      resolution (a quarter of the image's), or None unless `return_features`. Upsample
      them with `upsample_features` (whole) or `actseg.upsampled.Upsampled` (band by band,
      bounded memory): full-resolution features of a 1024x2048 image take 2 GiB at D=256.
    Both are on `device` (call `.cpu()` if needed). A batch holds consecutive indices of equal
    image size, at most `batch_size`. `amp`/`channels_last`: auto|on|off or bool (amp is bf16
    autocast, auto = on CUDA only; channels_last auto = on CUDA and on CPUs with native bf16,
    where oneDNN's fp32 convolutions also run 1.7x faster in it: 57 against 95 ms per
    256x512 image for the small model, 1 thread). The model is moved to `device` and put in
    eval mode.

    Batch sizes adapt to memory: a batch that runs out of memory (CUDA or CPU allocator) is
    retried in halves, and later batches keep the lower size, with a warning naming
    `setting` (the config key of `batch_size`) to lower; one image that does not fit raises
    `InferenceMemoryError`.
    """
    device = resolve_device(device)
    use_amp = resolve_switch(amp, device)
    use_cl = resolve_switch(channels_last, device, cpu_auto=True)
    indices = [int(i) for i in indices]
    model.eval()
    model.to(device)
    if use_cl:
        model.to(memory_format=torch.channels_last)
    sizes = [tuple(dataset.image_size(i)) for i in indices]
    batches = size_batches(sizes, batch_size)
    fitting = _Fitting(lambda batch: _forward(model, dataset, batch, device, use_amp, use_cl,
                                              return_features), device, setting)
    bar = tqdm(total=len(indices), desc=desc, unit="img", disable=None if progress else True)
    try:
        for positions in batches:
            for batch_indices, logits, features in fitting([indices[p] for p in positions],
                                                           sizes[positions[0]]):
                bar.update(len(batch_indices))
                yield batch_indices, logits, features
    finally:
        bar.close()


def is_out_of_memory(err: BaseException) -> bool:
    """A CUDA or CPU allocation failure (torch raises RuntimeError subclasses for both)."""
    text = str(err)
    return isinstance(err, torch.OutOfMemoryError) or (
        isinstance(err, RuntimeError) and ("out of memory" in text
                                           or "can't allocate memory" in text))


class _Fitting:
    """Runs batches at most `cap` images long; an out-of-memory batch lowers `cap` to half
    its length, for it and every later batch."""

    def __init__(self, run, device: torch.device, setting: str):
        self.run, self.device, self.setting, self.cap = run, device, setting, None

    def __call__(self, batch: list[int], size):
        """Yield `(part, *run(part))` over consecutive parts of `batch`."""
        step = len(batch) if self.cap is None else self.cap
        for start in range(0, len(batch), step):
            yield from self._part(batch[start:start + step], size)

    def _part(self, part: list[int], size):
        try:
            outputs = self.run(part)
        except (RuntimeError, MemoryError) as err:
            if not is_out_of_memory(err):
                raise
            if len(part) == 1:
                raise InferenceMemoryError(
                    f"out of memory on one {size[0]}x{size[1]} image on {self.device}, even "
                    f"at {self.setting} = 1: use a device with more memory, a smaller model "
                    f"or smaller images") from err
            outputs = None  # retried below, outside the handler: its traceback holds memory
        if outputs is not None:
            yield (part, *outputs)
            return
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        self.cap = len(part) // 2
        log.warning("out of memory at %d images of %dx%d on %s: continuing at %d; set %s to "
                    "%d or less", len(part), size[0], size[1], self.device, self.cap,
                    self.setting, self.cap)
        yield from self(part, size)


@torch.no_grad()
def _forward(model, dataset, batch_indices, device, use_amp, use_cl, return_features):
    """One batch. No-grad (not inference mode) so callers may modify the outputs in place;
    the grad mode is scoped to this call, never held across the generator's `yield`."""
    images = torch.stack([normalize_image(dataset.load_image(i)) for i in batch_indices])
    height, width = images.shape[-2:]
    images = images.to(device, non_blocking=True)
    if use_cl:
        images = images.contiguous(memory_format=torch.channels_last)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
        if return_features:
            logits, features = model(images, return_features=True)
        else:
            logits, features = model(images), None
    logits = logits.float().contiguous()
    if tuple(logits.shape[-2:]) != (height, width):  # models upsample already; be safe
        logits = F.interpolate(logits, size=(height, width), mode="bilinear",
                               align_corners=False)
    if features is not None:
        features = features.float().contiguous()
    return logits, features
