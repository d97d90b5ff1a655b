"""A finished round's answers -> round{t}/labels.h5, in the simulated oracle's format: the
same `labelled_round` history and scores, the real clicks per round, and the label sets
people gave (`answers`, cumulative) for `answers.h5`.

While the round is not complete, `AnswersMissing` says how many queries and clicks are still
open and where to label; it never waits.
"""

from __future__ import annotations

import numpy as np

from actseg.budget import advance
from actseg.errors import ActsegError
from actseg.human.progress import Progress, walk
from actseg.human.queue import QueryQueue
from actseg.human.store import QueueStore
from actseg.stores import LabelState, OracleTable
from actseg.survey.store import Answer

ACQUISITION_ATTRS = ("budget", "kappa", "seed", "ban_undefined", "configured_method", "model",
                     "tau")


class AnswersMissing(ActsegError):
    """The round's answers are not complete yet."""


def bitmask(classes) -> int:
    return sum(1 << int(c) for c in classes)


def round_progress(queue: QueryQueue, answers: dict[str, list[Answer]]) -> Progress:
    clicks = {queue.rank_of(q): a[0].clicks for q, a in answers.items()
              if queue.rank_of(q) is not None}
    return walk(clicks, len(queue), queue.budget)


def missing_message(queue: QueryQueue, progress: Progress, url: str) -> str:
    return (f"round {queue.round}: the human oracle's answers are not complete: "
            f"{len(progress.open)} queries open, at least {progress.clicks_open} clicks to "
            f"go ({progress.spent} of the budget of {queue.budget} clicks answered, "
            f"{len(progress.kept)} queries kept). Label at {url.rstrip('/')}/ (start the "
            "server with `python -m actseg human serve` if it is not running), then rerun "
            "Snakemake.")


def human_state(previous: LabelState, pool: OracleTable, queue: QueryQueue,
                store: QueueStore, url: str) -> LabelState:
    """Round t's label state from the answers; AnswersMissing while the round is open."""
    answers = store.round_answers(queue.form)
    progress = round_progress(queue, answers)
    if not progress.complete:
        raise AnswersMissing(missing_message(queue, progress, url))
    images, regions = queue.image[progress.kept], queue.region[progress.kept]
    first = [answers[queue.id(r)][0] for r in progress.kept]
    selected = np.zeros(pool.area.shape, bool)
    selected[images, regions] = True
    cost = (pool.area > 0).astype(np.int64)  # unknown but >= 1 for an unasked region
    cost[images, regions] = [a.clicks for a in first]
    every_click = sum(a.clicks for q in answers.values() for a in q)
    attrs = {**{k: queue.attrs.get(k) for k in ACQUISITION_ATTRS}, "budget": queue.budget}
    state = advance(previous, selected, cost, queue.scores, queue.attrs["acquisition"],
                    attrs={**attrs, "oracle": "human", "clicks_answered": every_click,
                           "annotators": len({a.participant for a in first})})
    state.answers = (np.zeros(pool.area.shape, np.uint32) if previous.answers is None
                     else previous.answers.astype(np.uint32, copy=True))
    state.answers[images, regions] = [bitmask(a.classes) for a in first]
    return state
