"""Confusion-matrix mIoU against brute force; learning-curve CSV rules."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from fakes import ArrayDataset

from actseg.curves import read_curve, write_curve
from actseg.evaluate import (EvalResult, confusion_matrix, evaluate_model, iou_from_confusion,
                             mean_iou, result_row)


def brute_force_miou(logits: np.ndarray, target: np.ndarray, num_classes: int):
    """Pixel loops: argmax over the real channels, void ignored, per-class IoU, nanmean."""
    tp = [0] * num_classes
    fp = [0] * num_classes
    fn = [0] * num_classes
    b, _, h, w = logits.shape
    for i in range(b):
        for y in range(h):
            for x in range(w):
                gt = int(target[i, y, x])
                if gt < 0 or gt >= num_classes:
                    continue
                scores = list(logits[i, :num_classes, y, x])
                pred = scores.index(max(scores))
                if pred == gt:
                    tp[gt] += 1
                else:
                    fp[pred] += 1
                    fn[gt] += 1
    iou = []
    for c in range(num_classes):
        union = tp[c] + fp[c] + fn[c]
        iou.append(tp[c] / union if union else math.nan)
    valid = [v for v in iou if not math.isnan(v)]
    return iou, (sum(valid) / len(valid) if valid else math.nan)


@pytest.mark.parametrize("seed", range(5))
def test_miou_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    num_classes = 6
    logits = rng.normal(size=(3, num_classes + 1, 9, 11)).astype(np.float32)
    logits[:, num_classes] += 3.0  # the undefined channel often wins overall: must be dropped
    target = rng.integers(0, num_classes, size=(3, 9, 11))
    target[rng.random(target.shape) < 0.2] = 255
    target[target == 4] = 255  # class 4 absent from ground truth ...
    logits[:, 4] = -10.0  # ... and never predicted: empty union -> NaN
    conf = torch.zeros(num_classes, num_classes, dtype=torch.int64)
    for i in range(3):  # accumulated image by image, as evaluate_model does
        conf += confusion_matrix(torch.from_numpy(logits[i:i + 1]),
                                 torch.from_numpy(target[i:i + 1]), num_classes)
    iou = iou_from_confusion(conf)
    expected_iou, expected_miou = brute_force_miou(logits, target, num_classes)
    assert math.isnan(iou[4]) and math.isnan(expected_iou[4])
    np.testing.assert_allclose(iou, expected_iou, equal_nan=True)
    assert mean_iou(iou) == pytest.approx(expected_miou)
    assert int(conf.sum()) == int(((target >= 0) & (target < num_classes)).sum())


def test_confusion_rows_are_ground_truth():
    pred = torch.tensor([[[0, 1, 1]]])
    target = torch.tensor([[[0, 0, 1]]])
    conf = confusion_matrix(pred, target, 2)
    assert conf.tolist() == [[1, 1], [0, 1]]
    assert iou_from_confusion(conf).tolist() == [0.5, 0.5]


def test_all_nan_mean():
    assert math.isnan(mean_iou(np.array([math.nan, math.nan])))


class _ConstantModel(torch.nn.Module):
    """Predicts class (x // 3) % C at every pixel; the undefined channel always scores highest."""

    def __init__(self, num_classes):
        super().__init__()
        self.num_classes = num_classes
        self.dummy = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x, return_features=False):
        b, _, h, w = x.shape
        cls = (torch.arange(w) // 3) % self.num_classes
        logits = torch.nn.functional.one_hot(cls, self.num_classes + 1).float()
        logits = logits.T[:, None, :].expand(self.num_classes + 1, h, w).clone()
        logits[self.num_classes] = 2.0
        return logits.expand(b, -1, -1, -1) + 0 * self.dummy


def test_evaluate_model_mixed_sizes_matches_brute_force():
    rng = np.random.default_rng(3)
    num_classes = 4
    shapes = [(6, 9), (6, 9), (5, 12), (6, 9)]
    images = [rng.integers(0, 256, size=s + (3,), dtype=np.uint8) for s in shapes]
    labels = [rng.choice([0, 1, 2, 3, 255], size=s).astype(np.uint8) for s in shapes]
    ds = ArrayDataset(images, labels, num_classes)
    model = _ConstantModel(num_classes)
    result = evaluate_model(model, ds, batch_size=2, device="cpu", progress=False)
    tp = np.zeros(num_classes)
    fp = np.zeros(num_classes)
    fn = np.zeros(num_classes)
    for lab in labels:
        for y in range(lab.shape[0]):
            for x in range(lab.shape[1]):
                gt, pred = int(lab[y, x]), (x // 3) % num_classes
                if gt == 255:
                    continue
                if gt == pred:
                    tp[gt] += 1
                else:
                    fp[pred] += 1
                    fn[gt] += 1
    np.testing.assert_allclose(result.iou, tp / (tp + fp + fn))
    assert result.miou == pytest.approx(float(np.mean(tp / (tp + fp + fn))))


def _result(values):
    iou = np.array(values, dtype=float)
    return EvalResult(confusion=np.zeros((len(values),) * 2, dtype=np.int64), iou=iou,
                      miou=mean_iou(iou))


def test_curve_csv_merges_sorts_and_rejects_duplicates(tmp_path):
    names = ["road", "car"]
    stage1_round2 = write_curve(tmp_path / "s1r2.csv",
                                [result_row(_result([0.5, 0.25]), names, 2, 1, 300, 40)], names)
    previous = write_curve(tmp_path / "miou1.csv",
                           [result_row(_result([0.1, math.nan]), names, 1, 2, 100, 20),
                            result_row(_result([0.2, 0.3]), names, 1, 1, 100, 20)], names)
    assert previous["stage"].tolist() == [1, 2]
    frame = write_curve(tmp_path / "miou2.csv",
                        [result_row(_result([0.6, 0.4]), names, 2, 2, 300, 40)], names,
                        previous=[read_curve(tmp_path / "miou1.csv", names),
                                  read_curve(tmp_path / "s1r2.csv", names)])
    back = pd.read_csv(tmp_path / "miou2.csv")
    assert list(back.columns) == ["round", "stage", "clicks", "regions", "miou", "road", "car"]
    assert back[["round", "stage"]].values.tolist() == [[1, 1], [1, 2], [2, 1], [2, 2]]
    assert back["clicks"].tolist() == [100, 100, 300, 300]
    assert math.isnan(back.loc[1, "car"]) and back.loc[1, "miou"] == pytest.approx(0.1)
    assert back.loc[3, "miou"] == pytest.approx(0.5)
    assert len(frame) == 4
    with pytest.raises(ValueError, match="duplicate"):
        write_curve(tmp_path / "bad.csv", [result_row(_result([0.6, 0.4]), names, 1, 1, 1, 1)],
                    names, previous=[read_curve(tmp_path / "miou1.csv", names)])
    with pytest.raises(ValueError, match="columns"):
        read_curve(tmp_path / "miou1.csv", ["road", "bus"])


def test_absent_class_reference_scores_one():
    # rows = ground truth: class 2 never occurs in it but is predicted once; class 1 is
    # neither in ground truth nor predicted.
    conf = np.array([[3, 0, 1], [0, 0, 0], [0, 0, 0]])
    default = iou_from_confusion(conf)
    assert default[0] == 0.75 and np.isnan(default[1]) and default[2] == 0.0
    assert iou_from_confusion(conf, "reference").tolist() == [0.75, 1.0, 1.0]
    with pytest.raises(ValueError, match="absent"):
        iou_from_confusion(conf, "zero")
