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


def test_voc_preset_carries_the_published_settings():
    cfg = merged("voc-paper.yaml")
    assert cfg["dataset"]["kind"] == "voc" and (cfg["budget"], cfg["rounds"]) == (10000, 5)
    assert cfg["stage1"]["iterations"] == 30000 and cfg["stage1"]["lr"] == 1e-5
    assert cfg["acquisition"]["kappa"] == 12.0 and cfg["train"]["crop_size"] == [513, 513]
