"""How the oracle behaves at each region size: the proportions table of the README.

For every region set given (the folder of its oracle.h5, over the train split) it
prints one markdown row: regions per image, mean region area, share of region area in the
trimmed core, share of regions the band swallows whole (they fall back to all their pixels),
share of regions with 1 / 2 / 3+ classes in their multi-class label (the undefined class
counts, as its click does), and the Dom label noise (share of a region's pixels that are not
its dominant class, over all regions, area-weighted).

    python benchmarks/proportions.py --set sp4=results/regions/synthetic-slic4 \
        --set sp8=results/regions/synthetic-slic8

Everything comes from the oracle tables: the Dom noise from their stored class histograms.
"""

from __future__ import annotations

import argparse

import numpy as np

from actseg.stores import OracleTable, read_oracle


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--set", action="append", required=True, metavar="NAME=FOLDER",
                   help="a region set folder holding oracle.h5")
    p.add_argument("--images", type=int, default=None,
                   help="only the first N train images (a city generated with more images "
                        "holds the smaller one's images first); default: all")
    return p.parse_args()


def dominant_pixels(table: OracleTable, count: int) -> np.ndarray:
    """(count, R_max) pixel count of each region's most frequent label (void counts as one),
    from the stored histograms (0 where no region)."""
    return table.region_reduce(np.maximum).reshape(table.area.shape)[:count]


def row(name: str, folder: str, images: int | None) -> str:
    table = read_oracle(f"{folder}/oracle.h5")
    if table.hist_sizes is None:
        raise SystemExit(f"{folder}/oracle.h5 has no class histograms (written before "
                         "they were stored, or by people): rebuild it with the workflow")
    count = images or table.area.shape[0]
    present = table.area[:count] > 0
    area, core = table.area[:count][present], table.trimmed_area[:count][present]
    classes = table.cost("multiclass")[:count][present]
    dominant = dominant_pixels(table, count)[present]
    cells = [name, f"{present.sum(axis=1).mean():.0f}", f"{area.mean():.1f}",
             f"{100 * core.sum() / area.sum():.1f} %", f"{100 * (core == 0).mean():.1f} %",
             *(f"{100 * share:.1f} %" for share in
               ((classes == 1).mean(), (classes == 2).mean(), (classes >= 3).mean())),
             f"{100 * (1 - dominant.sum() / area.sum()):.1f} %"]
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    args = parse_args()
    print("| size | regions / image | mean area (px) | area in trimmed core | fall back "
          "| 1 class | 2 classes | 3+ classes | Dom label noise |")
    print("|---|---|---|---|---|---|---|---|---|")
    for spec in args.set:
        name, folder = spec.split("=", 1)
        print(row(name, folder, args.images))


if __name__ == "__main__":
    main()
