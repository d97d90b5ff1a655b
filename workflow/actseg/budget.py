"""The click budget of a round (docs/method.md §3) and the round's label store.

Greedy fill, as the reference implementation walks its ranking: take the next region, add its
cost, stop once the running total **exceeds** the budget B. So a region is taken exactly when
the clicks spent before it are <= B; the region that crosses B is kept, and a round that lands
exactly on B still takes one more region. Done with one cumsum and one searchsorted.
"""

from __future__ import annotations

import logging
from typing import Sequence

import numpy as np

from actseg.stores import LabelState

log = logging.getLogger(__name__)
MAX_ROUND = int(np.iinfo(np.int8).max)  # labelled_round is int8


def ranking(scores: np.ndarray, candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(image, region) index arrays of the candidates, best first.

    Order: score descending, then image index ascending, then region id ascending (a total
    order, so the result is deterministic).
    """
    images, regions = np.nonzero(candidates)
    order = np.lexsort((regions, images, -scores[images, regions].astype(np.float64)))
    return images[order], regions[order]


def fill_budget(scores: np.ndarray, cost: np.ndarray, labelled: np.ndarray,
                budget: int) -> np.ndarray:
    """Bool (N, R_max) selection of this round.

    Candidates: present regions (cost > 0) that are not labelled and have a score > -inf.
    Absent and already-labelled regions are never selected.
    """
    scores, cost, labelled = np.asarray(scores), np.asarray(cost), np.asarray(labelled, bool)
    if not scores.shape == cost.shape == labelled.shape:
        raise ValueError(f"scores {scores.shape}, cost {cost.shape} and labelled "
                         f"{labelled.shape} must have the same (N, R_max) shape")
    if np.isnan(scores).any():
        raise ValueError("scores contain NaN")
    if (cost < 0).any():
        raise ValueError("costs must be >= 0")
    if budget <= 0:
        raise ValueError(f"budget must be a positive number of clicks, got {budget}")
    candidates = (cost > 0) & ~labelled & (scores > -np.inf)
    images, regions = ranking(scores, candidates)
    ranked_cost = cost[images, regions].astype(np.int64)
    spent_before = np.cumsum(ranked_cost) - ranked_cost
    taken = int(np.searchsorted(spent_before, budget, side="right"))
    _log_fill(ranked_cost, taken, budget)
    selected = np.zeros(scores.shape, dtype=bool)
    selected[images[:taken], regions[:taken]] = True
    return selected


def _log_fill(ranked_cost: np.ndarray, taken: int, budget: int) -> None:
    available = len(ranked_cost)
    if available == 0:
        log.warning("no unlabelled region left in the pool: nothing selected")
        return
    spent = int(ranked_cost[:taken].sum())
    if ranked_cost[0] > budget:
        log.info("budget %d is smaller than the cost of the top-ranked region (%d clicks); "
                 "that region is still taken", budget, int(ranked_cost[0]))
    if taken == available and spent <= budget:
        log.warning("pool exhausted: all %d remaining regions selected for %d clicks, "
                    "under the budget of %d", available, spent, budget)
    elif taken == available:
        log.info("the last of the pool's regions crossed the budget; the pool is now empty")
    log.info("selected %d of %d candidate regions for %d clicks (budget %d)",
             taken, available, spent, budget)


def empty_state(shape: tuple[int, int], labelling: str) -> LabelState:
    """The state before round 1: nothing labelled."""
    return LabelState(labelled_round=np.zeros(shape, dtype=np.int8),
                      scores=np.full(shape, -np.inf, dtype=np.float32), round=0,
                      labelling=labelling, acquisition="none", clicks_per_round=[],
                      regions_per_round=[])


def advance(previous: LabelState, selected: np.ndarray, cost: np.ndarray, scores: np.ndarray,
            acquisition: str, attrs: dict | None = None) -> LabelState:
    """Round t's state from round t-1's plus this round's selection.

    `scores` are stored as ranked this round: -inf where a region was not rankable (absent or
    labelled in an earlier round).
    """
    round_index = previous.round + 1
    if round_index > MAX_ROUND:
        raise ValueError(f"at most {MAX_ROUND} rounds fit the int8 labelled_round table")
    labelled = previous.labelled
    if (selected & labelled).any():
        raise ValueError("the selection contains regions labelled in an earlier round")
    if (selected & (cost <= 0)).any():
        raise ValueError("the selection contains absent regions (cost 0)")
    history = previous.labelled_round.astype(np.int8, copy=True)
    history[selected] = round_index
    stored = np.asarray(scores, dtype=np.float32).copy()
    stored[labelled | (cost <= 0)] = -np.inf
    return LabelState(
        labelled_round=history, scores=stored, round=round_index,
        labelling=previous.labelling, acquisition=acquisition,
        clicks_per_round=[*previous.clicks_per_round, int(cost[selected].sum())],
        regions_per_round=[*previous.regions_per_round, int(selected.sum())],
        attrs=dict(attrs or {}),
    )


def round_seed(seed: int, round_index: int) -> Sequence[int]:
    """Seed of round t's random draws: stable for (seed, t), independent across rounds."""
    return [int(seed), int(round_index)]
