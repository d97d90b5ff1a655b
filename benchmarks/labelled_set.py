"""What each variant of a study labelled: the measured reasons behind the claims table.

For every variant of a study (config.yaml's `studies`), mean over its seeds at the rounds
asked, from the runs' labels.h5 and their region set's oracle.h5 (the files the study built;
run it after the study):
- `labelled area`: share of the pool's region pixels that lie in labelled regions;
- `multi-class regions`: share of the labelled regions whose multi-class answer has 2+ classes;
- `pixels in multi-class`: share of the labelled pixels that lie in such regions (the pixels
  L_MP and L_PP see; L_CE sees the rest);
- `classes`: real classes present in at least one labelled region (of C);
- `rare-class pixels`: share of the labelled pixels whose class is one of the `--rare` classes
  least frequent in the whole pool (from the oracle's histograms; void excluded);
- `off dominant`: share of the labelled pixels whose label (void counts as one) is not their
  region's most frequent: what a Dom label gets wrong or leaves out.

    python benchmarks/labelled_set.py hyperparams --rounds 1 3 5
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))

from actseg.experiments import paths  # noqa: E402
from actseg.experiments.validation import load_config, validate_config  # noqa: E402
from actseg.stores import read_labels, read_oracle  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("study")
    p.add_argument("--config", default="config.yaml")
    p.add_argument("--rounds", type=int, nargs="+", default=[1, 3, 5])
    p.add_argument("--rare", type=int, default=5, help="how many least frequent classes")
    return p.parse_args(argv)


def region_class_pixels(table) -> np.ndarray:
    """(N, R_max, C+1) pixels of each class (void = C) in each region, from the sparse
    histograms: each (region, class) pair occurs once, so one vectorised assignment."""
    n, r_max = table.area.shape
    out = np.zeros((n * r_max, table.num_classes + 1), np.int64)
    owner = np.repeat(np.arange(n * r_max), table.hist_sizes.ravel().astype(np.int64))
    out[owner, table.hist_classes.astype(np.int64)] = table.hist_counts
    return out.reshape(n, r_max, -1)


def labelled_stats(labelled: np.ndarray, table, pixels: np.ndarray, rare: np.ndarray) -> dict:
    """The shares of one labelled set (bool (N, R_max))."""
    multi = table.cost("multiclass") >= 2
    area = table.area.astype(np.int64)
    counts = pixels[labelled]  # (regions, C+1)
    real = counts[:, :-1]
    return {
        "labelled area": area[labelled].sum() / area.sum(),
        "multi-class regions": multi[labelled].mean(),
        "pixels in multi-class": area[labelled & multi].sum() / area[labelled].sum(),
        "classes": int((real.sum(axis=0) > 0).sum()),
        "rare-class pixels": real[:, rare].sum() / max(real.sum(), 1),
        "off dominant": 1 - counts.max(axis=1).sum() / max(counts.sum(), 1),
    }


def main(argv=None) -> None:
    args = parse_args(argv)
    experiments = validate_config(load_config(args.config))
    spec = experiments.study(args.study, args.config)
    tables = {}
    print(f"| variant | round | labelled area | multi-class regions | pixels in multi-class | "
          f"classes | rare-class pixels ({args.rare} rarest) | off dominant |")
    print("|---|---|---|---|---|---|---|---|")
    for variant in spec["variants"]:
        for round_ in args.rounds:
            rows = []
            for seed in spec["seeds"]:
                cfg = experiments.config(paths.study_prefix(args.study, variant, seed))
                oracle = paths.regions_path(cfg, "oracle")
                if oracle not in tables:
                    table = read_oracle(oracle)
                    pixels = region_class_pixels(table)
                    pool = pixels[..., :-1].sum(axis=(0, 1))
                    tables[oracle] = (table, pixels, np.argsort(pool, kind="stable")[:args.rare])
                table, pixels, rare = tables[oracle]
                labels = read_labels(experiments.path(cfg, round_, "labels.h5"))
                rows.append(labelled_stats(labels.labelled, table, pixels, rare))
            mean = {key: np.mean([r[key] for r in rows]) for key in rows[0]}
            print(f"| {variant} | {round_} | {100 * mean['labelled area']:.2f} % | "
                  f"{100 * mean['multi-class regions']:.1f} % | "
                  f"{100 * mean['pixels in multi-class']:.1f} % | {mean['classes']:.1f} | "
                  f"{100 * mean['rare-class pixels']:.2f} % | {100 * mean['off dominant']:.2f} % |")


if __name__ == "__main__":
    main()
