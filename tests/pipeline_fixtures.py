"""Reusable builders of tiny pipeline inputs for tests (any engineer may use them).

    from pipeline_fixtures import build_round1
    fx = build_round1(tmp_path)            # tiny synthetic city + regions + oracle + labels
    fx.root, fx.regions, fx.oracle, fx.labels, fx.pseudo

Everything goes through the package's own CLIs/writers (`actseg synth`, `regions`, `oracle`,
`stores.write_labels`, `stores.PseudoWriter`), so the fixtures exercise the real formats.
Sizes default to 6 train / 3 val images of 32×64 with an 8-px grid: a few seconds in all.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from actseg.cli import main as actseg_main


@dataclass
class Round1:
    root: Path  # dataset root (Cityscapes layout)
    regions: Path  # regions.h5
    oracle: Path  # oracle.h5
    labels: Path  # round1/labels.h5
    pseudo: Path  # round1/pseudo.h5 (ground truth inside labelled regions, 255 elsewhere)
    dataset_kind: str = "synthetic"


def _cli(*argv: str) -> None:
    code = actseg_main([str(a) for a in argv])
    if code:
        raise RuntimeError(f"actseg {' '.join(map(str, argv))} exited with {code}")


def make_city(root: Path, n_train: int = 6, n_val: int = 3, height: int = 32,
              width: int = 64, seed: int = 0) -> Path:
    """A tiny synthetic city via `actseg synth`."""
    _cli("synth", "--out", root, "--seed", seed, "--n-train", n_train, "--n-val", n_val,
         "--height", height, "--width", width)
    return Path(root)


def make_regions_and_oracle(root: Path, folder: Path, method: str = "grid", size: int = 8,
                            kind: str = "synthetic") -> tuple[Path, Path]:
    regions, oracle = Path(folder) / "regions.h5", Path(folder) / "oracle.h5"
    _cli("regions", "--dataset", kind, "--root", root, "--split", "train", "--method", method,
         "--size", size, "--out", regions)
    _cli("oracle", "--dataset", kind, "--root", root, "--split", "train", "--regions", regions,
         "--trim-width", 3, "--out", oracle)
    return regions, oracle


def make_labels(regions: Path, oracle: Path, out: Path, fraction: float = 0.3,
                labelling: str = "multiclass", seed: int = 0):
    """Round-1 labels.h5 marking a random `fraction` of the present regions as labelled."""
    from actseg.stores import LabelState, read_oracle, write_labels

    table = read_oracle(oracle)
    present = table.area > 0
    rng = np.random.default_rng(seed)
    chosen = present & (rng.random(present.shape) < fraction)
    chosen[0, np.flatnonzero(present[0])[0]] = True  # never empty
    cost = table.cost(labelling)
    state = LabelState(
        labelled_round=chosen.astype(np.int8), scores=np.full(present.shape, -np.inf, np.float32),
        round=1, labelling=labelling, acquisition="random",
        clicks_per_round=[int(cost[chosen].sum())], regions_per_round=[int(chosen.sum())])
    write_labels(out, state)
    return state


def make_pseudo(root: Path, regions: Path, labels: Path, out: Path,
                kind: str = "synthetic") -> Path:
    """A pseudo.h5 with the ground truth inside labelled regions (255 elsewhere)."""
    from actseg.datasets import open_dataset
    from actseg.stores import PseudoWriter, RegionsStore, read_labels

    dataset = open_dataset(kind, root, "train")
    store = RegionsStore(regions)
    labelled = read_labels(labels).labelled
    images = np.flatnonzero(labelled.any(axis=1))
    sizes = np.array([dataset.image_size(int(i)) for i in images])
    with PseudoWriter(out, images, sizes[:, 0], sizes[:, 1], {"method": "ground_truth"}) as w:
        for slot, index in enumerate(images):
            region_map = store.region_map(int(index))
            gt = dataset.load_label(int(index))
            w.add(slot, np.where(labelled[index][region_map], gt, 255).astype(np.uint8))
    return Path(out)


def build_round1(folder: Path, n_train: int = 6, n_val: int = 3, height: int = 32,
                 width: int = 64, region_size: int = 8, fraction: float = 0.3,
                 labelling: str = "multiclass", seed: int = 0) -> Round1:
    """City + regions + oracle + round-1 labels + a ground-truth pseudo store under `folder`."""
    folder = Path(folder)
    root = make_city(folder / "city", n_train, n_val, height, width, seed)
    regions, oracle = make_regions_and_oracle(root, folder, "grid", region_size)
    labels = folder / "round1" / "labels.h5"
    make_labels(regions, oracle, labels, fraction, labelling, seed)
    pseudo = make_pseudo(root, regions, labels, folder / "round1" / "pseudo.h5")
    return Round1(root, regions, oracle, labels, pseudo)
