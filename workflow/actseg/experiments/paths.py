"""The path registry: where each experiment's files live (README.md, "Outputs").

    results/{exp}round{t}/...        round files; {exp} is "" for the default experiment's
                                     jobs, "runs/{rule}-{hash}/" for every other distinct job
                                     (actseg.experiments.branches)
    results/regions/{dataset}-{method}{size}/{regions,oracle}.h5   shared by experiments
    results/logs/..., results/benchmarks/...   mirror the output paths

A dataset is named by the folder name of its root, a region set by dataset, method and size;
two experiments sharing a name must agree on what it holds (`Experiments.registry`)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from actseg.datasets.synthetic import MANIFEST

DATASET_LAYOUT = {
    "cityscapes": ("leftImg8bit/train", "leftImg8bit/val", "gtFine/train", "gtFine/val"),
    "voc": ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"),
}
ROUND_FILES = ("labels.h5", "stage1.pt", "stage1_log.csv", "stage1_miou.csv", "pseudo.h5",
               "pseudo_quality.csv", "stage2.pt", "stage2_log.csv", "miou.csv", "miou.png")


REPOSITORY = Path(__file__).resolve().parents[3]  # the checkout holding workflow/weights/
PRETEXT_WEIGHTS = re.compile(r"workflow/weights/(?P<backbone>[a-z0-9]+)-pretext\.pt")


def pretrained_path(value: str | None) -> str | None:
    """model.pretrained as a job reads it: a relative path that does not exist in the
    working directory but ships with the checkout (workflow/weights/...) is the checkout's
    file, so the default weights are found from any working directory."""
    if value is None or Path(value).is_absolute() or Path(value).exists():
        return value
    shipped = REPOSITORY / value
    return str(shipped) if shipped.exists() else value


def buildable_weights(value: str) -> bool:
    """Whether the rule `pretrain` builds `value` (workflow/weights/{backbone}-pretext.pt)."""
    from actseg.model import BACKBONES

    match = PRETEXT_WEIGHTS.fullmatch(os.path.normpath(value))
    return match is not None and match["backbone"] in BACKBONES


def dataset_root(cfg: dict) -> str:
    return os.path.normpath(cfg["dataset"]["root"])


SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")  # also the regionset wildcard's


def dataset_name(cfg: dict) -> str:
    """The dataset's name in shared paths (regions, logs, benchmarks): the folder name of
    its root, with every character outside [A-Za-z0-9._+-] replaced by "_", so that no
    path built from it needs quoting (`my;rm x;city` -> `my_rm_x_city`). Two roots with one
    name must hold the same dataset (`Experiments.registry` checks this)."""
    name = re.sub(r"[^A-Za-z0-9._+-]", "_", Path(dataset_root(cfg)).name)
    return name if SAFE_NAME.fullmatch(name) else f"data{name}"


def dataset_identity(cfg: dict) -> dict:
    data = cfg["dataset"]
    synthetic = data["synthetic"] if data["kind"] == "synthetic" else None
    return {"kind": data["kind"], "root": dataset_root(cfg), "synthetic": synthetic}


def dataset_inputs(cfg: dict) -> list[str]:
    """Files that jobs reading the dataset wait for: the manifest of a generated city."""
    if cfg["dataset"]["kind"] == "synthetic":
        return [synthetic_manifest(cfg)]
    return []


def synthetic_manifest(cfg: dict) -> str:
    return f"{dataset_root(cfg)}/{MANIFEST}"  # written last: the generated city is complete


def regionset_name(cfg: dict) -> str:
    return f"{dataset_name(cfg)}-{cfg['regions']['method']}{cfg['regions']['size']}"


def regionset_identity(cfg: dict) -> dict:
    regions = dict(cfg["regions"])
    if regions["method"] != "slic":
        regions.pop("compactness")  # only SLIC reads it
    return {"dataset": dataset_identity(cfg), "regions": regions}


def regions_path(cfg: dict, store: str) -> str:
    """results/regions/{dataset}-{method}{size}/{store}.h5 (store: regions | oracle | pool)."""
    return f"results/regions/{regionset_name(cfg)}/{store}.h5"


def round_path(exp: str, round_: int, name: str) -> str:
    """results/{exp}round{t}/{name}."""
    return f"results/{exp}round{round_}/{name}"


def experiment_targets(exp: str, rounds: int) -> list[str]:
    """Every per-round file of experiment `exp` through round `rounds`.
    Asking for all of them (not only the last miou.csv) makes Snakemake rebuild a deleted
    intermediate file and everything after it: it ignores deleted files that are not
    requested when the files after them exist (snakemake/snakemake#1978)."""
    return [round_path(exp, t, name) for t in range(1, rounds + 1) for name in ROUND_FILES]


def study_prefix(study: str, variant: str, seed: int) -> str:
    """The name of a study variant's experiment (`Experiments.config`; not a folder)."""
    return f"studies/{study}/{variant}/seed{seed}/"
