"""One iteration-based training loop for stage 1, stage 2 and the fully supervised bound.

docs/method.md §4: AdamW with two parameter groups (backbone lr, head lr × head_lr_mult), weight
decay on every parameter, poly schedule `lr = max(base·(1 - it/T)^power, min_lr)` (clipped at the floor, as the
authors' code), an
infinite sampler reshuffled every epoch. bf16 autocast and channels_last on CUDA and on CPUs
with native bf16 (`train.amp`, `train.channels_last`).

Determinism: the model is initialised from `seed`; the sampler's permutation for epoch e and
the augmentation seed of the k-th drawn sample are functions of (seed, e) and (seed, k) only
(see `actseg.trainsets`), so the data stream does not depend on DataLoader workers and a run
resumed at iteration i continues exactly as the uninterrupted run would: the resume file
holds model, optimizer, iteration (which fixes the sampler position) and the RNG states
(`actseg.checkpoint.save_resume`).
"""

from __future__ import annotations

import csv
import logging
import math
import os
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator, Protocol

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler
from tqdm import tqdm

from actseg import IGNORE_INDEX, schema
from actseg.checkpoint import (load_checkpoint, load_resume, resume_path, save_checkpoint,
                               save_resume)
from actseg.errors import ActsegError
from actseg.fileio import atomic_output
from actseg.inference import resolve_device, resolve_switch
from actseg.locks import locked
from actseg.selection import BestCheckpoint

log = logging.getLogger(__name__)


class NonFiniteLossError(ActsegError, RuntimeError):
    """The loss became NaN or infinite; the message names the iteration and the terms."""


# The config key of each TrainSettings field (defaults and run settings: the schema).
SETTING_KEYS = {"iterations": "stage1.iterations", "batch_size": "train.batch_size",
                "lr": "stage1.lr", "seed": "seed", "device": "device",
                **{name: f"train.{name}" for name in (
                    "head_lr_mult", "weight_decay", "poly_power", "min_lr", "num_workers",
                    "checkpoint_every", "log_every", "amp", "channels_last")}}


@dataclass(frozen=True)
class TrainSettings:
    """Optimisation settings shared by both stages (config `train`, `stage1`/`stage2`)."""

    iterations: int
    batch_size: int
    lr: float  # backbone learning rate; the head gets lr * head_lr_mult
    head_lr_mult: float = schema.default("train.head_lr_mult")
    weight_decay: float = schema.default("train.weight_decay")
    poly_power: float = schema.default("train.poly_power")
    min_lr: float = schema.default("train.min_lr")
    seed: int = schema.default("seed")
    num_workers: int = schema.default("train.num_workers")
    checkpoint_every: int = schema.default("train.checkpoint_every")
    log_every: int = schema.default("train.log_every")
    device: str = schema.default("device")
    amp: str = schema.default("train.amp")
    channels_last: str = schema.default("train.channels_last")

    def run_key(self) -> dict:
        """Settings that change the numbers (not the schema's run settings); a resume file
        from other settings is stale."""
        return {k: v for k, v in asdict(self).items()
                if not schema.is_run_setting(SETTING_KEYS[k])}


# ---------------------------------------------------------------------------- objectives


class Objective(Protocol):
    name: str

    def has_labels(self, targets: list[torch.Tensor]) -> bool: ...

    def __call__(self, logits: torch.Tensor, targets: list[torch.Tensor]
                 ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]: ...


class PartialLabelObjective:
    """Stage 1: `Stage1Criterion` on (region_map, region_multihot) targets."""

    def __init__(self, loss: str = schema.default("stage1.loss"),
                 lambda_ce: float = schema.default("stage1.lambda_ce"),
                 lambda_mp: float = schema.default("stage1.lambda_mp"),
                 lambda_pp: float = schema.default("stage1.lambda_pp"),
                 tau: float = schema.default("model.tau")):
        from actseg.losses import Stage1Criterion, has_labels

        self.name = f"stage1-{loss}"
        self.criterion = Stage1Criterion(loss, lambda_ce, lambda_mp, lambda_pp, tau)
        self._has_labels = has_labels

    def has_labels(self, targets):
        return self._has_labels(targets[0], targets[1])

    def __call__(self, logits, targets):
        region_map, region_multihot = targets
        return self.criterion(logits, region_map, region_multihot)


class PixelLabelObjective:
    """Stage 2 and the supervised bound: CE at temperature tau on class maps, ignore 255."""

    def __init__(self, tau: float = schema.default("model.tau")):
        from actseg.losses import stage2_ce

        self.name = "pixel-ce"
        self.tau = tau
        self.loss = stage2_ce

    def has_labels(self, targets):
        return bool((targets[0] != IGNORE_INDEX).any())

    def __call__(self, logits, targets):
        ce = self.loss(logits, targets[0], tau=self.tau)
        return ce, {"ce": ce}


# ------------------------------------------------------------------------------ sampling


def derive_seed(*words: int) -> int:
    """A 63-bit seed mixed from integers (stable across platforms and Python versions)."""
    state = np.random.SeedSequence([int(w) for w in words]).generate_state(1, np.uint64)[0]
    return int(state) & (2**63 - 1)


_PERMUTATION_STREAM = 1
_AUGMENT_STREAM = 2


class InfiniteBatchSampler(Sampler):
    """Endless batches of `(position, sample_seed)` pairs, reshuffled every epoch.

    Epoch e is `randperm(n)` under seed (seed, e); the k-th sample drawn (k counts from 0
    over the whole run) gets augmentation seed (seed, k). `start_batch` skips that many
    batches without drawing them, which is how a resumed run picks up its data stream.
    """

    def __init__(self, num_examples: int, batch_size: int, seed: int, start_batch: int = 0):
        if num_examples < 1:
            raise ValueError("the training set is empty")
        self.n = num_examples
        self.batch_size = batch_size
        self.seed = seed
        self.start_batch = start_batch

    def permutation(self, epoch: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(
            derive_seed(self.seed, _PERMUTATION_STREAM, epoch))
        return torch.randperm(self.n, generator=generator)

    def samples(self, start: int = 0) -> Iterator[tuple[int, int]]:
        epoch, offset = divmod(start, self.n)
        k = start
        while True:
            for position in self.permutation(epoch)[offset:].tolist():
                yield position, derive_seed(self.seed, _AUGMENT_STREAM, k)
                k += 1
            epoch, offset = epoch + 1, 0

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        stream = self.samples(self.start_batch * self.batch_size)
        while True:
            yield [next(stream) for _ in range(self.batch_size)]


def _worker_init(worker_id: int) -> None:
    """Workers: one torch thread each, numpy/random seeded from torch's per-worker seed."""
    torch.set_num_threads(1)
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


# ---------------------------------------------------------------------- schedule, optim


def poly_lr(base_lr: float, iteration: int, iterations: int, power: float,
            min_lr: float) -> float:
    """Poly decay of base_lr, clipped at the floor: max(base·(1 - it/T)^power, min_lr)
    (the authors' PolyLR; docs/method.md §4)."""
    return max(base_lr * (1.0 - iteration / iterations) ** power, min_lr)


def build_optimizer(model: torch.nn.Module, settings: TrainSettings) -> torch.optim.AdamW:
    """AdamW, backbone lr and head lr × mult, weight decay on every parameter."""
    groups = model.param_groups()
    head_lr = settings.lr * settings.head_lr_mult
    return torch.optim.AdamW(
        [{"params": groups["backbone"], "lr": settings.lr, "base_lr": settings.lr},
         {"params": groups["head"], "lr": head_lr, "base_lr": head_lr}],
        weight_decay=settings.weight_decay,
    )


def set_lr(optimizer: torch.optim.Optimizer, iteration: int, settings: TrainSettings) -> float:
    """Apply the poly schedule for `iteration`; returns the backbone lr."""
    for group in optimizer.param_groups:
        group["lr"] = poly_lr(group["base_lr"], iteration, settings.iterations,
                              settings.poly_power, settings.min_lr)
    return optimizer.param_groups[0]["lr"]


def copy_classifier(model: torch.nn.Module, checkpoint_path: str | os.PathLike) -> None:
    """keep_classifier: load only the cosine classifier weights of an earlier checkpoint."""
    state = load_checkpoint(checkpoint_path)
    weights = {k[len("classifier."):]: v for k, v in state["model"].items()
               if k.startswith("classifier.")}
    own = model.classifier.state_dict()
    if set(weights) != set(own) or any(weights[k].shape != own[k].shape for k in own):
        raise ValueError(f"{checkpoint_path}: classifier weights "
                         f"{ {k: tuple(v.shape) for k, v in weights.items()} } do not match the "
                         f"model's { {k: tuple(v.shape) for k, v in own.items()} }")
    model.classifier.load_state_dict(weights)


# ------------------------------------------------------------------------------- logging


class TrainLog:
    """Training log CSV, written atomically at the end. Columns: iteration, loss terms,
    total, lr, images_per_s, skipped (steps without a labelled pixel in the window). The rows
    so far travel in the resume file (`state()`), so a resumed run keeps them and no two
    processes share a side file."""

    def __init__(self, path: str | os.PathLike, resumed: dict | None = None):
        self.path = Path(path)
        self.columns: list[str] | None = (resumed or {}).get("columns")
        self.rows: list[dict] = list((resumed or {}).get("rows", []))

    def append(self, row: dict) -> None:
        if self.columns is None:
            self.columns = list(row)
        self.rows.append(row)

    def state(self) -> dict:
        return {"columns": self.columns, "rows": self.rows}

    def finish(self) -> None:
        columns = self.columns or ["iteration", "total", "lr", "images_per_s", "skipped"]
        with atomic_output(self.path) as tmp, open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(self.rows)


class _Window:
    """Running means of the loss terms between two log rows."""

    def __init__(self):
        self.sums: dict[str, float] = {}
        self.steps = 0
        self.skipped = 0
        self.images = 0  # every image drawn, skipped steps included
        self.start = time.perf_counter()

    def add(self, terms: dict[str, float], images: int) -> None:
        for k, v in terms.items():
            self.sums[k] = self.sums.get(k, 0.0) + v
        self.steps += 1
        self.images += images

    def skip(self, images: int) -> None:
        self.skipped += 1
        self.images += images

    def row(self, iteration: int, lr: float, term_names: list[str]) -> dict:
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        mean = {k: (self.sums[k] / self.steps if self.steps and k in self.sums else math.nan)
                for k in term_names + ["total"]}
        return {"iteration": iteration, **mean, "lr": lr,
                "images_per_s": self.images / elapsed, "skipped": self.skipped}


# --------------------------------------------------------------------------------- loop


def _load_resume(path: Path, run_key: dict, model, optimizer, device) -> tuple[int, dict]:
    """Load `path` into model/optimizer/RNGs if it was written with the same run key;
    returns the iteration to continue from (0 = start from scratch) and the saved extras
    (`log`, and `best` under checkpoint selection)."""
    if not path.exists():
        return 0, {}
    try:  # peek at the run key without reading the tensors (mmap)
        key = torch.load(path, map_location="cpu", weights_only=True, mmap=True)["extra"]
        key = key.get("run_key")
    except Exception as err:  # noqa: BLE001 - a corrupt resume file is not fatal
        log.warning("%s: unreadable resume file (%s); starting from scratch", path, err)
        return 0, {}
    if key != run_key:
        log.warning("%s: written with other settings or inputs (%s differ); starting from "
                    "scratch", path, ", ".join(_differences(key, run_key)))
        return 0, {}
    iteration, extra = load_resume(path, model, optimizer, map_location=device)
    log.info("resumed from iteration %d (%s)", iteration, path)
    return iteration, extra


def _differences(old, new: dict) -> list[str]:
    """The keys whose values differ between two run keys (an unreadable old key: all)."""
    if not isinstance(old, dict):
        return ["all"]
    return sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k)) or ["none"]


def _to_device(tensor: torch.Tensor, device: torch.device, channels_last: bool = False):
    tensor = tensor.to(device, non_blocking=True)
    if channels_last:
        tensor = tensor.contiguous(memory_format=torch.channels_last)
    return tensor


def train(model: torch.nn.Module, trainset, objective: Objective, settings: TrainSettings,
          out: str | os.PathLike, log_csv: str | os.PathLike, meta: dict,
          run_key: dict | None = None, progress: bool = True,
          validation: tuple[Callable, int] | None = None) -> Path:
    """Train `model` on `trainset` (items `(image, *targets)` keyed by (position, seed)).

    Writes the final checkpoint `out` (actseg.checkpoint.save_checkpoint, with `meta`) and
    the log CSV `log_csv`. Resumes from `<out>.resume.pt` when it exists and was written
    with the same `run_key` (settings + caller's key, which should identify the inputs'
    contents); deletes it on success. Holds `<out>.lock` meanwhile (actseg.locks): a second
    live process training the same output is refused.

    `validation` = (score(model) -> float, every): checkpoint selection (actseg.selection);
    the checkpoint written is then the best-scoring one. None (train.checkpoint final)
    validates nothing.
    """
    device = resolve_device(settings.device)
    key = {**settings.run_key(), "objective": objective.name, "examples": len(trainset),
           **(run_key or {})}
    with locked(out):  # an orphaned run of the same job must not write beside this one
        return _train_locked(model, trainset, objective, settings, out, log_csv, meta, key,
                             device, progress, validation)


def _train_locked(model, trainset, objective, settings, out, log_csv, meta, key, device,
                  progress, validation) -> Path:
    use_amp = resolve_switch(settings.amp, device, cpu_auto=True)
    use_cl = resolve_switch(settings.channels_last, device, cpu_auto=True)
    model.to(device)
    if use_cl:
        model.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(model, settings)

    rpath = resume_path(out)
    start, saved = _load_resume(rpath, key, model, optimizer, device)
    train_log = TrainLog(log_csv, saved.get("log") or {})
    best = None if validation is None else \
        BestCheckpoint(*validation, out, saved.get("best") if start else None)

    sampler = InfiniteBatchSampler(len(trainset), settings.batch_size, settings.seed, start)
    loader = DataLoader(
        trainset, batch_sampler=sampler, num_workers=settings.num_workers,
        worker_init_fn=_worker_init, pin_memory=device.type == "cuda",
        generator=torch.Generator().manual_seed(derive_seed(settings.seed, start)),
    )
    batches = iter(loader)
    model.train()
    term_names: list[str] = []
    window = _Window()
    bar = tqdm(total=settings.iterations, initial=start, desc=f"train {objective.name}",
               unit="it", disable=None if progress else True)
    lr = settings.lr
    for iteration in range(start, settings.iterations):
        image, *targets = next(batches)
        lr = set_lr(optimizer, iteration, settings)
        if objective.has_labels(targets):
            terms = _step(model, optimizer, objective, image, targets, device, use_amp, use_cl,
                          iteration + 1)
            term_names = term_names or [k for k in terms if k != "total"]
            window.add(terms, len(image))
        else:
            window.skip(len(image))
        done = iteration + 1
        checkpoint_now = done % settings.checkpoint_every == 0 and done < settings.iterations
        if done % settings.log_every == 0 or checkpoint_now or done == settings.iterations:
            row = window.row(done, lr, term_names)
            train_log.append(row)
            bar.set_postfix(loss=f"{row['total']:.4g}", refresh=False)
            window = _Window()
        if best is not None and best.due(done, settings.iterations):
            best.observe(model, done)
            model.train()
        if checkpoint_now:
            extra = {"run_key": key, "log": train_log.state()}
            save_resume(rpath, model, optimizer, done,
                        extra if best is None else {**extra, "best": best.state()})
        bar.update(1)
    bar.close()
    del batches  # shuts DataLoader workers down

    model.eval()
    meta = {**meta, "iterations": settings.iterations, "seed": settings.seed}
    if best is not None:
        meta = {**meta, **best.restore(model)}
    save_checkpoint(out, model, meta)
    train_log.finish()
    rpath.unlink(missing_ok=True)
    if best is not None:
        best.cleanup()
    return Path(out)


def _step(model, optimizer, objective, image, targets, device, use_amp, use_cl,
          iteration: int) -> dict[str, float]:
    """One optimisation step; returns the loss terms and `total` as floats."""
    image = _to_device(image, device, use_cl)
    targets = [_to_device(t, device) for t in targets]
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
        logits = model(image)
    total, terms = objective(logits.float(), targets)
    names = list(terms) + ["total"]
    stacked = torch.stack([v.detach().float() for v in terms.values()] + [total.detach().float()])
    values = dict(zip(names, stacked.cpu().tolist()))  # one device sync per step
    if not math.isfinite(values["total"]):
        detail = ", ".join(f"{k}={v:.6g}" for k, v in values.items())
        raise NonFiniteLossError(f"non-finite loss at iteration {iteration}: {detail}")
    optimizer.zero_grad(set_to_none=True)
    total.backward()
    optimizer.step()
    return values
