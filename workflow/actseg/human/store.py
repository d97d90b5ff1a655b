"""The answer store of the human oracle: the survey's SQLite store (`actseg.survey.store`:
participants with tokens, one row per answer with its clicks and time, written durably
before the server replies) plus a `leases` table, which query was handed to whom and when.

A query id names the round (`r{t}-...`), so one store serves every round of an experiment.
The first answer to a query (by submission time) labels the region; a second one, of
another annotator, is a repeat for the agreement report.
"""

from __future__ import annotations

import time

from actseg.survey.store import Answer, AnswerStore

LEASES = """
CREATE TABLE IF NOT EXISTS leases (
    question TEXT NOT NULL,
    participant TEXT NOT NULL REFERENCES participants (participant),
    leased_at REAL NOT NULL,  -- Unix time of the latest hand-out
    PRIMARY KEY (question, participant)
);
"""
LEASE_SECONDS = 600  # a query handed out and unanswered this long goes to someone else


def annotator_id(index: int) -> str:
    return f"a{index + 1:02d}"


class QueueStore(AnswerStore):
    def __init__(self, path):
        super().__init__(path)
        with self._transaction() as conn:
            conn.executescript(LEASES)

    def lease(self, question: str, participant: str, now: float | None = None) -> None:
        with self._transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO leases (question, participant, leased_at) "
                         "VALUES (?, ?, ?)", (question, participant, now or time.time()))

    def leases(self) -> dict[str, dict[str, float]]:
        """{question: {participant: leased_at}}."""
        with self._transaction() as conn:
            rows = conn.execute("SELECT question, participant, leased_at FROM leases")
            out: dict[str, dict[str, float]] = {}
            for question, participant, at in rows:
                out.setdefault(question, {})[participant] = at
            return out

    def round_answers(self, form: str) -> dict[str, list[Answer]]:
        """{question: its answers, first submitted first} of one round's form."""
        grouped: dict[str, list[Answer]] = {}
        for answer in sorted((a for a in self.answers() if a.form == form),
                             key=lambda a: (a.submitted_at, a.participant)):
            grouped.setdefault(answer.question, []).append(answer)
        return grouped
