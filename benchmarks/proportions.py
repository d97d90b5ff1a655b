"""How the oracle behaves at each region size: the proportions table of the README.

For every region set given (a regions.h5 and its oracle.h5 over the same train split) it
prints one markdown row: regions per image, mean region area, share of region area in the
trimmed core, share of regions the band swallows whole (they fall back to all their pixels),
share of regions with 1 / 2 / 3+ classes in their multi-class label (the undefined class
counts, as its click does), and the Dom label noise (share of a region's pixels that are not
its dominant class, over all regions, area-weighted).

    python benchmarks/proportions.py --dataset synthetic --root results/data/synthetic \
        --set sp4=results/regions/synthetic-slic4 --set sp8=results/regions/synthetic-slic8
"""

from __future__ import annotations

import argparse

import numpy as np

from actseg.datasets import open_dataset
from actseg.oracle import _class_index, _histograms
from actseg.stores import RegionsStore, read_oracle


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="synthetic")
    p.add_argument("--root", required=True)
    p.add_argument("--set", action="append", required=True, metavar="NAME=FOLDER",
                   help="a region set folder holding regions.h5 and oracle.h5")
    p.add_argument("--images", type=int, default=None,
                   help="only the first N train images (a city generated with more images "
                        "holds the smaller one's images first)")
    return p.parse_args()


def dominant_pixels(dataset, store: RegionsStore, r_max: int, count: int) -> np.ndarray:
    """(count, R_max) pixel count of each region's most frequent label (void counts as one)."""
    channels = dataset.num_classes + 1
    out = np.zeros((count, r_max), np.int64)
    for index in range(count):  # the oracle's own (region, class) histogram
        classes = _class_index(dataset.load_label(index), dataset.num_classes).ravel()
        regions = store.region_map(index).astype(np.int64).ravel()
        out[index] = _histograms(regions, classes, r_max, channels).max(axis=1)
    return out


def row(name: str, dataset, folder: str, images: int | None) -> str:
    store = RegionsStore(f"{folder}/regions.h5")
    table = read_oracle(f"{folder}/oracle.h5")
    count = images or len(dataset)
    present = table.area[:count] > 0
    area, core = table.area[:count][present], table.trimmed_area[:count][present]
    classes = table.cost("multiclass")[:count][present]
    dominant = dominant_pixels(dataset, store, table.area.shape[1], count)[present]
    cells = [name, f"{present.sum(axis=1).mean():.0f}", f"{area.mean():.1f}",
             f"{100 * core.sum() / area.sum():.1f} %", f"{100 * (core == 0).mean():.1f} %",
             *(f"{100 * share:.1f} %" for share in
               ((classes == 1).mean(), (classes == 2).mean(), (classes >= 3).mean())),
             f"{100 * (1 - dominant.sum() / area.sum()):.1f} %"]
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    args = parse_args()
    dataset = open_dataset(args.dataset, args.root, "train")
    print("| size | regions / image | mean area (px) | area in trimmed core | fall back "
          "| 1 class | 2 classes | 3+ classes | Dom label noise |")
    print("|---|---|---|---|---|---|---|---|---|")
    for spec in args.set:
        name, folder = spec.split("=", 1)
        print(row(name, dataset, folder, args.images))


if __name__ == "__main__":
    main()
