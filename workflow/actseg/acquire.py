"""Acquisition scores for the region pool (docs/method.md §7), in one streaming pass.

Per pixel, with `q = softmax(s / tau)` over the C+1 channels (channel C = undefined; C
channels on a dataset without the undefined class, VOC):
`u(x) = q2 / q1` (second over first probability; larger = more uncertain) and `c(x)` the
top-1 channel. Per region r of image n:

- ``random``:   uniform in [0, 1) from a seeded numpy Generator (no model needed).
- ``bvsb``:     mean_{x in r} u(x).
- ``classbal``: exp(-pi_d) * minmax(mean_{x in r} u(x)), d = the region's majority top-1
  channel and pi_c = fraction of regions whose majority is c; minmax rescales the region
  means to [0, 1] over the present regions of the pool, as the authors' code does. The regions counted in pi are **all
  regions present in the scored images** (labelled or not): the scorer sees images, not the
  labelling history, and the labelled share of a pool image is small.
- ``pixbal``:   a_r = mean_{x in r} nu_{c(x)} u(x) with nu_c = (1 + kappa * pbar_c)^-2 and
  pbar = mean of q over every pixel of the scored images (an exact pixel mean).

Ban of the undefined class (``ban_undefined``, default on; not applied to ``random``): a
region whose majority top-1 channel is C gets score 0. Every other score is a mean of
ratios q2/q1 > 0, so banned regions rank after every unbanned region with a positive score
(they are still candidates, used only once the others are exhausted). Majority ties go to
the lowest channel, so a region is banned only when C strictly outnumbers every real class.
Without an undefined class (``has_undefined`` False) nothing is banned.

Streaming: per batch, one bincount over flat ids ``(row * R_max + region) * (C+1) + top1``
gives the per (image, region, top-1 channel) pixel counts and sums of u; the running sum of q
gives pbar. The per-pixel pass works on chunks of pixels (cache-sized on CPU, the whole batch
on CUDA), so nothing of size pixels x channels is allocated beyond one chunk, and no one-hot
is ever built. The host tables are (N, R_max, C+1): int32 counts and float64 u sums (one
channel unless ``pixbal``, whose weights nu are known only at the end). Absent region ids
score -inf.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from actseg import schema
from actseg.budget import fill_budget  # public here too (docs/architecture.md)

TAU, KAPPA = schema.default("model.tau"), schema.default("acquisition.kappa")
BAN_UNDEFINED = schema.default("acquisition.ban_undefined")

__all__ = ["METHODS", "PoolScorer", "fill_budget", "pixel_uncertainty", "random_scores",
           "score_pool", "top_two"]

METHODS = ("random", "bvsb", "classbal", "pixbal")
IGNORE_REGION = -1  # region id of pixels that belong to no region (padding)


def top_two(scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(best, second, top1) over dim 1 of `scores` (b, K, n); ties go to the lowest channel.

    A loop over the K channels on preallocated planes, without boolean masks: on CPU this is
    several times faster than `topk`/`max` along the strided channel axis. The running index
    is a float plane moved with `lerp(index, c, above)`, exact for 0/1 weights.
    """
    best = scores[:, 0].float().clone()
    second = torch.full_like(best, -float("inf"))
    index = torch.zeros_like(best)
    above = torch.empty_like(best)
    channel = torch.empty_like(best)
    runner_up = torch.empty_like(best)
    for c in range(1, scores.shape[1]):
        x = scores[:, c]
        torch.gt(x, best, out=above)
        torch.minimum(best, x, out=runner_up)  # the new second is max(second, min(best, x))
        torch.maximum(second, runner_up, out=second)
        torch.maximum(best, x, out=best)
        torch.lerp(index, channel.fill_(c), above, out=index)
    return best, second, index.long()


def _pixel_pass(logits: torch.Tensor, valid: torch.Tensor | None, tau: float,
                with_prior: bool, chunk: int | None
                ) -> tuple[torch.Tensor, torch.Tensor, np.ndarray | None]:
    """Per-pixel u = q2/q1 and top-1 (b, H*W), and the sum of q over valid pixels (K,).

    u = exp((s2 - s1) / tau) needs no softmax. The q sum is exp((s - s1) / tau) / Z summed
    over pixels (all of them when `valid` is None), one chunk of pixels at a time so that the
    working set stays in cache on CPU.
    """
    b, k = logits.shape[:2]
    flat = logits.reshape(b, k, -1)
    n = flat.shape[2]
    step = max(1, chunk // b) if chunk else n  # `chunk` pixels over the whole batch
    u = torch.empty((b, n), dtype=torch.float32, device=logits.device)
    top1 = torch.empty((b, n), dtype=torch.long, device=logits.device)
    q_sum = torch.zeros(k, dtype=torch.float64, device=logits.device)
    for start in range(0, n, step):
        part = flat[:, :, start:start + step].float()
        best, second, top1[:, start:start + step] = top_two(part)
        u[:, start:start + step] = second.sub_(best).div_(tau).exp_()
        if with_prior:  # e = exp(s / tau - s1 / tau): one fused scale-and-shift, one exp
            shift = best.mul_(-1.0 / tau).unsqueeze(1)
            e = torch.add(shift, part, alpha=1.0 / tau).exp_()
            per_pixel = e.sum(dim=1).reciprocal_()  # 1 / Z
            if valid is not None:
                per_pixel.mul_(valid.reshape(b, -1)[:, start:start + step])
            q_sum += e.mul_(per_pixel.unsqueeze(1)).sum(dim=(0, 2)).double()
    return u, top1, (q_sum.cpu().numpy() if with_prior else None)


def pixel_uncertainty(logits: torch.Tensor, tau: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(u, top1), each (B, H, W), for logits (B, K, H, W): u = q2 / q1 of q = softmax(s / tau)."""
    u, top1, _ = _pixel_pass(logits, None, tau, False, None)
    shape = (logits.shape[0], *logits.shape[2:])
    return u.view(shape), top1.view(shape)


def random_scores(present: np.ndarray, seed: int | Sequence[int]) -> np.ndarray:
    """Uniform [0, 1) float32 scores of shape `present.shape`; -inf where not present.

    One draw per cell of the whole table, so the numbers depend only on (seed, shape).
    """
    rng = np.random.default_rng(seed)
    scores = rng.random(present.shape).astype(np.float32)
    scores[~np.asarray(present, dtype=bool)] = -np.inf
    return scores


class PoolScorer:
    """Streams model outputs over the pool and scores every (image, region).

    Usage::

        scorer = PoolScorer("pixbal", num_images=N, r_max=R, num_channels=C + 1)
        for indices, logits, _ in predict(...):
            scorer.update(indices, logits, region_maps)
        scores = scorer.finalize()   # (N, R) float32, -inf for absent / unscored regions

    `update` works on the device of `logits` (CPU or CUDA); the tables live in host memory.
    Images never fed to `update` have no present region and score -inf.
    """

    def __init__(self, method: str, num_images: int, r_max: int, num_channels: int,
                 tau: float = TAU, kappa: float = KAPPA, ban_undefined: bool = BAN_UNDEFINED,
                 seed: int | Sequence[int] = 0, has_undefined: bool = True):
        if method not in METHODS:
            raise ValueError(f"acquisition method must be one of {METHODS}, got {method!r}")
        if num_channels < 2:
            raise ValueError(f"need at least 2 channels, got {num_channels}")
        if tau <= 0:
            raise ValueError(f"tau must be positive, got {tau}")
        self.method = method
        self.num_images, self.r_max, self.num_channels = num_images, r_max, num_channels
        self.tau, self.kappa, self.seed = tau, kappa, seed
        # the last channel is u only where the dataset has it (not VOC)
        self.ban_undefined = bool(ban_undefined) and has_undefined
        # u sums per channel only for pixbal; random needs region areas only.
        self._u_channels = {"random": 0, "pixbal": num_channels}.get(method, 1)
        count_channels = 1 if method == "random" else num_channels
        self.counts = np.zeros((num_images, r_max, count_channels), dtype=np.int32)
        self.u_sums = np.zeros((num_images, r_max, self._u_channels), dtype=np.float64)
        self.q_sum = np.zeros(num_channels, dtype=np.float64)
        self.num_pixels = 0
        self.seen = np.zeros(num_images, dtype=bool)
        self.cpu_chunk = 1 << 16  # pixels (whole batch) per step of the CPU pass: cache-sized

    # ------------------------------------------------------------------ streaming
    def update(self, indices, logits: torch.Tensor | None, region_maps) -> None:
        """Add a batch: image `indices` (b,), `logits` (b, C+1, H, W), `region_maps` (b, H, W).

        Region id -1 marks pixels outside every region (ignored). `logits` may be None for
        ``random``, which needs only which regions are present.
        """
        rows = self._check_rows(indices)
        device = logits.device if logits is not None else torch.device("cpu")
        regions = torch.as_tensor(region_maps, device=device).long()
        padded = self._check_regions(regions, logits)
        with torch.no_grad():
            valid = regions >= 0 if padded else None
            ids = self._flat_region_ids(regions, valid)
            if self.method == "random":
                self._accumulate(rows, ids, None, None)
            else:
                chunk = None if device.type == "cuda" else self.cpu_chunk
                u, top1, q_sum = _pixel_pass(logits, valid, self.tau,
                                             self.method == "pixbal", chunk)
                if not bool(torch.isfinite(u.sum())):  # 0 <= u <= 1 unless a logit is NaN
                    raise ValueError(f"non-finite logits for images {rows.tolist()}")
                self._accumulate(rows, ids, top1, u)
                if q_sum is not None:
                    self.q_sum += q_sum
            self.num_pixels += regions.numel() if valid is None else int(valid.sum())
        self.seen[rows] = True

    def _flat_region_ids(self, regions: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
        """(b, H*W) ids row * R_max + region; padding goes to one extra bin, b * R_max."""
        b = regions.shape[0]
        offsets = torch.arange(b, device=regions.device).view(-1, 1, 1) * self.r_max
        ids = regions + offsets
        if valid is not None:
            ids.masked_fill_(~valid, b * self.r_max)
        return ids.view(b, -1)

    def _accumulate(self, rows: np.ndarray, ids: torch.Tensor, top1: torch.Tensor | None,
                    u: torch.Tensor | None) -> None:
        """Bincount pixels and sums of u per (row, region, top-1 channel) into the tables."""
        k = self.counts.shape[2]
        class_ids = ids * k + top1 if top1 is not None and k > 1 else ids
        self.counts[rows] += self._bincount(class_ids, k, len(rows), None).astype(np.int32)
        if u is not None:
            u_ids = class_ids if self._u_channels == k else ids
            self.u_sums[rows] += self._bincount(u_ids, self._u_channels, len(rows), u)

    def _bincount(self, ids: torch.Tensor, channels: int, num_rows: int,
                  weights: torch.Tensor | None) -> np.ndarray:
        """(num_rows, R_max, channels) host table of one batch; the padding bin is dropped."""
        bins = num_rows * self.r_max * channels
        total = torch.bincount(ids.reshape(-1), minlength=bins + channels,
                               weights=None if weights is None else weights.reshape(-1).double())
        return total[:bins].cpu().numpy().reshape(num_rows, self.r_max, channels)

    def _check_rows(self, indices) -> np.ndarray:
        rows = np.asarray(torch.as_tensor(indices).cpu().numpy(), dtype=np.int64).reshape(-1)
        if len(rows) and (rows.min() < 0 or rows.max() >= self.num_images):
            raise ValueError(f"image indices must lie in 0..{self.num_images - 1}, got {rows}")
        if len(np.unique(rows)) != len(rows) or self.seen[rows].any():
            raise ValueError(f"image(s) fed twice to the scorer: {rows}")
        return rows

    def _check_regions(self, regions: torch.Tensor, logits: torch.Tensor | None) -> bool:
        """Validate shapes and ids; True when some pixel is padding (id -1)."""
        if regions.dim() != 3:
            raise ValueError(f"region maps must be (b, H, W), got shape {tuple(regions.shape)}")
        if logits is None and self.method != "random":
            raise ValueError(f"{self.method} scores need logits")
        if logits is not None:
            b, k, h, w = logits.shape
            if k != self.num_channels:
                raise ValueError(f"logits have {k} channels, the scorer expects "
                                 f"{self.num_channels}")
            if tuple(regions.shape) != (b, h, w):
                raise ValueError(f"region maps {tuple(regions.shape)} do not match logits "
                                 f"{tuple(logits.shape)}")
        if not regions.numel():
            return False
        lo, hi = int(regions.min()), int(regions.max())
        if lo < IGNORE_REGION or hi >= self.r_max:
            raise ValueError(f"region ids must lie in -1..{self.r_max - 1}, got {lo}..{hi}")
        return lo < 0

    # ------------------------------------------------------------------ results
    @property
    def present(self) -> np.ndarray:
        """(N, R_max) bool: regions with at least one scored pixel."""
        return self.counts.sum(axis=2) > 0

    def class_prior(self) -> np.ndarray:
        """pbar (C+1,): mean softmax at tau over every scored pixel."""
        return self.q_sum / max(self.num_pixels, 1)

    def majority(self) -> np.ndarray:
        """(N, R_max) majority top-1 channel per region (ties -> lowest channel)."""
        return self.counts.argmax(axis=2)

    def finalize(self) -> np.ndarray:
        """(N, R_max) float32 scores; -inf for absent regions, 0 for banned ones."""
        present = self.present
        if self.method == "random":
            return random_scores(present, self.seed)
        area = np.maximum(self.counts.sum(axis=2), 1).astype(np.float64)
        majority = self.majority()
        if self.method == "pixbal":
            nu = (1.0 + self.kappa * self.class_prior()) ** -2
            scores = (self.u_sums @ nu) / area
        else:
            scores = self.u_sums[..., 0] / area
        if self.method == "classbal":
            pi = np.bincount(majority[present], minlength=self.num_channels)
            pi = pi / max(int(present.sum()), 1)
            scores = np.exp(-pi[majority]) * min_max(scores, present)
        if self.ban_undefined:
            scores[majority == self.num_channels - 1] = 0.0
        scores = scores.astype(np.float32)
        scores[~present] = -np.inf
        return scores


def min_max(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(values - min) / (max - min) over values[mask]; all 0 when they are equal."""
    if not mask.any():
        return values
    low, high = values[mask].min(), values[mask].max()
    return (values - low) / (high - low) if high > low else np.zeros_like(values)


def score_pool(method: str, logits, region_map, num_regions: int, tau: float = TAU,
               kappa: float = KAPPA, ban_undefined: bool = BAN_UNDEFINED,
               seed: int | Sequence[int] = 0, has_undefined: bool = True) -> np.ndarray:
    """In-memory scores: logits (N, K, H, W) with K = C+1 (C without an undefined class),
    region_map (N, H, W) -> (N, num_regions).

    float32, -inf for region ids absent from an image. Same numbers as streaming the images
    through `PoolScorer` in any batching (up to float rounding of the class prior).
    """
    logits = torch.as_tensor(logits)
    region_map = torch.as_tensor(region_map)
    scorer = PoolScorer(method, logits.shape[0], num_regions, logits.shape[1], tau=tau,
                        kappa=kappa, ban_undefined=ban_undefined, seed=seed,
                        has_undefined=has_undefined)
    scorer.update(np.arange(logits.shape[0]), logits, region_map)
    return scorer.finalize()
