"""Checkpoint and resume-state round trips, loaded with weights_only=True."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from actseg.checkpoint import (CheckpointError, load_checkpoint, load_model, load_resume,
                               resume_path, save_checkpoint, save_resume, to_plain)
from actseg.model import build_model


def _meta(**extra):
    meta = {"backbone": "small", "num_classes": 4, "output_stride": 8,
            "aspp_rates": (2, 4, 6), "tau": 0.1, "stage": 1, "round": 2,
            "iterations": 10, "seed": 0, "args": {"out": Path("x/stage1.pt"), "lr": 1e-3}}
    meta.update(extra)
    return meta


def test_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    model = build_model("small", num_classes=4, output_stride=8, aspp_rates=(2, 4, 6))
    model.train()
    model(torch.randn(2, 3, 32, 32))  # move the BN running statistics off their init
    path = save_checkpoint(tmp_path / "round2" / "stage1.pt", model, _meta())
    assert sorted(p.name for p in path.parent.iterdir()) == ["stage1.pt"]  # no temp left
    raw = torch.load(path, weights_only=True)
    assert raw["meta"]["args"] == {"out": "x/stage1.pt", "lr": 1e-3}
    assert raw["meta"]["aspp_rates"] == [2, 4, 6]
    loaded, meta = load_model(path, "cpu")
    assert meta["round"] == 2 and not loaded.training
    x = torch.randn(1, 3, 32, 40)
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)
    assert loaded.aspp.branches[1][0].dilation == (2, 2)  # rebuilt from meta


def test_load_errors_name_the_file(tmp_path):
    missing = tmp_path / "missing.pt"
    with pytest.raises(CheckpointError, match="missing.pt: checkpoint not found"):
        load_checkpoint(missing)
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError, match="corrupt.pt: not a readable checkpoint"):
        load_checkpoint(corrupt)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(2)}, foreign)
    with pytest.raises(CheckpointError, match="foreign.pt: not an actseg checkpoint"):
        load_model(foreign)
    wrong = tmp_path / "wrong.pt"
    save_checkpoint(wrong, build_model("small", num_classes=4), _meta(num_classes=5))
    with pytest.raises(CheckpointError, match="wrong.pt: cannot rebuild"):
        load_model(wrong)


def test_meta_must_be_plain():
    assert to_plain({"a": (1, np.int64(2)), "b": np.float32(0.5)}) == {"a": [1, 2], "b": 0.5}
    with pytest.raises(TypeError, match=r"meta\['bad'\]: object"):
        to_plain({"bad": object()})


def _training_setup(seed=0):
    torch.manual_seed(seed)
    model = build_model("small", num_classes=3)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    return model, optimizer


def _train(model, optimizer, steps):
    for _ in range(steps):
        optimizer.zero_grad()
        model(torch.randn(2, 3, 32, 32)).square().mean().backward()
        optimizer.step()


def _draws():
    return random.random(), float(np.random.rand()), torch.rand(3).tolist()


def _run_to_checkpoint(steps=2):
    model, optimizer = _training_setup()
    random.seed(1), np.random.seed(1)
    _train(model, optimizer, steps)
    return model, optimizer


def test_resume_continues_exactly(tmp_path):
    model, optimizer = _run_to_checkpoint()
    path = resume_path(tmp_path / "stage1.pt")
    assert path.name == "stage1.pt.resume.pt"
    save_resume(path, model, optimizer, iteration=2, extra={"epoch": 0})
    _train(model, optimizer, 2)  # the uninterrupted run
    expected = model.state_dict()
    torch.load(path, weights_only=True)  # everything in it is weights_only-safe

    model2, optimizer2 = _training_setup(seed=9)
    random.seed(5), np.random.seed(5), torch.manual_seed(5)
    iteration, extra = load_resume(path, model2, optimizer2)
    assert (iteration, extra) == (2, {"epoch": 0})
    _train(model2, optimizer2, 2)
    for key, value in model2.state_dict().items():
        torch.testing.assert_close(value, expected[key], rtol=0, atol=0, msg=key)


def test_resume_restores_every_rng(tmp_path):
    model, optimizer = _run_to_checkpoint()
    path = save_resume(tmp_path / "r.pt", model, optimizer, iteration=2)
    expected = _draws()  # what the run would have drawn next
    random.seed(7), np.random.seed(7), torch.manual_seed(7)
    load_resume(path, *_training_setup(seed=3))
    assert _draws() == expected
