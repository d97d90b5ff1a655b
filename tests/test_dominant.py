"""Dominant answers (issue 12 item 5, docs/method.md §2): dominant.void ignore | vote | class
x dominant.rule argmax | sample, on a region map small enough to answer by hand."""

from __future__ import annotations

import numpy as np
import pytest

from actseg.oracle import label_regions
from actseg.stores import (NO_LABEL, DominantRule, OracleTable, StoreError, read_oracle,
                           write_oracle)

V = 255  # void in ground truth
C = 3  # classes 0, 1, 2; u = 3
U = C

# one region per row (ids 0, 1, 2, 3, 5; id 4 absent), five pixels each
GT = np.array([
    [0, 0, 1, V, V],  # r0: 0 x2, 1 x1, void x2
    [V, V, V, 1, 2],  # r1: void x3, 1, 2
    [V, V, V, V, V],  # r2: all void
    [2, 2, 1, 1, 0],  # r3: tie 1 / 2
    [0, 0, 0, 0, 0],  # r5: one class
], dtype=np.uint8)
REGIONS = np.array([[0] * 5, [1] * 5, [2] * 5, [3] * 5, [5] * 5])


def table(has_undefined: bool = True) -> OracleTable:
    out = label_regions(GT, REGIONS, C, trim_width=0, has_undefined=has_undefined)
    return OracleTable(out.multihot[None], out.dominant[None], out.area[None],
                       out.trimmed_area[None], C, {}, has_undefined, out.hist_sizes[None],
                       out.hist_classes, out.hist_counts)


def answers(void: str, rule: str = "argmax", seed: int = 0, has_undefined: bool = True):
    return table(has_undefined).dominant_classes(DominantRule(void, rule, seed))[0].tolist()


N = NO_LABEL
BY_HAND = {  # r0, r1, r2, r3, (absent), r5
    "ignore": [0, 1, N, 1, N, 0],  # r1: 1 and 2 tie over the non-void pixels -> 1
    "vote": [0, N, N, 1, N, 0],  # r0: 0 and void tie -> the class; r1: void wins
    "class": [0, U, U, 1, N, 0],
}


@pytest.mark.parametrize("void", BY_HAND)
def test_argmax_by_hand(void):
    assert answers(void) == BY_HAND[void]


def test_histogram_is_sparse_and_in_class_order():
    out = label_regions(GT, REGIONS, C, trim_width=0)
    assert out.hist_sizes.tolist() == [3, 3, 1, 3, 0, 1]
    assert out.hist_classes.tolist() == [0, 1, U, 1, 2, U, U, 0, 1, 2, 0]
    assert out.hist_counts.tolist() == [2, 1, 2, 1, 1, 3, 5, 1, 2, 2, 5]


def test_without_the_undefined_class_void_is_never_an_answer():
    """VOC: no u bit in the multi-class answer, and class means vote."""
    assert answers("class", has_undefined=False) == BY_HAND["vote"]
    assert answers("ignore", has_undefined=False) == BY_HAND["ignore"]
    voc = table(has_undefined=False)
    assert not (voc.multihot >> np.uint32(C) & 1).any()
    assert voc.cost("multiclass")[0].tolist() == [2, 2, 0, 3, 0, 1]  # u no click
    assert table().cost("multiclass")[0].tolist() == [3, 3, 1, 3, 0, 1]
    assert voc.cost("dominant")[0].tolist() == [1, 1, 1, 1, 0, 1]  # one click, as before


def test_label_sets_give_one_bit_or_none_and_the_stored_answer_without_a_rule():
    t = table()
    bits = t.label_sets("dominant", DominantRule("ignore", "argmax"))[0].tolist()
    assert bits == [1, 2, 0, 2, 0, 1]
    assert t.label_sets("dominant")[0].tolist() == [1, 1 << U, 1 << U, 2, 0, 1]  # stored


@pytest.mark.parametrize("void", BY_HAND)
def test_sample_is_seeded_and_deterministic(void):
    a, b = answers(void, "sample", 7), answers(void, "sample", 7)
    assert a == b
    draws = {tuple(answers(void, "sample", s)) for s in range(40)}
    assert len(draws) > 1  # the seed matters
    for draw in draws:  # one-class regions and absent ids never vary
        assert draw[4] == N and draw[5] == 0


def test_sample_frequencies_follow_pixel_counts():
    seeds = 3000
    drawn = np.array([answers("class", "sample", s) for s in range(seeds)])
    r0 = np.bincount(drawn[:, 0], minlength=U + 1) / seeds  # 0 x2, 1 x1, void x2
    r1 = np.bincount(drawn[:, 1], minlength=U + 1) / seeds  # void x3, 1, 2
    r3 = np.bincount(drawn[:, 3], minlength=U + 1) / seeds  # 0, 1 x2, 2 x2
    tol = 4 * np.sqrt(0.25 / seeds)  # 4 sigma
    np.testing.assert_allclose(r0, [0.4, 0.2, 0, 0.4], atol=tol)
    np.testing.assert_allclose(r1, [0, 0.2, 0.2, 0.6], atol=tol)
    np.testing.assert_allclose(r3, [0.2, 0.4, 0.4, 0], atol=tol)
    assert (drawn[:, 2] == U).all()  # all void: always u under class


def test_sample_under_ignore_draws_over_the_non_void_pixels_only():
    seeds = 3000
    drawn = np.array([answers("ignore", "sample", s) for s in range(seeds)])
    tol = 4 * np.sqrt(0.25 / seeds)
    r0 = np.bincount(drawn[:, 0], minlength=U + 1) / seeds  # 0 x2, 1 x1 (void x2 left out)
    r1 = np.bincount(drawn[:, 1], minlength=U + 1) / seeds  # 1, 2 (void x3 left out)
    np.testing.assert_allclose(r0, [2 / 3, 1 / 3, 0, 0], atol=tol)
    np.testing.assert_allclose(r1, [0, 0.5, 0.5, 0], atol=tol)
    assert (drawn[:, 2] == N).all()  # all void: nothing to draw


def test_sample_void_draw_answers_nothing_under_vote():
    for seed in range(200):
        cls = answers("class", "sample", seed)
        assert answers("vote", "sample", seed) == [N if c == U else c for c in cls]


def test_oracle_store_round_trip_and_an_old_table_without_histograms(tmp_path):
    path = tmp_path / "oracle.h5"
    write_oracle(path, table(has_undefined=False))
    back = read_oracle(path)
    assert back.has_undefined is False and back.num_channels == C
    for void in BY_HAND:
        for rule in ("argmax", "sample"):
            rule_ = DominantRule(void, rule, 3)
            assert (back.dominant_classes(rule_) == table(False).dominant_classes(rule_)).all()
    old = table()
    old.hist_sizes = old.hist_classes = old.hist_counts = None
    with pytest.raises(StoreError, match="rebuild"):
        old.dominant_classes(DominantRule("ignore", "argmax"))
    assert old.dominant_classes(DominantRule("class", "argmax"))[0].tolist() == BY_HAND["class"]


def test_bad_rule_names_are_rejected():
    with pytest.raises(ValueError, match="dominant.void"):
        DominantRule("maybe", "argmax")
    with pytest.raises(ValueError, match="dominant.rule"):
        DominantRule("ignore", "mode")
