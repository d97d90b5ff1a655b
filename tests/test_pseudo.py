"""Pseudo labels (docs/method.md §6) against brute force written with plain Python loops.

Features are multiples of 1/8 (float32), so every inner product is exact whatever the
summation order and both implementations must agree bit for bit, ties included.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from actseg.pseudo import (
    IGNORE,
    localize_and_expand,
    naive_labels,
    pseudo_label_image,
    quality_confusion,
    quality_row,
    segment_lower_median,
)

# ------------------------------------------------------------------ brute-force reference


def brute_adjacency(region_map):
    """Region pairs (a < b) touching in the 8-neighbourhood, by a loop over pixels."""
    h, w = region_map.shape
    pairs = set()
    for y, x in itertools.product(range(h), range(w)):
        for dy, dx in itertools.product((-1, 0, 1), repeat=2):
            yy, xx = y + dy, x + dx
            if 0 <= yy < h and 0 <= xx < w and region_map[yy, xx] != region_map[y, x]:
                a, b = sorted((int(region_map[y, x]), int(region_map[yy, xx])))
                pairs.add((a, b))
    return np.array(sorted(pairs), dtype=np.int64).reshape(-1, 2)


def dot(u, v):
    return sum(float(a) * float(b) for a, b in zip(u, v))


def pixels_of(region_map):
    out = {}
    for y, x in itertools.product(*map(range, region_map.shape)):  # raster order
        out.setdefault(int(region_map[y, x]), []).append((y, x))
    return out


def brute_prototype(features, probs, region_map, multihot, rule, expand):
    feat = lambda p: features[:, p[0], p[1]]  # noqa: E731
    pix = pixels_of(region_map)
    labelled = [r for r in range(len(multihot)) if multihot[r].any() and r in pix]
    out = np.full(region_map.shape, IGNORE, dtype=np.uint8)
    protos, theta = {}, {}
    for r in labelled:
        protos[r] = []
        for c in np.flatnonzero(multihot[r]):
            best = pix[r][0]
            for p in pix[r]:
                if probs[c, p[0], p[1]] > probs[c, best[0], best[1]]:
                    best = p
            protos[r].append((int(c), feat(best)))
        chose = {c: [] for c, _ in protos[r]}
        for p in pix[r]:
            best_c, best_s = None, -np.inf
            for c, mu in protos[r]:
                s = dot(feat(p), mu)
                if s > best_s:
                    best_c, best_s = c, s
            out[p] = best_c
            chose[best_c].append(best_s)
        for c, values in chose.items():
            values = sorted(values)
            theta[r, c] = values[(len(values) - 1) // 2] if values else 1.0
    if not expand:
        return out
    touching = {}
    for a, b in brute_adjacency(region_map):
        touching.setdefault(int(a), set()).add(int(b))
        touching.setdefault(int(b), set()).add(int(a))
    grown = {}
    if rule == "reference":
        for r in sorted(labelled):  # later sources overwrite earlier ones
            for n in sorted(touching.get(r, ())):
                if n in labelled:
                    continue
                for p in pix[n]:
                    sims = [(dot(feat(p), mu), c) for c, mu in protos[r]]
                    if any(s > theta[r, c] for s, c in sims):
                        best_s, best_c = sims[0]
                        for s, c in sims:
                            if s > best_s:
                                best_s, best_c = s, c
                        grown[p] = best_c
    else:
        for n, plist in pix.items():
            if n in labelled:
                continue
            sources = sorted(r for r in touching.get(n, ()) if r in labelled)
            for p in plist:
                best = None
                for r in sources:
                    for c, mu in protos[r]:
                        s = dot(feat(p), mu)
                        if best is None or s > best[0]:
                            best = (s, r, c)
                if best is not None and best[0] > theta[best[1], best[2]]:
                    grown[p] = best[2]
    for p, c in grown.items():
        out[p] = c
    return out


def brute_naive(probs, region_map, multihot, restrict):
    out = np.full(region_map.shape, IGNORE, dtype=np.uint8)
    for y, x in itertools.product(*map(range, region_map.shape)):
        allowed = multihot[region_map[y, x]]
        if not allowed.any():
            continue
        best = None
        for c in range(probs.shape[0]):
            if restrict and not allowed[c]:
                continue
            if best is None or probs[c, y, x] > probs[best, y, x]:
                best = c
        out[y, x] = best
    return out


# ------------------------------------------------------------------------- random inputs


def voronoi_map(rng, height, width, seeds):
    ys, xs = rng.integers(0, height, seeds), rng.integers(0, width, seeds)
    yy, xx = np.mgrid[:height, :width]
    dist = (yy[None] - ys[:, None, None]) ** 2 + (xx[None] - xs[:, None, None]) ** 2
    owner = dist.argmin(0)
    _, consecutive = np.unique(owner, return_inverse=True)
    return consecutive.reshape(height, width)


def random_case(seed, ties=False, absent_region=True, channels=5, dim=4, shape=(9, 11)):
    rng = np.random.default_rng(seed)
    region_map = voronoi_map(rng, *shape, seeds=8)
    n = int(region_map.max()) + 1 + int(absent_region)  # last id absent from the map
    if ties:  # few distinct feature vectors and probability levels: many exact ties
        pool = rng.integers(-3, 4, (3, dim))
        features = pool[rng.integers(0, 3, shape)].transpose(2, 0, 1) / 8
        probs = rng.integers(0, 3, (channels, *shape)) / 4
    else:
        features = rng.integers(-3, 4, (dim, *shape)) / 8
        probs = rng.random((channels, *shape))
        probs /= probs.sum(0, keepdims=True)
    multihot = np.zeros((n, channels), dtype=bool)
    for r in range(n):
        if rng.random() < 0.5:
            multihot[r, rng.choice(channels, rng.integers(1, 4), replace=False)] = True
    return (features.astype(np.float32), probs.astype(np.float32), region_map, multihot,
            brute_adjacency(region_map))


def dominant_rows(multihot, seed):
    """One bit per labelled region (a Dom+Expand label)."""
    rng = np.random.default_rng(seed)
    out = np.zeros_like(multihot)
    for r in np.flatnonzero(multihot.any(1)):
        out[r, rng.choice(np.flatnonzero(multihot[r]))] = True
    return out


CASES = [(seed, ties) for seed in range(6) for ties in (False, True)]


@pytest.mark.parametrize("seed,ties", CASES)
@pytest.mark.parametrize("rule", ["reference", "clean"])
@pytest.mark.parametrize("expand", [True, False])
def test_prototype_matches_brute_force(seed, ties, rule, expand):
    features, probs, region_map, multihot, adjacency = random_case(seed, ties)
    got = localize_and_expand(features, probs, region_map, multihot, adjacency,
                              rule=rule, expand=expand)
    want = brute_prototype(features, probs, region_map, multihot, rule, expand)
    np.testing.assert_array_equal(got.numpy(), want)


@pytest.mark.parametrize("seed,ties", CASES)
@pytest.mark.parametrize("rule", ["reference", "clean"])
def test_dominant_expand_matches_brute_force(seed, ties, rule):
    features, probs, region_map, multihot, adjacency = random_case(seed, ties)
    dominant = dominant_rows(multihot, seed)
    got = localize_and_expand(features, probs, region_map, dominant, adjacency, rule=rule)
    want = brute_prototype(features, probs, region_map, dominant, rule, True)
    np.testing.assert_array_equal(got.numpy(), want)
    labelled = dominant[region_map].any(-1)
    # one prototype per region: every labelled pixel carries the region's only class
    np.testing.assert_array_equal(got.numpy()[labelled],
                                  dominant.argmax(1)[region_map][labelled])


@pytest.mark.parametrize("seed,ties", CASES)
@pytest.mark.parametrize("method", ["naive", "naive_all"])
def test_naive_matches_brute_force(seed, ties, method):
    features, probs, region_map, multihot, adjacency = random_case(seed, ties)
    got = pseudo_label_image(method, None, probs, region_map, multihot, None)
    want = brute_naive(probs, region_map, multihot, restrict=method == "naive")
    np.testing.assert_array_equal(got.numpy(), want)


def test_random_cases_exercise_the_interesting_paths():
    """Guard against vacuous comparisons: the random cases expand, overlap and tie."""
    grew = overlapped = differ = 0
    for seed, ties in CASES:
        features, probs, region_map, multihot, adjacency = random_case(seed, ties)
        ref = brute_prototype(features, probs, region_map, multihot, "reference", True)
        clean = brute_prototype(features, probs, region_map, multihot, "clean", True)
        local = brute_prototype(features, probs, region_map, multihot, "reference", False)
        grew += int((ref != local).sum())
        differ += int((ref != clean).sum())
        labelled = multihot.any(1)
        sources = np.zeros(len(multihot), int)
        for a, b in adjacency:
            sources[b] += labelled[a] and not labelled[b]
            sources[a] += labelled[b] and not labelled[a]
        overlapped += int((sources[region_map] > 1).sum())
    assert grew > 50 and differ > 0 and overlapped > 20


# --------------------------------------------------------------------- hand-made cases


def _image(rows):
    """Features from a nested list [[(f0, f1), ...], ...] -> (2, H, W) float32."""
    return np.array(rows, dtype=np.float32).transpose(2, 0, 1)


def test_hand_case_thresholds_and_reference_quirk():
    # region 0 = columns 0-1 labelled {0, 1}; region 1 = columns 2-3 unlabelled
    region_map = np.array([[0, 0, 1, 1], [0, 0, 1, 1]])
    features = _image([[(1, 0), (0, 1), (0.75, 0), (0.5, 0.5)],
                       [(0.5, 0), (0, 0.25), (0, 0.25), (0.25, 0.5)]])
    probs = np.full((3, 2, 4), 0.1, dtype=np.float32)
    probs[0, 0, 0] = probs[1, 0, 1] = 0.9  # prototypes: mu_0 = (1, 0), mu_1 = (0, 1)
    probs[2, 1, 0] = 0.5
    multihot = np.array([[True, True, False], [False, False, False]])
    adjacency = np.array([[0, 1]])
    # sigma: class 0 pixels {1, 0.5} -> theta_0 = 0.5; class 1 {1, 0.25} -> theta_1 = 0.25
    local = [[0, 1, 255, 255], [0, 1, 255, 255]]
    # (0.75, 0): 0.75 > 0.5 -> 0.  (0.5, 0.5): only mu_1 passes (0.5 > 0.25) but the argmax
    # over all prototypes ties at 0.5 -> class 0 (reference); clean: the winner mu_0 fails.
    # (0, 0.25): 0.25 is not > 0.25 -> none.  (0.25, 0.5): 0.5 > 0.25 -> 1.
    reference = [[0, 1, 0, 0], [0, 1, 255, 1]]
    clean = [[0, 1, 0, 255], [0, 1, 255, 1]]
    run = lambda **kw: localize_and_expand(features, probs, region_map, multihot,  # noqa: E731
                                           adjacency, **kw).tolist()
    assert run(expand=False) == local
    assert run(rule="reference") == reference
    assert run(rule="clean") == clean
    assert naive_labels(probs, region_map, multihot).tolist() == [[0, 1, 255, 255],
                                                                 [0, 0, 255, 255]]
    assert naive_labels(probs, region_map, multihot, restrict=False).tolist() == [
        [0, 1, 255, 255], [2, 0, 255, 255]]


def test_hand_case_overlap_highest_region_wins():
    # 1 x 6: region 0 {0} | region 1 unlabelled | region 2 {1}; both sources accept pixel 2
    region_map = np.array([[0, 0, 1, 1, 2, 2]])
    features = _image([[(1, 0), (0.5, 0), (0.875, 0.75), (0.25, 0.25), (0, 1), (0, 0.5)]])
    probs = np.zeros((3, 1, 6), dtype=np.float32)
    probs[0, 0, 0] = probs[1, 0, 4] = 1.0
    multihot = np.array([[1, 0, 0], [0, 0, 0], [0, 1, 0]], dtype=bool)
    adjacency = np.array([[0, 1], [1, 2]])
    # theta = 0.5 for both; pixel 2: 0.875 vs mu_0 (accepted), 0.75 vs mu_1 (accepted)
    got = lambda rule: localize_and_expand(features, probs, region_map, multihot,  # noqa: E731
                                           adjacency, rule=rule).tolist()
    assert got("reference") == [[0, 0, 1, 255, 1, 1]]  # region 2 wins by id
    assert got("clean") == [[0, 0, 0, 255, 1, 1]]  # the most similar prototype wins


def test_hand_case_sources_multi_labels_single_class_regions_by_expansion_only():
    # 1 x 6: region 0 {0} (single) | region 1 {0, 1} (multi) | region 2 unlabelled
    region_map = np.array([[0, 0, 1, 1, 2, 2]])
    features = _image([[(2, 0), (0.25, 0.25), (1, 0), (0, 1), (0.9, 0), (0, 0.2)]])
    probs = np.zeros((3, 1, 6), dtype=np.float32)
    probs[0, 0, 2] = probs[1, 0, 3] = 1.0
    multihot = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 0]], dtype=bool)
    adjacency = np.array([[0, 1], [1, 2]])
    run = lambda sources, expand: pseudo_label_image(  # noqa: E731
        "prototype", features, probs, region_map, multihot, adjacency, expand=expand,
        sources=sources).tolist()
    # all: region 0 keeps its class; region 1 localises to 0 | 1 (theta 1 and 1).
    assert run("all", False) == [[0, 0, 0, 1, 255, 255]]
    # multi without expansion: region 0 is no source and no label.
    assert run("multi", False) == [[255, 255, 0, 1, 255, 255]]
    # multi with expansion: thresholds are 1.0 each (one pixel per class), so only
    # similarities above 1 pass: region 0's (2, 0) gets 0 from mu_0, its (0.25, 0.25) stays
    # unlabelled although the region was bought; region 2 gets nothing.
    assert run("multi", True) == [[0, 255, 0, 1, 255, 255]]
    with pytest.raises(ValueError, match="sources"):
        run("some", False)


def test_multi_class_rows():
    from actseg.pseudo import multi_class_rows

    rows = multi_class_rows(np.array([[1, 0, 0], [1, 1, 0], [0, 0, 0], [0, 1, 1]], bool))
    assert rows.tolist() == [[False] * 3, [True, True, False], [False] * 3,
                             [False, True, True]]


def test_hand_case_prototype_winning_no_pixel():
    # mu_1 = (0.5, 0.25) loses to mu_0 = (1, 0) even on its own pixel: theta_1 = 1.0
    region_map = np.array([[0, 0, 1, 1, 1]])
    features = _image([[(1, 0), (0.5, 0.25), (0.25, 1), (0.625, 2), (0, 8)]])
    probs = np.zeros((2, 1, 5), dtype=np.float32)
    probs[0, 0, 0] = probs[1, 0, 1] = 1.0
    multihot = np.array([[1, 1], [0, 0]], dtype=bool)
    adjacency = np.array([[0, 1]])
    run = lambda rule: localize_and_expand(features, probs, region_map, multihot,  # noqa: E731
                                           adjacency, rule=rule).tolist()
    # (0.25, 1): 0.25 <= theta_0 = 0.5 and 0.375 <= 1.0 -> none.
    # (0.625, 2): mu_0 gives 0.625 > 0.5 (accepted) but mu_1 is more similar (0.8125):
    # the reference labels it 1; clean rejects it because mu_1 fails theta_1 = 1.0.
    # (0, 8): 2.0 against mu_1 beats the literal 1.0 (non-unit features) -> 1 in both.
    assert run("reference") == [[0, 0, 255, 1, 1]]
    assert run("clean") == [[0, 0, 255, 255, 1]]


# ----------------------------------------------------------------------- pieces, inputs


def test_segment_lower_median_matches_torch_median():
    gen = torch.Generator().manual_seed(0)
    values = torch.randint(0, 5, (200,), generator=gen).float()
    segment = torch.randint(0, 12, (200,), generator=gen)
    segment[segment == 7] = 8  # segment 7 empty
    got = segment_lower_median(values, segment, 13, empty=1.0)
    for s in range(13):
        chunk = values[segment == s]
        assert got[s] == (torch.median(chunk) if len(chunk) else 1.0)


def test_torch_inputs_and_float64_match_numpy():
    features, probs, region_map, multihot, adjacency = random_case(3)
    a = localize_and_expand(features, probs, region_map, multihot, adjacency)
    b = localize_and_expand(torch.from_numpy(features).double(), torch.from_numpy(probs),
                            torch.from_numpy(region_map), torch.from_numpy(multihot),
                            torch.from_numpy(adjacency))
    assert a.dtype == torch.uint8 and a.shape == region_map.shape
    assert torch.equal(a, b)


def test_no_labelled_region_gives_all_ignore():
    features, probs, region_map, multihot, adjacency = random_case(0)
    multihot[:] = False
    for method in ("prototype", "naive", "naive_all"):
        out = pseudo_label_image(method, features, probs, region_map, multihot, adjacency)
        assert (out == IGNORE).all()


def test_bad_inputs_are_named():
    features, probs, region_map, multihot, adjacency = random_case(0)
    with pytest.raises(ValueError, match="region ids"):
        localize_and_expand(features, probs, region_map, multihot[:3], adjacency)
    with pytest.raises(ValueError, match="features"):
        localize_and_expand(features[:, :4], probs, region_map, multihot, adjacency)
    with pytest.raises(ValueError, match="rule"):
        localize_and_expand(features, probs, region_map, multihot, adjacency, rule="best")
    with pytest.raises(ValueError, match="method"):
        pseudo_label_image("magic", features, probs, region_map, multihot, adjacency)


# ------------------------------------------------------------------------- diagnostics


def test_quality_row_by_hand():
    names = ["road", "car"]  # C = 2; pseudo 2 = undefined, 255 = none; truth 255 = void
    truth = np.array([0, 0, 0, 1, 1, 255, 255, 255])
    pseudo = np.array([0, 0, 1, 1, 255, 2, 0, 255])
    conf = quality_confusion(pseudo, truth, num_classes=2)
    assert conf.shape == (3, 4) and conf.sum() == 8
    row = quality_row(conf, names)
    assert row["pixels"] == 8 and row["labelled_pixels"] == 6
    assert row["coverage"] == pytest.approx(6 / 8)
    assert row["accuracy"] == pytest.approx(3 / 4)  # void truth excluded: 4 labelled
    assert row["precision_road"] == pytest.approx(1.0)  # (0-on-void not counted)
    assert row["recall_road"] == pytest.approx(2 / 3)
    assert row["precision_car"] == pytest.approx(1 / 2)
    assert row["recall_car"] == pytest.approx(1 / 2)
    assert row["precision_undefined"] == pytest.approx(1.0)
    assert row["recall_undefined"] == pytest.approx(1 / 3)
    assert row["mean_precision"] == pytest.approx(0.75)
