"""The paper presets (workflow/configs/*-paper.yaml) merged over config.yaml validate and
carry the published settings (issue 12)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
import yaml

from actseg.experiments.validation import validate_config
from fakes import make_fake_cityscapes, make_fake_voc

ROOT = Path(__file__).resolve().parents[1]


def merged(preset: str) -> dict:
    """What `--configfile config.yaml workflow/configs/<preset>` gives Snakemake."""
    def merge(base, over):
        for key, value in over.items():
            if isinstance(value, dict) and isinstance(base.get(key), dict):
                merge(base[key], value)
            else:
                base[key] = copy.deepcopy(value)
        return base

    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    return merge(cfg, yaml.safe_load((ROOT / "workflow/configs" / preset).read_text()))


@pytest.mark.parametrize("preset, make", [("cityscapes-paper.yaml", make_fake_cityscapes),
                                          ("voc-paper.yaml", make_fake_voc)])
def test_preset_validates_on_a_fake_tree(preset, make, tmp_path):
    """With dataset.root and model.pretrained set, as the README asks."""
    cfg = merged(preset)
    make(tmp_path / "data")
    weights = tmp_path / "imagenet.pt"
    torch.save({}, weights)
    cfg["dataset"]["root"], cfg["model"]["pretrained"] = str(tmp_path / "data"), str(weights)
    cfg["studies"] = {}  # the studies are sized for the synthetic city
    validate_config(cfg)


def test_cityscapes_preset_carries_the_published_settings():
    cfg = merged("cityscapes-paper.yaml")
    assert cfg["dataset"]["kind"] == "cityscapes" and cfg["regions"]["method"] == "seeds"
    assert 1024 * 2048 // cfg["regions"]["size"] ** 2 == 2048
    assert (cfg["budget"], cfg["rounds"]) == (100000, 5)
    assert cfg["model"]["backbone"] == "resnet50" and cfg["model"]["stem"] == "deep"
    assert cfg["stage1"]["iterations"] == cfg["stage2"]["iterations"] == 80000
    assert (cfg["stage1"]["lr"], cfg["stage2"]["lr"]) == (2e-5, 4e-5)
    assert cfg["train"]["crop_size"] == [768, 768] and cfg["train"]["batch_size"] == 4
    assert cfg["acquisition"]["kappa"] == 6.0 and cfg["model"]["tau"] == 0.1
    assert [cfg["stage1"][f"lambda_{k}"] for k in ("ce", "mp", "pp")] == [16, 8, 1]
    assert 80000 // cfg["train"]["validate_every"] == 16
    assert cfg["train"]["scale_range"] == [0.5, 2.0] and cfg["regions"]["trim_width"] == 3.0
    assert cfg["model"]["output_stride"] == 16 and cfg["model"]["aspp_rates"] == [6, 12, 18]
    assert cfg["stage1"]["dominant_lr_mult"] == 2.0  # Dom at 4e-5
    assert (cfg["dominant"]["void"], cfg["dominant"]["rule"]) == ("vote", "argmax")
    assert cfg["acquisition"]["method"] == "pixbal"


def test_voc_preset_carries_the_published_settings():
    cfg = merged("voc-paper.yaml")
    assert cfg["dataset"]["kind"] == "voc" and (cfg["budget"], cfg["rounds"]) == (10000, 5)
    assert cfg["stage1"]["iterations"] == 30000 and cfg["stage1"]["lr"] == 1e-5
    assert cfg["acquisition"]["kappa"] == 12.0 and cfg["train"]["crop_size"] == [513, 513]
    assert cfg["stage2"]["iterations"] == 30000 and cfg["stage2"]["lr"] == 1e-5
    assert (cfg["dominant"]["void"], cfg["dominant"]["rule"]) == ("vote", "argmax")
    assert cfg["stage1"]["dominant_lr_mult"] == 2.0 and cfg["model"]["tau"] == 0.1
    assert [cfg["stage1"][f"lambda_{k}"] for k in ("ce", "mp", "pp")] == [16, 8, 1]
    assert 30000 // cfg["train"]["validate_every"] == 12


def test_voc_has_21_classes_and_no_undefined_class(tmp_path):
    from actseg.datasets import HAS_UNDEFINED, open_dataset

    make_fake_voc(tmp_path / "voc")
    dataset = open_dataset("voc", tmp_path / "voc", "train")
    assert dataset.num_classes == dataset.num_outputs == 21 and not HAS_UNDEFINED["voc"]
    assert dataset.class_names[0] == "background"


# ------------------------------------------------------------------- dry runs at full size

CITYSCAPES_SPLITS = {"train": 2975, "val": 500}
VOC_SPLITS = {"train": 10582, "val": 1449}  # train_aug and val
ROUND_RULES = ("select", "train_stage1", "evaluate_stage1", "pseudo_labels", "train_stage2",
               "evaluate_stage2")


def full_size_cityscapes(root: Path) -> Path:
    """2975 train and 500 val images of 1024 x 2048 with their label maps, under Cityscapes
    names in 18 city folders: hard links to one real image and one label map (a dry run
    opens none of them; the tree is full size in names and pixels, not in bytes)."""
    import os

    import numpy as np
    from PIL import Image

    image, label = root / "one_leftImg8bit.png", root / "one_gtFine_labelIds.png"
    root.mkdir(parents=True)
    Image.fromarray(np.zeros((1024, 2048, 3), np.uint8)).save(image)
    Image.fromarray(np.full((1024, 2048), 7, np.uint8)).save(label)
    for split, count in CITYSCAPES_SPLITS.items():
        for i in range(count):
            city = f"city{i % 18:02d}"
            stem = f"{city}_{i:06d}_000019"
            for folder, suffix, source in (("leftImg8bit", "_leftImg8bit.png", image),
                                           ("gtFine", "_gtFine_labelIds.png", label)):
                path = root / folder / split / city / f"{stem}{suffix}"
                path.parent.mkdir(parents=True, exist_ok=True)
                os.link(source, path)
    return root


def full_size_voc(root: Path) -> Path:
    """The VOC2012 layout with the train_aug (10,582) and val (1,449) lists, every image a
    hard link to one 500 x 375 JPEG and one palette label."""
    import os

    import numpy as np
    from PIL import Image

    from fakes import write_voc_label

    for folder in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (root / folder).mkdir(parents=True)
    image, label = root / "one.jpg", root / "one.png"
    Image.fromarray(np.zeros((375, 500, 3), np.uint8)).save(image)
    write_voc_label(label, np.zeros((375, 500), np.uint8))
    start = 0
    for split, count in VOC_SPLITS.items():
        ids = [f"{2007 + (start + i) % 6}_{start + i:06d}" for i in range(count)]
        start += count
        (root / "ImageSets/Segmentation" / f"{split}.txt").write_text("\n".join(ids) + "\n")
        for image_id in ids:
            os.link(image, root / "JPEGImages" / f"{image_id}.jpg")
            os.link(label, root / "SegmentationClass" / f"{image_id}.png")
    return root


def dry_run_preset(tmp_path: Path, preset: str, root: Path, **overrides) -> str:
    """`snakemake -n -p results/round5/miou.csv --configfile config.yaml <preset>` with
    dataset.root and model.pretrained set (as the README says), in an empty workdir."""
    import torch
    from workflow_runs import snakemake

    work = tmp_path / "work"
    work.mkdir()
    weights = tmp_path / "imagenet.pt"
    torch.save({}, weights)
    (work / "paths.yaml").write_text(yaml.safe_dump(
        {"dataset": {"root": str(root)}, "model": {"pretrained": str(weights)}, **overrides}))
    result = snakemake(work, "-n", "-p", "results/round5/miou.csv", "--configfile",
                       str(ROOT / "config.yaml"), str(ROOT / "workflow/configs" / preset),
                       "paths.yaml", timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def job_settings(output: str) -> dict[tuple[str, int], dict]:
    """{(rule, round): the --settings JSON of its shell command} of a `-n -p` run."""
    import json
    import re

    found, rule, round_ = {}, None, 0
    for line in output.splitlines():
        head = re.fullmatch(r"(?:local)?rule (\S+):", line.strip())
        if head:
            rule, round_ = head.group(1), 0
        elif line.strip().startswith("wildcards:"):
            match = re.search(r"\bround=(\d+)", line)
            round_ = int(match.group(1)) if match else 0
        elif "--settings '" in line:
            found[(rule, round_)] = json.loads(re.search(r"--settings '(\{.*?\})'", line)[1])
    return found


def expected_jobs() -> list[tuple[str, int]]:
    return sorted([("regions", 0), ("oracle", 0),
                   *[(rule, t) for t in range(1, 6) for rule in ROUND_RULES]])


def test_cityscapes_preset_dry_runs_at_full_size(tmp_path):
    from workflow_runs import job_counts, planned_jobs

    out = dry_run_preset(tmp_path, "cityscapes-paper.yaml",
                         full_size_cityscapes(tmp_path / "cityscapes"))
    assert planned_jobs(out) == expected_jobs()
    assert job_counts(out) == {"regions": 1, "oracle": 1, **{rule: 5 for rule in ROUND_RULES}}
    jobs = job_settings(out)
    assert jobs[("regions", 0)] == {"dataset": "cityscapes", "method": "seeds", "size": 32,
                                    "root": str(tmp_path / "cityscapes")}
    assert 1024 * 2048 // 32 ** 2 == 2048 and jobs[("oracle", 0)]["trim_width"] == 3.0
    assert jobs[("select", 1)]["method"] == "random" and jobs[("select", 1)]["budget"] == 100000
    later = jobs[("select", 2)]
    assert (later["method"], later["kappa"], later["ban_undefined"]) == ("pixbal", 6.0, True)
    stage1 = jobs[("train_stage1", 1)]
    assert {k: stage1[k] for k in ("backbone", "stem", "output_stride", "aspp_rates",
                                   "iterations", "batch_size", "crop_size", "scale_range",
                                   "lr", "head_lr_mult", "tau", "lambda_ce", "lambda_mp",
                                   "lambda_pp", "loss", "checkpoint", "validate_every")} == {
        "backbone": "resnet50", "stem": "deep", "output_stride": 16,
        "aspp_rates": [6, 12, 18], "iterations": 80000, "batch_size": 4,
        "crop_size": [768, 768], "scale_range": [0.5, 2.0], "lr": 2e-5, "head_lr_mult": 10.0,
        "tau": 0.1, "lambda_ce": 16.0, "lambda_mp": 8.0, "lambda_pp": 1.0, "loss": "mp_pp",
        "checkpoint": "best_val", "validate_every": 5000}
    assert not {"dominant_void", "dominant_rule", "dominant_lr_mult"} & set(stage1)  # Mul
    stage2 = jobs[("train_stage2", 5)]
    assert (stage2["iterations"], stage2["lr"]) == (80000, 4e-5)
    pseudo = jobs[("pseudo_labels", 3)]
    assert (pseudo["method"], pseudo["expand"], pseudo["rule"]) == ("prototype", True,
                                                                    "reference")
    assert jobs[("evaluate_stage2", 5)]["absent"] == "reference"


def test_cityscapes_preset_dom_runs_the_published_dominant_labels(tmp_path):
    """labelling: dominant on the preset: Dom at lr x 2 on the published Dom labels."""
    out = dry_run_preset(tmp_path, "cityscapes-paper.yaml",
                         full_size_cityscapes(tmp_path / "cityscapes"), labelling="dominant")
    stage1 = job_settings(out)[("train_stage1", 2)]
    assert (stage1["loss"], stage1["lr"], stage1["dominant_lr_mult"]) == ("dominant", 2e-5, 2.0)
    assert (stage1["dominant_void"], stage1["dominant_rule"]) == ("vote", "argmax")
    assert job_settings(out)[("pseudo_labels", 2)]["dominant_void"] == "vote"


def test_voc_preset_dry_runs_at_full_size(tmp_path):
    from workflow_runs import job_counts, planned_jobs

    out = dry_run_preset(tmp_path, "voc-paper.yaml", full_size_voc(tmp_path / "VOC2012"))
    assert planned_jobs(out) == expected_jobs()
    assert job_counts(out) == {"regions": 1, "oracle": 1, **{rule: 5 for rule in ROUND_RULES}}
    jobs = job_settings(out)
    regions = jobs[("regions", 0)]
    assert (regions["method"], regions["size"]) == ("seeds", 35)
    assert round(500 * 375 / regions["size"] ** 2) in range(145, 156)  # ~150 per image
    later = jobs[("select", 4)]
    assert later["budget"] == 10000 and later["kappa"] == 12.0
    assert "ban_undefined" not in later  # VOC has no undefined class
    stage1 = jobs[("train_stage1", 1)]
    assert (stage1["iterations"], stage1["lr"], stage1["crop_size"]) == (30000, 1e-5, [513, 513])
    assert stage1["validate_every"] == 2500 and stage1["dataset"] == "voc"
    stage2 = jobs[("train_stage2", 1)]
    assert (stage2["iterations"], stage2["lr"]) == (30000, 1e-5)
