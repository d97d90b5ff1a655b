"""benchmarks/presets.py: the FLOP count behind the README's GPU hours for the paper presets
(issue 12). Everything runs on the meta device: no memory, no arithmetic, a few seconds."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def presets():
    spec = importlib.util.spec_from_file_location("bench_presets", ROOT / "benchmarks/presets.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


@pytest.fixture(scope="module")
def voc_model(presets):
    return presets.preset_model(presets.preset_config("voc-paper.yaml"))


def test_doubling_the_batch_doubles_the_step_flops(presets, voc_model):
    one = presets.train_step_flops(voc_model, 1, (128, 128))
    assert one > 0
    assert presets.train_step_flops(voc_model, 2, (128, 128)) == 2 * one


def test_step_flops_scale_with_the_crop_area(presets, voc_model):
    """Every feature map doubles per side from 128 to 256 (both divisible by 16); only the
    ASPP's image-pooling branch (1x1 after global pooling) does not grow with the area."""
    small = presets.train_step_flops(voc_model, 1, (128, 128))
    large = presets.train_step_flops(voc_model, 1, (256, 256))
    assert large == pytest.approx(4 * small, rel=1e-3)


def test_backward_counts_twice_the_forward_and_groups_are_honoured(presets):
    """A depthwise 3x3 conv, C = 8, on 1x8x10x10: forward 2*8*9*100 = 14,400 FLOPs; the
    input and weight gradients cost as much each (PyTorch's own formula counts the weight
    gradient C times over)."""
    conv = torch.nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False, device="meta")
    x = torch.randn(1, 8, 10, 10, device="meta", requires_grad=True)
    with presets.counter() as fc:
        y = conv(x)
    assert fc.get_total_flops() == 2 * 8 * 9 * 100
    with presets.counter() as fc:
        y.sum().backward()
    assert fc.get_total_flops() == 2 * 2 * 8 * 9 * 100


def test_cityscapes_run_budget_reads_the_preset(presets):
    cfg = presets.preset_config("cityscapes-paper.yaml")
    budget = presets.run_budget(cfg)
    assert budget["train_steps"] == 5 * (80000 + 80000)
    assert budget["select_images"] == 4 * 2975 and budget["pseudo_images"] == 5 * 2975
    assert budget["evaluate_images"] == 5 * 2 * 500
    assert budget["validate_images"] == 5 * 2 * 16 * 500  # best_val: every 5k of 80k
    cfg["train"]["checkpoint"] = "final"
    assert presets.run_budget(cfg)["validate_images"] == 0
    assert presets.num_outputs("cityscapes") == 20 and presets.num_outputs("voc") == 21
