"""Stage-1 / stage-2 losses against brute-force per-pixel and per-region loops."""

from __future__ import annotations

import math

import pytest
import torch

from actseg import losses
from actseg.losses import (EPS, Stage1Criterion, combine, dominant_ce, has_labels,
                           infimum_loss, rc_loss, stage1_losses, stage2_ce)

TAU = 0.1


# ----------------------------------------------------------------- brute force


def _sets(region_multihot, b, r):
    return [c for c in range(region_multihot.shape[2]) if bool(region_multihot[b, r, c])]


def _pixels(region_map):
    """(b, h, w, r) of every labelled pixel in raster order."""
    bb, hh, ww = region_map.shape
    for b in range(bb):
        for h in range(hh):
            for w in range(ww):
                r = int(region_map[b, h, w])
                if r >= 0:
                    yield b, h, w, r


def brute_terms(logits, region_map, region_multihot, tau=TAU):
    """Every term of docs/method.md §5 with explicit loops (one pixel / one region at a time)."""
    p = torch.softmax(logits / tau, dim=1)
    sums = {k: 0.0 for k in ("ce", "mp", "pp", "infimum", "rc")}
    counts = {"single": 0, "multi": 0, "pp": 0}
    for b, h, w, r in _pixels(region_map):
        ys = _sets(region_multihot, b, r)
        if len(ys) == 1:
            sums["ce"] = sums["ce"] - torch.log(p[b, ys[0], h, w] + EPS)
            counts["single"] += 1
        elif len(ys) >= 2:
            counts["multi"] += 1
            merged = sum(p[b, c, h, w] for c in ys)
            sums["mp"] = sums["mp"] - torch.log(merged + EPS)
            best = max((p[b, c, h, w] for c in ys), key=lambda t: float(t.detach()))
            sums["infimum"] = sums["infimum"] - torch.log(best + EPS)
            for c in ys:
                weight = (p[b, c, h, w] / merged).detach()
                sums["rc"] = sums["rc"] - weight * torch.log(p[b, c, h, w] + EPS)
    for b in range(region_map.shape[0]):
        for r in range(region_multihot.shape[1]):
            ys = _sets(region_multihot, b, r)
            where = [(h, w) for (bb, h, w, rr) in _pixels(region_map) if bb == b and rr == r]
            if len(ys) < 2 or not where:
                continue
            for c in ys:
                best_hw = where[0]
                for hw in where[1:]:  # strict '>' keeps the first arg-max in raster order
                    if p[b, c, hw[0], hw[1]].item() > p[b, c, best_hw[0], best_hw[1]].item():
                        best_hw = hw
                sums["pp"] = sums["pp"] - torch.log(p[b, c, best_hw[0], best_hw[1]] + EPS)
                counts["pp"] += 1
    norm = {"ce": counts["single"], "mp": counts["multi"], "infimum": counts["multi"],
            "rc": counts["multi"], "pp": counts["pp"]}
    return {k: torch.as_tensor(v) / (1 + norm[k]) for k, v in sums.items()}


def random_case(seed: int, b=2, k=4, h=6, w=7, r=5):
    """Random logits in [-1, 1]; image 0 uses only ids 0..2 (ids 3, 4 absent from the crop,
    yet labelled), image 1 all ids; sets of size 0..3 mixed, the undefined channel included."""
    g = torch.Generator().manual_seed(seed)
    logits = (torch.rand(b, k, h, w, generator=g) * 2 - 1).requires_grad_()
    region_map = torch.randint(-1, r, (b, h, w), generator=g)
    region_map[0] = torch.randint(-1, 3, (h, w), generator=g)
    sizes = torch.tensor([[1, 2, 3, 0, 2], [2, 1, 1, 3, 0]])[:b, :r]
    order = torch.rand(b, r, k, generator=g).argsort(dim=2)
    multihot = torch.zeros(b, r, k, dtype=torch.bool)
    multihot.scatter_(2, order, torch.arange(k)[None, None].expand(b, r, k) < sizes[..., None])
    return logits, region_map, multihot


def _check_against_brute(ours: dict, brute: dict, logits: torch.Tensor) -> None:
    for name, value in ours.items():
        assert torch.isfinite(value), name
        assert value.item() == pytest.approx(brute[name].item(), rel=1e-5, abs=1e-6), name
        (g_ours,) = torch.autograd.grad(value, logits, retain_graph=True, allow_unused=True)
        (g_brute,) = torch.autograd.grad(brute[name], logits, retain_graph=True,
                                         allow_unused=True)
        g_ours = torch.zeros_like(logits) if g_ours is None else g_ours
        g_brute = torch.zeros_like(logits) if g_brute is None else g_brute
        torch.testing.assert_close(g_ours, g_brute, rtol=1e-4, atol=1e-6, msg=name)


# ----------------------------------------------------------------- stage 1


@pytest.fixture(params=[False, True], ids=["labelled-pixels", "every-pixel"])
def every_pixel(request, monkeypatch):
    """Run each loss test on both pixel views: the labelled pixels only (CPU) and every pixel
    (the fixed-shape CUDA path)."""
    original = losses.labelled_pixels
    monkeypatch.setattr(losses, "labelled_pixels",
                        lambda *args: original(*args, every_pixel=request.param))
    return request.param


@pytest.mark.parametrize("seed", range(4))
def test_stage1_terms_match_brute_force(seed, every_pixel):
    logits, region_map, multihot = random_case(seed)
    brute = brute_terms(logits, region_map, multihot)
    ours = stage1_losses(logits, region_map, multihot, tau=TAU)
    assert set(ours) == {"ce", "mp", "pp"}
    assert all(ours[k] > 0 for k in ours)  # the random case exercises every term
    _check_against_brute(ours, brute, logits)


@pytest.mark.parametrize("seed", range(2))
def test_baselines_match_brute_force(seed, every_pixel):
    logits, region_map, multihot = random_case(seed)
    brute = brute_terms(logits, region_map, multihot)
    inf = infimum_loss(logits, region_map, multihot, tau=TAU)
    rc = rc_loss(logits, region_map, multihot, tau=TAU)
    assert set(inf) == {"ce", "infimum"} and set(rc) == {"ce", "rc"}
    _check_against_brute(inf, brute, logits)
    _check_against_brute(rc, brute, logits)


def test_crop_cutting_a_region_uses_only_its_visible_pixels(every_pixel):
    logits, region_map, multihot = random_case(7)
    full = stage1_losses(logits, region_map, multihot)["pp"]
    crop = (slice(None), slice(1, 4), slice(2, 6))
    cut_logits = logits.detach()[:, :, 1:4, 2:6].clone().requires_grad_()
    cut = stage1_losses(cut_logits, region_map[crop], multihot)
    _check_against_brute(cut, brute_terms(cut_logits, region_map[crop], multihot), cut_logits)
    assert cut["pp"].item() != pytest.approx(full.item())


def test_pp_gradient_reaches_only_first_argmax_pixel_on_ties(every_pixel):
    # three pixels share the largest logits of classes 0 and 1: (0, 0) is first in raster order
    logits = torch.zeros(1, 3, 2, 3)
    logits[0, :2] = torch.tensor([[0.9, 0.1, 0.3], [0.9, 0.2, 0.9]])
    logits.requires_grad_()
    region_map = torch.zeros(1, 2, 3, dtype=torch.long)
    multihot = torch.tensor([[[True, True, False]]])
    pp = stage1_losses(logits, region_map, multihot)["pp"]
    (grad,) = torch.autograd.grad(pp, logits)
    assert (grad.abs().sum(dim=1)[0] > 0).nonzero().tolist() == [[0, 0]]


def test_undefined_class_is_an_ordinary_class(every_pixel):
    logits = torch.zeros(1, 3, 1, 2)
    logits[0, 2, 0, 0] = 1.0  # pixel 0 is confidently undefined
    region_map = torch.tensor([[[0, 1]]])
    multihot = torch.tensor([[[False, False, True], [True, False, False]]])
    ce = stage1_losses(logits, region_map, multihot)["ce"]
    p_u = math.exp(10) / (math.exp(10) + 2)
    expected = (-math.log(p_u + EPS) - math.log(1 / 3 + EPS)) / 3
    assert ce.item() == pytest.approx(expected, rel=1e-6)


def test_empty_batch_gives_zero_loss_without_nan(every_pixel):
    logits = (torch.rand(2, 4, 5, 5) * 2 - 1).requires_grad_()
    region_map = torch.full((2, 5, 5), -1)
    multihot = torch.ones(2, 3, 4, dtype=torch.bool)
    assert not has_labels(region_map, multihot)
    for loss in ("mp_pp", "infimum", "rc", "dominant"):
        total, terms = Stage1Criterion(loss)(logits, region_map, multihot)
        assert total.item() == 0.0 and all(v.item() == 0.0 for v in terms.values())
        (grad,) = torch.autograd.grad(total, logits)
        assert torch.equal(grad, torch.zeros_like(grad))


def test_regions_with_empty_sets_carry_no_label(every_pixel):
    logits, region_map, multihot = random_case(3)
    assert has_labels(region_map, multihot)
    assert not has_labels(region_map, torch.zeros_like(multihot))
    empty = stage1_losses(logits, region_map, torch.zeros_like(multihot))
    assert all(v.item() == 0.0 for v in empty.values())


def test_dominant_ce_is_single_class_ce_and_rejects_multi_bits(every_pixel):
    logits, region_map, _ = random_case(5)
    g = torch.Generator().manual_seed(0)
    dominant = torch.randint(0, 4, (2, 5), generator=g)
    onehot = torch.nn.functional.one_hot(dominant, 4).bool()
    ours = dominant_ce(logits, region_map, onehot)
    _check_against_brute(ours, brute_terms(logits, region_map, onehot), logits)
    two_bits = onehot.clone()
    two_bits[1, 0, :2] = True
    with pytest.raises(ValueError, match="exactly one class bit"):
        dominant_ce(logits, region_map, two_bits)


def test_criterion_weights_terms():
    logits, region_map, multihot = random_case(1)
    terms = stage1_losses(logits, region_map, multihot)
    total, got = Stage1Criterion("mp_pp", 16, 8, 1)(logits, region_map, multihot)
    expected = 16 * terms["ce"] + 8 * terms["mp"] + terms["pp"]
    assert total.item() == pytest.approx(expected.item(), rel=1e-6)
    total, got = Stage1Criterion("rc", 2, 3, 5)(logits, region_map, multihot)
    assert total.item() == pytest.approx((2 * got["ce"] + 3 * got["rc"]).item(), rel=1e-6)
    with pytest.raises(KeyError, match="no weight"):
        combine({"xx": total}, {"ce": 1.0})
    with pytest.raises(ValueError, match="unknown stage-1 loss"):
        Stage1Criterion("focal")


def test_bad_inputs_are_rejected():
    logits, region_map, multihot = random_case(0)
    with pytest.raises(ValueError, match="region ids"):
        stage1_losses(logits, region_map.clamp(max=4) + 1, multihot)
    with pytest.raises(ValueError, match="region_multihot"):
        stage1_losses(logits, region_map, multihot[..., :3])
    with pytest.raises(ValueError, match="does not match"):
        stage1_losses(logits, region_map[:, :5], multihot)


# ----------------------------------------------------------------- stage 2


def test_stage2_ce_matches_brute_force_and_ignores_255():
    g = torch.Generator().manual_seed(2)
    logits = (torch.rand(2, 4, 3, 5, generator=g) * 2 - 1).requires_grad_()
    target = torch.randint(0, 4, (2, 3, 5), generator=g)
    target[0, 0] = 255
    logp = torch.log_softmax(logits / TAU, dim=1)
    pixels = [(b, h, w) for b in range(2) for h in range(3) for w in range(5)
              if target[b, h, w] != 255]
    brute = -sum(logp[b, target[b, h, w], h, w] for b, h, w in pixels) / len(pixels)
    ours = stage2_ce(logits, target, TAU)
    assert ours.item() == pytest.approx(brute.item(), rel=1e-6)
    torch.testing.assert_close(torch.autograd.grad(ours, logits)[0],
                               torch.autograd.grad(brute, logits)[0])
    empty = stage2_ce(logits, torch.full_like(target, 255), TAU)
    assert empty.item() == 0.0
    with pytest.raises(ValueError, match="targets must be"):
        stage2_ce(logits, torch.full_like(target, 7), TAU)
