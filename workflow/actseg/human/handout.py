"""Which query an annotator gets next, in this order:

1. the query it holds (handed to it, not answered by it, lease not expired): a reload
   shows the same query again;
2. a repeat: a kept query marked `doubled`, answered once by someone else, not yet
   repeated and not held by another annotator;
3. the best-ranked open query (`progress.open`) not held by another annotator.

Open queries stop once the walk's lower bound passes the budget, so no query beyond the
budget is handed out; while several people label at once, a query can turn out surplus
when earlier ones cost more than one click (it is stored, and the round does not use it).
"""

from __future__ import annotations

from typing import Iterable

from actseg.human.progress import Progress
from actseg.human.queue import QueryQueue
from actseg.human.store import LEASE_SECONDS
from actseg.survey.store import Answer


def held_by_other(leases: dict[str, float], answerers: set[str], participant: str,
                  now: float) -> bool:
    """Another annotator holds the query: handed to it lately and not answered by it."""
    return any(p != participant and p not in answerers and now - at < LEASE_SECONDS
               for p, at in leases.items())


def next_query(queue: QueryQueue, progress: Progress, answers: dict[str, list[Answer]],
               leases: dict[str, dict[str, float]], participant: str, now: float
               ) -> str | None:
    def answerers(question):
        return {a.participant for a in answers.get(question, [])}

    def free(question):
        return not held_by_other(leases.get(question, {}), answerers(question), participant,
                                 now)

    held = [q for q, holders in leases.items()
            if now - holders.get(participant, -LEASE_SECONDS) < LEASE_SECONDS
            and queue.rank_of(q) is not None and participant not in answerers(q)
            and len(answerers(q)) < 2]
    repeats = (queue.id(r) for r in progress.kept if queue.doubled[r])
    repeats = (q for q in repeats if len(answerers(q)) == 1 and participant not in answerers(q))
    fresh = (queue.id(r) for r in progress.open)
    return first([*held[:1]], (q for q in repeats if free(q)), (q for q in fresh if free(q)))


def first(*sources: Iterable[str]) -> str | None:
    return next((q for source in sources for q in source), None)
