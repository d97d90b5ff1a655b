"""Colour-only baseline: how far a per-pixel classifier on RGB alone gets on a dataset.

Keeps the synthetic city honest: it must be a task that needs texture and context, so the
network's fully supervised bound has to stay far above what colour alone explains. Fits a
multinomial logistic regression on the RGB values of sampled training pixels (`linear`), and
on their degree-3 polynomial features (`poly3`, a stronger colour model), then reports the
validation mIoU of each with the project's confusion-matrix metric.

    python benchmarks/colour_baseline.py --root results/data/synthetic
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np
import torch

from actseg import IGNORE_INDEX
from actseg.datasets import open_dataset
from actseg.evaluate import confusion_matrix, iou_from_confusion, mean_iou


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="synthetic")
    p.add_argument("--root", required=True)
    p.add_argument("--pixels-per-image", type=int, default=2000)
    p.add_argument("--steps", type=int, default=300, help="L-BFGS iterations")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args()


def features(rgb: np.ndarray, degree: int) -> torch.Tensor:
    """(P, 3) uint8 colours -> (P, F) monomials of the centred colours up to `degree`."""
    x = torch.from_numpy(rgb.astype(np.float32) / 255.0 - 0.5)
    columns = [torch.ones(len(x))]
    for d in range(1, degree + 1):
        for combo in itertools.combinations_with_replacement(range(3), d):
            columns.append(torch.prod(x[:, list(combo)], dim=1))
    return torch.stack(columns, dim=1)


def sample_pixels(dataset, per_image: int, rng) -> tuple[np.ndarray, np.ndarray]:
    colours, labels = [], []
    for index in range(len(dataset)):
        image, label = dataset.load_image(index), dataset.load_label(index)
        valid = np.flatnonzero(label.ravel() != IGNORE_INDEX)
        pick = rng.choice(valid, size=min(per_image, len(valid)), replace=False)
        colours.append(image.reshape(-1, 3)[pick])
        labels.append(label.ravel()[pick])
    return np.concatenate(colours), np.concatenate(labels).astype(np.int64)


def fit(x: torch.Tensor, y: torch.Tensor, num_classes: int, steps: int) -> torch.Tensor:
    weight = torch.zeros(x.shape[1], num_classes, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight], max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(x @ weight, y) + 1e-4 * weight.square().sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return weight.detach()


def evaluate(dataset, weight: torch.Tensor, degree: int) -> np.ndarray:
    confusion = torch.zeros(dataset.num_classes, dataset.num_classes, dtype=torch.int64)
    for index in range(len(dataset)):
        image, label = dataset.load_image(index), dataset.load_label(index)
        pred = (features(image.reshape(-1, 3), degree) @ weight).argmax(dim=1)
        confusion += confusion_matrix(pred.view(1, *label.shape),
                                      torch.from_numpy(label.astype(np.int64))[None],
                                      dataset.num_classes)
    return iou_from_confusion(confusion)


def main() -> None:
    args = parse_args()
    torch.manual_seed(args.seed)
    train = open_dataset(args.dataset, args.root, "train")
    val = open_dataset(args.dataset, args.root, "val")
    colours, labels = sample_pixels(train, args.pixels_per_image,
                                    np.random.default_rng(args.seed))
    for name, degree in (("linear", 1), ("poly3", 3)):
        weight = fit(features(colours, degree), torch.from_numpy(labels), train.num_classes,
                     args.steps)
        iou = evaluate(val, weight, degree)
        zero = [n for n, v in zip(train.class_names, iou) if v == 0]
        print(f"{name}: val mIoU {100 * mean_iou(iou):.1f} % "
              f"({len(zero)} classes at 0: {', '.join(zero)})")


if __name__ == "__main__":
    main()
