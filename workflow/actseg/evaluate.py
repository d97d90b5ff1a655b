"""Confusion-matrix mIoU (docs/method.md §8) and the learning-curve row of a model.

Prediction = argmax over the real channels 0..C-1 (the undefined channel C is dropped);
ground-truth void (255, or anything >= C) is ignored; one C x C confusion matrix is
accumulated over the whole set with `torch.bincount`; IoU_c = TP / (TP + FP + FN), NaN where
the union is empty, and mIoU is the mean over the classes that are not NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch


def confusion_matrix(logits_or_pred: torch.Tensor, target: torch.Tensor,
                     num_classes: int) -> torch.Tensor:
    """(C, C) int64 counts, rows = ground truth, columns = prediction.

    `logits_or_pred`: (B, K, H, W) scores with K >= C (only channels 0..C-1 compete) or
    (B, H, W) integer predictions. `target`: (B, H, W) ints, values outside 0..C-1 ignored.
    """
    if logits_or_pred.dim() == 4:
        pred = logits_or_pred[:, :num_classes].argmax(dim=1)
    else:
        pred = logits_or_pred
    target = target.to(pred.device).long()
    valid = (target >= 0) & (target < num_classes)
    codes = target[valid] * num_classes + pred[valid].long()
    counts = torch.bincount(codes, minlength=num_classes * num_classes)
    return counts.view(num_classes, num_classes)


ABSENT = ("nan", "reference")


def iou_from_confusion(confusion: torch.Tensor | np.ndarray, absent: str = "nan") -> np.ndarray:
    """Per-class IoU (float64). A class with an empty union is NaN (left out of the mean).
    `absent="reference"` scores every class absent from the ground truth 1.0, whatever was
    predicted, as the authors' code (`evaluate.absent`)."""
    if absent not in ABSENT:
        raise ValueError(f"absent must be one of {ABSENT}, got {absent!r}")
    conf = torch.as_tensor(confusion).double().cpu()
    tp = conf.diag()
    union = conf.sum(0) + conf.sum(1) - tp
    iou = torch.where(union > 0, tp / union.clamp(min=1), torch.full_like(tp, math.nan))
    if absent == "reference":
        iou = torch.where(conf.sum(1) == 0, torch.ones_like(iou), iou)
    return iou.numpy()


def mean_iou(iou: np.ndarray) -> float:
    """nanmean of the per-class IoU (NaN if every class is NaN)."""
    valid = ~np.isnan(iou)
    return float(iou[valid].mean()) if valid.any() else math.nan


@dataclass
class EvalResult:
    confusion: np.ndarray  # (C, C) int64, rows = ground truth
    iou: np.ndarray  # (C,) float64, NaN = empty union
    miou: float


def evaluate_model(model: torch.nn.Module, dataset, indices: Sequence[int] | None = None,
                   batch_size: int = 8, device: str | torch.device = "cpu",
                   amp: bool = False, progress: bool = True,
                   setting: str = "evaluate.batch_size",
                   absent: str = "nan") -> EvalResult:
    """mIoU of `model` on `dataset` (full resolution, via `actseg.inference.predict`)."""
    from actseg.inference import predict

    num_classes = dataset.num_classes
    indices = list(range(len(dataset))) if indices is None else list(indices)
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.int64, device=device)
    for batch_indices, logits, _ in predict(model, dataset, indices, batch_size=batch_size,
                                            device=device, amp=amp, progress=progress,
                                            desc="evaluate", setting=setting):
        target = torch.from_numpy(np.stack([dataset.load_label(i) for i in batch_indices]))
        confusion += confusion_matrix(logits, target.to(logits.device), num_classes)
    conf = confusion.cpu().numpy()
    iou = iou_from_confusion(conf, absent)
    return EvalResult(confusion=conf, iou=iou, miou=mean_iou(iou))


# ------------------------------------------------------------------------------ CSV rows


def result_row(result: EvalResult, class_names: Sequence[str], round_: int, stage: int,
               clicks: int | None, regions: int | None) -> dict:
    """One learning-curve row (actseg.curves): round, stage, clicks, regions, miou, one
    column per class."""
    if len(class_names) != len(result.iou):
        raise ValueError(f"{len(class_names)} class names for {len(result.iou)} classes")
    row = {"round": int(round_), "stage": int(stage),
           "clicks": math.nan if clicks is None else int(clicks),
           "regions": math.nan if regions is None else int(regions),
           "miou": result.miou}
    row.update({name: float(v) for name, v in zip(class_names, result.iou)})
    return row


def cumulative_cost(labels_path: str | Path, round_: int) -> tuple[int, int]:
    """Clicks and regions spent in rounds 1..round_ (from labels.h5 attributes)."""
    from actseg.stores import read_labels

    state = read_labels(labels_path)
    if state.round < round_:
        raise ValueError(f"{labels_path}: holds round {state.round}, evaluation asks for "
                         f"round {round_}")
    return (int(sum(state.clicks_per_round[:round_])),
            int(sum(state.regions_per_round[:round_])))
