"""Acquisition scores against brute-force per-region loops (docs/method.md §7)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from actseg.acquire import (PoolScorer, min_max, pixel_uncertainty, random_scores, score_pool,
                            top_two)

N, K, H, W, R = 2, 5, 6, 8, 7  # C = 4 real classes + undefined; ids 0..6, id 4 absent
ABSENT = 4
TAU, KAPPA = 0.1, 6.0


def make_pool(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random cosine-like logits and region maps with ids 0..6 except 4 (absent)."""
    rng = np.random.default_rng(seed)
    logits = rng.uniform(-1, 1, size=(N, K, H, W)).astype(np.float32)
    regions = np.repeat(np.repeat(np.arange(8).reshape(2, 4), 3, axis=0), 2, axis=1)  # 6x8
    regions = np.stack([regions, regions[:, ::-1]]) % R
    regions[regions == ABSENT] = 3
    return logits, regions.astype(np.int64)


def brute_force(method: str, logits: np.ndarray, regions: np.ndarray, ban: bool = True):
    """Plain per-pixel / per-region loops in float64, straight from the formulas."""
    z = logits.astype(np.float64) / TAU
    q = np.exp(z - z.max(axis=1, keepdims=True))
    q /= q.sum(axis=1, keepdims=True)
    srt = np.sort(q, axis=1)
    u = srt[:, -2] / srt[:, -1]
    top1 = q.argmax(axis=1)
    pbar = q.transpose(1, 0, 2, 3).reshape(K, -1).mean(axis=1)
    nu = (1 + KAPPA * pbar) ** -2
    mean_u, majority, weighted = {}, {}, {}
    for n in range(N):
        for r in range(R):
            mask = regions[n] == r
            if not mask.any():
                continue
            mean_u[n, r] = u[n][mask].mean()
            majority[n, r] = np.bincount(top1[n][mask], minlength=K).argmax()
            weighted[n, r] = np.mean([nu[c] * v for c, v in zip(top1[n][mask], u[n][mask])])
    pi = np.zeros(K)
    for d in majority.values():
        pi[d] += 1 / len(majority)
    lo, hi = min(mean_u.values()), max(mean_u.values())
    out = np.full((N, R), -np.inf)
    for (n, r), m in mean_u.items():
        value = {"bvsb": m, "classbal": np.exp(-pi[majority[n, r]]) * (m - lo) / (hi - lo),
                 "pixbal": weighted[n, r]}[method]
        out[n, r] = 0.0 if ban and majority[n, r] == K - 1 else value
    return out


@pytest.mark.parametrize("method", ["bvsb", "classbal", "pixbal"])
@pytest.mark.parametrize("ban", [True, False])
def test_scores_match_brute_force(method, ban):
    logits, regions = make_pool()
    logits[0, K - 1][regions[0] == 0] += 3.0  # region 0 of image 0: majority undefined
    got = score_pool(method, logits, regions, R, tau=TAU, kappa=KAPPA, ban_undefined=ban)
    want = brute_force(method, logits, regions, ban=ban)
    assert got.shape == (N, R) and got.dtype == np.float32
    assert np.array_equal(np.isinf(got), np.isinf(want))
    assert np.isneginf(got[:, ABSENT]).all()
    finite = np.isfinite(want)
    np.testing.assert_allclose(got[finite], want[finite], rtol=1e-5, atol=1e-7)
    if method != "classbal":  # there the pool's least uncertain region scores 0 too
        assert (got[0, 0] == 0.0) == ban


def test_min_max_by_hand():
    values = np.array([[0.2, 0.6, 9.0], [0.4, 1.0, -1.0]])
    present = np.array([[True, True, False], [True, True, False]])
    got = min_max(values, present)
    np.testing.assert_allclose(got[present], [0.0, 0.5, 0.25, 1.0])
    assert not min_max(np.ones((1, 2)), np.ones((1, 2), bool)).any()


def test_classbal_by_hand():
    """Two images, one region each; region means 0.5 and 0.25 -> min-max 1 and 0."""
    # tau 1; image 0: channels (0, log 0.5, -inf) -> u = 0.5, top1 0; image 1: u = 0.25, top1 1
    logits = torch.tensor([[0.0, np.log(0.5), -30.0], [np.log(0.25), 0.0, -30.0]])
    logits = logits[:, :, None, None].float()
    regions = np.zeros((2, 1, 1), np.int64)
    got = score_pool("classbal", logits, regions, 1, tau=1.0, ban_undefined=False)
    # pi = (0.5, 0.5, 0); score = exp(-0.5) * minmax
    np.testing.assert_allclose(got[:, 0], [np.exp(-0.5), 0.0], rtol=1e-5)


def test_classbal_and_pixbal_differ_from_bvsb():
    """The class weights really act (guards against silently returning plain BvSB)."""
    logits, regions = make_pool(1)
    base = score_pool("bvsb", logits, regions, R, ban_undefined=False)
    for method in ("classbal", "pixbal"):
        other = score_pool(method, logits, regions, R, ban_undefined=False)
        finite = np.isfinite(base)
        assert not np.allclose(other[finite], base[finite])


def test_pixel_uncertainty_is_ratio_of_top_two():
    logits = torch.tensor([[[[1.0, 0.2]], [[0.5, 0.7]], [[-1.0, 0.7]]]])  # (1, 3, 1, 2)
    u, top1 = pixel_uncertainty(logits, tau=0.5)
    q = torch.softmax(logits / 0.5, dim=1)
    assert top1.tolist() == [[[0, 1]]]  # tie between channels 1 and 2: the lowest wins
    assert u[0, 0, 0].item() == pytest.approx(float(q[0, 1, 0, 0] / q[0, 0, 0, 0]), rel=1e-6)
    assert u[0, 0, 0].item() == pytest.approx(np.exp(-1.0), rel=1e-6)
    assert u[0, 0, 1].item() == 1.0


def test_top_two_matches_sort():
    scores = torch.randn(3, 7, 50, generator=torch.Generator().manual_seed(0))
    best, second, top1 = top_two(scores)
    srt = scores.sort(dim=1, descending=True)
    assert torch.equal(best, srt.values[:, 0]) and torch.equal(second, srt.values[:, 1])
    assert torch.equal(top1, scores.argmax(dim=1))


@pytest.mark.parametrize("method", ["random", "bvsb", "classbal", "pixbal"])
def test_streaming_equals_in_memory(method):
    logits, regions = make_pool(2)
    logits = np.concatenate([logits, logits[::-1] * 0.5])  # 4 images
    regions = np.concatenate([regions, regions[::-1]])
    whole = score_pool(method, logits, regions, R, seed=5)
    scorer = PoolScorer(method, 4, R, K, tau=TAU, kappa=KAPPA, seed=5)
    scorer.cpu_chunk = 7  # several uneven pixel chunks per image
    for batch in ([3], [0, 2], [1]):  # any order, uneven batches
        scorer.update(np.array(batch), torch.from_numpy(logits[batch]),
                      torch.from_numpy(regions[batch]))
    np.testing.assert_allclose(scorer.finalize(), whole, rtol=1e-6)


def test_unscored_images_and_padding_are_absent():
    logits, regions = make_pool(3)
    regions[1][regions[1] == 0] = -1  # padding pixels belong to no region
    scorer = PoolScorer("bvsb", 3, R, K)
    scorer.update([1], torch.from_numpy(logits[1:]), torch.from_numpy(regions[1:]))
    scores = scorer.finalize()
    assert np.isneginf(scores[[0, 2]]).all()
    assert scorer.num_pixels == H * W - 12
    assert np.isneginf(scores[1, 0])  # every pixel of region 0 of image 1 is padding
    assert np.isfinite(scores[1, [1, 2, 3, 5, 6]]).all()


def test_ban_ranks_undefined_regions_last():
    logits, regions = make_pool(4)
    logits[1, K - 1][regions[1] == 2] += 5.0  # region 2 of image 1: predicted undefined
    scores = score_pool("pixbal", logits, regions, R)
    assert scores[1, 2] == 0.0
    others = np.isfinite(scores) & ~((np.arange(N)[:, None] == 1) & (np.arange(R) == 2))
    assert (scores[others] > 0).all()


def test_random_scores_are_seeded_and_mask_absent():
    present = np.ones((3, 5), dtype=bool)
    present[1, 4] = False
    a, b = random_scores(present, [0, 1]), random_scores(present, [0, 1])
    assert np.array_equal(a, b)
    assert not np.array_equal(a, random_scores(present, [0, 2]))
    assert np.isneginf(a[1, 4]) and ((a[present] >= 0) & (a[present] < 1)).all()


def test_bad_input_is_rejected():
    logits, regions = make_pool()
    with pytest.raises(ValueError, match="method"):
        PoolScorer("entropy", N, R, K)
    with pytest.raises(ValueError, match="region ids"):
        score_pool("bvsb", logits, regions, 3)
    with pytest.raises(ValueError, match="channels"):
        PoolScorer("bvsb", N, R, K - 1).update([0], torch.from_numpy(logits[:1]),
                                               torch.from_numpy(regions[:1]))
    with pytest.raises(ValueError, match="do not match"):
        PoolScorer("bvsb", N, R, K).update([0], torch.from_numpy(logits[:1]),
                                           torch.from_numpy(regions[:1, :, :4]))
    scorer = PoolScorer("bvsb", N, R, K)
    scorer.update([0], torch.from_numpy(logits[:1]), torch.from_numpy(regions[:1]))
    with pytest.raises(ValueError, match="twice"):
        scorer.update([0], torch.from_numpy(logits[:1]), torch.from_numpy(regions[:1]))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    logits, regions = make_pool(5)
    cpu = score_pool("pixbal", logits, regions, R)
    gpu = score_pool("pixbal", torch.from_numpy(logits).cuda(), torch.from_numpy(regions).cuda(), R)
    np.testing.assert_allclose(gpu, cpu, rtol=1e-5)


def test_random_streaming_needs_no_logits_and_skips_padding():
    _, regions = make_pool()
    regions[0][regions[0] == 6] = -1
    scorer = PoolScorer("random", N, R, K, seed=[3, 1])
    scorer.update([0, 1], None, torch.from_numpy(regions))
    scores = scorer.finalize()
    present = np.zeros((N, R), dtype=bool)
    for n in range(N):
        present[n, np.unique(regions[n][regions[n] >= 0])] = True
    assert np.array_equal(np.isfinite(scores), present)
    assert np.array_equal(scores, random_scores(present, [3, 1]))


def test_non_finite_logits_are_rejected():
    logits, regions = make_pool()
    logits[1, 2, 0, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        score_pool("bvsb", logits, regions, R)
