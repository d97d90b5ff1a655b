"""The budget walk over a round's answers, the simulated fill (`actseg.budget.fill_budget`)
with clicks known only once a query is answered.

Walking the queue in rank order, a query is needed while the clicks before it are at most
the budget B; so the query whose answer crosses B is kept, as in the simulated fill. An
unanswered query costs at least one click, so the walk counts it as one: the queries it
meets unanswered before the running lower bound passes B are the round's open queries. The
round is complete when none is open; then the kept queries are exactly those the simulated
fill takes when the answers equal the oracle's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping


@dataclass(frozen=True)
class Progress:
    kept: list[int]  # ranks of the answered queries the round keeps, best first
    open: list[int]  # ranks of unanswered queries the round still needs (at least)
    spent: int  # clicks of the kept answers
    budget: int

    @property
    def complete(self) -> bool:
        return not self.open

    @property
    def clicks_open(self) -> int:
        """Clicks still needed at least: up to crossing the budget, at least one per open
        query."""
        return 0 if self.complete else max(self.budget + 1 - self.spent, len(self.open))


def walk(clicks: Mapping[int, int], length: int, budget: int) -> Progress:
    """`clicks`: rank -> clicks of its (first) answer, for the answered queries of a queue of
    `length`."""
    kept, open_, spent, bound = [], [], 0, 0
    for rank in range(length):
        if bound > budget:
            break
        if rank in clicks:
            kept.append(rank)
            spent += clicks[rank]
            bound += clicks[rank]
        else:
            open_.append(rank)
            bound += 1
    return Progress(kept, open_, spent, budget)
