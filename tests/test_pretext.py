"""The procedural pretraining domain and the `pretrain` command."""

import hashlib
import json

import numpy as np
import pytest
import torch

from actseg.cli import main
from actseg.model import build_model
from actseg.pretext import (CLASS_NAMES, FAMILIES, KINDS, SHAPES, PretextDataset, pretext_sample,
                            shape_mask, texture)


@pytest.mark.parametrize("family", FAMILIES)
def test_every_texture_family_is_a_pattern_in_unit_range(family):
    pattern = texture(family, (32, 48), np.random.default_rng(0))
    assert pattern.shape == (32, 48) and pattern.dtype == np.float32
    assert pattern.min() >= 0 and pattern.max() <= 1
    if family != "flat":  # every other family varies over the image
        assert pattern.std() > 0


def test_textures_differ_in_their_statistics():
    """Each family is told apart by its pattern, not its colour: stripes vary along one
    direction only, grain has no spatial correlation, flat is constant."""
    rng = np.random.default_rng(1)
    stripes = texture("stripes", (64, 64), rng)
    grain = texture("grain", (64, 64), rng)
    neighbour_corr = np.corrcoef(grain[:, :-1].ravel(), grain[:, 1:].ravel())[0, 1]
    assert abs(neighbour_corr) < 0.1
    assert set(np.unique(stripes)) <= {0.0, 1.0}
    assert np.ptp(texture("flat", (8, 8), rng)) == 0


@pytest.mark.parametrize("shape", SHAPES)
def test_shapes_are_non_empty_proper_subsets(shape):
    masks = [shape_mask(shape, (64, 64), np.random.default_rng(s)) for s in range(8)]
    assert any(m.any() for m in masks)
    assert all(not m.all() for m in masks)


def test_sample_is_a_pure_function_of_its_seed():
    image, label = pretext_sample(7, (40, 56))
    again_image, again_label = pretext_sample(7, (40, 56))
    other_image, _ = pretext_sample(8, (40, 56))
    assert image.shape == (40, 56, 3) and image.dtype == np.uint8
    assert label.shape == (40, 56) and label.min() >= 0 and label.max() < len(CLASS_NAMES)
    assert np.array_equal(image, again_image) and np.array_equal(label, again_label)
    assert not np.array_equal(image, other_image)


def test_labels_mark_the_pieces_painted_last():
    """Several families and every kind of piece appear; a label is family × kinds + kind."""
    classes = {int(v) for s in range(20) for v in np.unique(pretext_sample(s)[1])}
    assert len({c // len(KINDS) for c in classes}) >= len(FAMILIES) - 2
    assert {c % len(KINDS) for c in classes} == set(range(len(KINDS)))
    assert CLASS_NAMES[3 * len(KINDS) + 2] == f"{FAMILIES[3]}-{KINDS[2]}"


def test_a_shape_painted_on_a_cell_keeps_the_cells_label_around_it():
    """The label is the piece's own: cell pixels carry kind 0, a painted shape's its kind."""
    image, label = pretext_sample(5, (64, 64))
    kinds = label % len(KINDS)
    assert (kinds == 0).any() and (kinds > 0).any()


def test_dataset_items_are_normalised_images_and_label_tensors():
    dataset = PretextDataset((24, 32), epoch_length=5, seed=3)
    image, label = dataset[(0, 11)]
    assert len(dataset) == 5 and dataset.num_classes == len(FAMILIES) * len(KINDS)
    assert image.shape == (3, 24, 32) and image.dtype == torch.float32
    assert label.shape == (24, 32) and label.dtype == torch.int64
    assert torch.equal(dataset[(4, 11)][1], label)  # the sample seed picks the image


@pytest.mark.slow
def test_pretrain_command_writes_loadable_backbone_with_provenance(tmp_path):
    out = tmp_path / "weights" / "small-pretext.pt"
    assert main(["pretrain", "--out", str(out), "--iterations", "3", "--batch-size", "2",
                 "--size", "32", "32", "--device", "cpu", "--threads", "1"]) == 0
    provenance = json.loads(out.with_suffix(".json").read_text())
    assert provenance["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert provenance["settings"]["iterations"] == 3 and provenance["settings"]["seed"] == 0
    assert "pretrain" in provenance["command"]
    state = torch.load(out, weights_only=True)
    assert {key.split(".")[0] for key in state} == {"backbone", "aspp", "decoder"}
    model = build_model("small", 19, pretrained=out)
    assert torch.equal(model.backbone.stem[0].weight, state["backbone.stem.0.weight"])
    loaded = model.state_dict()
    assert all(torch.equal(loaded[key], value) for key, value in state.items())
    assert not list(out.parent.glob(".*pretext*"))  # the temporary whole model is gone


def test_shipped_weights_match_their_provenance():
    from workflow_runs import REPO

    weights = REPO / "workflow" / "weights" / "small-pretext.pt"
    provenance = json.loads(weights.with_suffix(".json").read_text())
    assert provenance["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert "pretrain" in provenance["command"]
    build_model("small", 19, pretrained=weights)  # loads into the default backbone


@pytest.mark.slow
def test_pretrain_rule_builds_a_missing_weights_file_only_on_request(tmp_path):
    from workflow_runs import job_counts, snakemake

    (tmp_path / "config.yaml").write_text("{}\n")
    target = "workflow/weights/resnet18-pretext.pt"
    plan = snakemake(tmp_path, "-n", target, "--configfile", str(tmp_path / "config.yaml"))
    assert plan.returncode == 0, plan.stderr
    assert job_counts(plan.stdout) == {"pretrain": 1}
    assert "wildcards: backbone=resnet18" in plan.stdout
