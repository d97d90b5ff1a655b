"""Greedy budget fill (docs/method.md §3) and the round's label state."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from actseg.budget import advance, empty_state, fill_budget, ranking
from actseg.stores import OracleTable


def brute_fill(scores, cost, labelled, budget):
    """The reference loop: walk the ranking, add the cost, stop once the total exceeds B."""
    items = [(-scores[n, r], n, r) for n in range(scores.shape[0]) for r in range(scores.shape[1])
             if cost[n, r] > 0 and not labelled[n, r] and scores[n, r] > -np.inf]
    selected = np.zeros(scores.shape, dtype=bool)
    spent = 0
    for _, n, r in sorted(items):
        selected[n, r] = True
        spent += cost[n, r]
        if spent > budget:
            break
    return selected


def test_matches_reference_loop_on_random_pools():
    rng = np.random.default_rng(0)
    for _ in range(50):
        shape = (3, 9)
        scores = rng.integers(0, 4, shape).astype(np.float32)  # many ties
        cost = rng.integers(0, 4, shape)
        labelled = rng.random(shape) < 0.3
        budget = int(rng.integers(1, 20))
        got = fill_budget(scores, cost, labelled, budget)
        assert np.array_equal(got, brute_fill(scores, cost, labelled, budget))


def test_crossing_region_is_kept_and_exact_budget_takes_one_more():
    scores = np.array([[0.9, 0.8, 0.7, 0.6]])
    cost = np.array([[2, 2, 3, 1]])
    none = np.zeros_like(cost, dtype=bool)
    assert fill_budget(scores, cost, none, 3).tolist() == [[True, True, False, False]]
    # total reaches exactly 4 after two regions: not exceeded yet, the third is taken
    assert fill_budget(scores, cost, none, 4).tolist() == [[True, True, True, False]]


def test_ties_break_by_image_then_region():
    scores = np.full((2, 3), 0.5, dtype=np.float32)
    images, regions = ranking(scores, np.ones((2, 3), dtype=bool))
    assert list(zip(images, regions)) == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    cost = np.ones((2, 3), dtype=int)
    sel = fill_budget(scores, cost, np.zeros((2, 3), bool), 1)
    assert sel.tolist() == [[True, True, False], [False, False, False]]


def test_budget_smaller_than_first_cost_still_takes_it(caplog):
    scores = np.array([[0.1, 0.9]])
    cost = np.array([[1, 5]])
    with caplog.at_level(logging.INFO, logger="actseg.budget"):
        sel = fill_budget(scores, cost, np.zeros((1, 2), bool), 2)
    assert sel.tolist() == [[False, True]]
    assert "smaller than the cost of the top-ranked region" in caplog.text


def test_pool_exhausted_takes_everything_left(caplog):
    scores = np.array([[0.3, -np.inf, 0.2], [0.1, 0.4, 0.5]], dtype=np.float32)
    cost = np.array([[1, 0, 2], [1, 1, 1]])
    labelled = np.array([[False, False, False], [True, False, False]])
    with caplog.at_level(logging.INFO, logger="actseg.budget"):
        sel = fill_budget(scores, cost, labelled, 100)
    assert sel.tolist() == [[True, False, True], [False, True, True]]
    assert "pool exhausted" in caplog.text


def test_absent_and_labelled_never_selected(caplog):
    rng = np.random.default_rng(1)
    scores = rng.random((4, 6)).astype(np.float32)
    cost = rng.integers(0, 3, (4, 6))
    scores[cost == 0] = 10.0  # an absent id with a high score is still never taken
    labelled = rng.random((4, 6)) < 0.5
    scores[labelled] = 5.0
    sel = fill_budget(scores, cost, labelled, 10**6)
    assert not (sel & labelled).any() and not (sel & (cost == 0)).any()
    assert np.array_equal(sel, (cost > 0) & ~labelled)
    with caplog.at_level(logging.WARNING, logger="actseg.budget"):
        assert not fill_budget(scores, cost, np.ones_like(labelled), 5).any()
    assert "nothing selected" in caplog.text


def test_bad_input():
    ok = np.zeros((1, 2))
    with pytest.raises(ValueError, match="shape"):
        fill_budget(ok, np.zeros((1, 3)), np.zeros((1, 2), bool), 1)
    with pytest.raises(ValueError, match="NaN"):
        fill_budget(np.array([[np.nan, 0]]), np.ones((1, 2)), np.zeros((1, 2), bool), 1)
    with pytest.raises(ValueError, match="positive"):
        fill_budget(ok, np.ones((1, 2)), np.zeros((1, 2), bool), 0)


def oracle_table() -> OracleTable:
    """C = 3: bit 3 is undefined. Region (0, 2) absent."""
    multihot = np.array([[0b0001, 0b0110, 0, 0b1011], [0b0100, 0b1111, 0b0001, 0b0010]],
                        dtype=np.uint32)
    dominant = np.array([[0, 1, 255, 3], [2, 0, 0, 1]], dtype=np.uint8)
    area = np.where(multihot > 0, 10, 0).astype(np.int32)
    return OracleTable(multihot, dominant, area, area.copy(), num_classes=3)


@pytest.mark.parametrize("labelling, clicks",
                         [("multiclass", [1, 2, 0, 3]), ("dominant", [1, 1, 0, 1])])
def test_cost_accounting(labelling, clicks):
    table = oracle_table()
    cost = table.cost(labelling)
    assert cost[0].tolist() == clicks
    scores = np.array([[0.9, 0.8, 0.0, 0.7], [0.1, 0.2, 0.3, 0.4]], dtype=np.float32)
    sel = fill_budget(scores, cost, np.zeros(cost.shape, bool), 2)
    state = advance(empty_state(cost.shape, labelling), sel, cost, scores, "random")
    assert state.clicks_per_round == [int(cost[sel].sum())]
    expected = {"multiclass": [[True, True, False, False], [False] * 4],  # 1 + 2 > 2 -> stop
                "dominant": [[True, True, False, True], [False] * 4]}[labelling]
    assert sel.tolist() == expected


def test_advance_keeps_history_and_masks_scores():
    cost = np.array([[1, 2, 0], [1, 1, 1]])
    state = empty_state(cost.shape, "multiclass")
    first = np.array([[True, False, False], [False, False, True]])
    scores1 = np.array([[0.5, 0.4, 0.3], [0.2, 0.1, 0.9]], dtype=np.float32)
    state = advance(state, first, cost, scores1, "random", {"seed": 0})
    assert state.round == 1 and state.labelled_round.tolist() == [[1, 0, 0], [0, 0, 1]]
    assert np.isneginf(state.scores[0, 2])
    second = np.array([[False, True, False], [True, False, False]])
    state2 = advance(state, second, cost, scores1, "pixbal")
    assert state2.labelled_round.tolist() == [[1, 2, 0], [2, 0, 1]]
    assert state2.clicks_per_round == [2, 3] and state2.regions_per_round == [2, 2]
    assert np.isneginf(state2.scores[[0, 1], [0, 2]]).all()  # labelled in round 1: not rankable
    assert state2.scores[0, 1] == np.float32(0.4)
    with pytest.raises(ValueError, match="earlier round"):
        advance(state2, first, cost, scores1, "pixbal")
