"""Generation time of the synthetic city and its class pixel frequencies (train split).

    python benchmarks/synthetic.py [--n-train 300 --n-val 100 --height 128 --width 256
                                    --workers 2 --seed 0] [--root DIR]

Generates into a temporary folder (or reads an existing `--root` without generating), prints
seconds and images per second, then the class table: share of all pixels, share of labelled
(non-void) pixels and share of images in which each of the 19 classes occurs, and finally a
colour-only baseline (a 16^3-bin RGB histogram Bayes classifier fit on train, scored on val):
how far colour alone gets, i.e. how much a network must rely on texture and context.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from actseg.datasets import class_frequencies, open_dataset
from actseg.datasets.common import format_frequency_table
from actseg.synth import generate, synthesize


def cpu_seconds_per_image(args: argparse.Namespace, count: int = 20) -> float:
    """CPU time to synthesize one image in this process (no PNG writing, load-independent)."""
    start = time.process_time()
    for i in range(count):
        synthesize(args.seed, "train", i, args.height, args.width)
    return (time.process_time() - start) / count


def colour_only_baseline(train, val, bins: int = 16) -> tuple[float, float]:
    """(pixel accuracy, mIoU) on `val` of the most frequent class per quantised RGB colour."""
    weights = np.array([bins * bins, bins, 1])

    def colours(ds, i):
        return ((ds.load_image(i) // (256 // bins)).astype(np.int64) @ weights).ravel()

    counts = np.zeros((bins**3, train.num_classes + 1), np.int64)
    for i in range(len(train)):
        label = train.load_label(i).ravel().astype(np.int64)
        np.add.at(counts, (colours(train, i), np.minimum(label, train.num_classes)), 1)
    predict = counts[:, : train.num_classes].argmax(1)
    confusion = np.zeros((train.num_classes,) * 2, np.int64)
    for i in range(len(val)):
        label = val.load_label(i).ravel()
        keep = label < val.num_classes
        np.add.at(confusion, (label[keep], predict[colours(val, i)[keep]]), 1)
    union = confusion.sum(0) + confusion.sum(1) - np.diag(confusion)
    iou = np.diag(confusion)[union > 0] / union[union > 0]
    return np.diag(confusion).sum() / confusion.sum(), iou.mean()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=300)
    parser.add_argument("--n-val", type=int, default=100)
    parser.add_argument("--height", type=int, default=128)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--root", help="existing synthetic tree: only count frequencies")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.root) if args.root else Path(tmp) / "city"
        if not args.root:
            start = time.perf_counter()
            generate(root, seed=args.seed, n_train=args.n_train, n_val=args.n_val,
                     height=args.height, width=args.width, workers=args.workers)
            seconds = time.perf_counter() - start
            total = args.n_train + args.n_val
            print(f"generated {total} images of {args.height}x{args.width} with "
                  f"{args.workers} workers in {seconds:.2f} s ({total / seconds:.1f} images/s)")
            print(f"synthesis alone: {1000 * cpu_seconds_per_image(args):.1f} ms CPU per image")
        dataset = open_dataset("synthetic", root, "train")
        pixels, images = class_frequencies(dataset, workers=args.workers)
        print(f"train split: {len(dataset)} images")
        print(format_frequency_table(dataset.class_names, pixels, images, len(dataset)))
        accuracy, miou = colour_only_baseline(dataset, open_dataset("synthetic", root, "val"))
        print(f"colour-only baseline on val: pixel accuracy {accuracy:.3f}, mIoU {miou:.3f}")


if __name__ == "__main__":
    main()
