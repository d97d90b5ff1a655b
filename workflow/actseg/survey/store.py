"""The answer store: one SQLite file (standard library `sqlite3`, embedded, no server).

Tables: `participants` (id, the secret token of its personal link) and `answers` (one row
per participant and question: the selected classes, clicks, option toggles, milliseconds
from showing the question to submitting it). Every write is one transaction on a connection
of its own, in WAL mode with `synchronous=FULL`: a submitted answer is on disk when the
server replies, so a killed server loses none. The primary key (participant, question)
makes a resubmission (reload, double click, a retry after a lost reply) a no-op: the first
answer stays. Statements are parameterised only.

Nothing here knows about forms: a question is an id, so the store serves any front end that
asks people questions about regions.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

SCHEMA = """
CREATE TABLE IF NOT EXISTS participants (
    participant TEXT PRIMARY KEY,
    token TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS answers (
    participant TEXT NOT NULL REFERENCES participants (participant),
    question TEXT NOT NULL,
    form TEXT NOT NULL,
    classes TEXT NOT NULL,        -- JSON list of class ids, ascending
    clicks INTEGER NOT NULL,      -- one per selected class, as the paper counts
    toggles INTEGER NOT NULL,     -- every select and unselect of an option
    elapsed_ms INTEGER NOT NULL,  -- from showing the question to submitting it
    submitted_at REAL NOT NULL,   -- Unix time
    PRIMARY KEY (participant, question)
);
"""


@dataclass(frozen=True)
class Answer:
    participant: str
    question: str
    form: str
    classes: tuple[int, ...]
    clicks: int
    toggles: int
    elapsed_ms: int
    submitted_at: float = 0.0


class AnswerStore:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._transaction() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(SCHEMA)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """A connection of its own, committed on success and rolled back on error."""
        conn = sqlite3.connect(self.path, timeout=30)
        try:
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            with conn:
                yield conn
        finally:
            conn.close()

    # ---------------------------------------------------------------- participants

    def add_participants(self, participants: Iterable[str]) -> None:
        """Give each participant without one a fresh random token (kept across restarts)."""
        now = time.time()
        with self._transaction() as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO participants (participant, token, created_at) "
                "VALUES (?, ?, ?)",
                [(p, secrets.token_urlsafe(16), now) for p in participants])

    def tokens(self) -> dict[str, str]:
        """{participant: token}."""
        with self._transaction() as conn:
            rows = conn.execute("SELECT participant, token FROM participants ORDER BY participant")
            return dict(rows.fetchall())

    def participant_of(self, token: str) -> str | None:
        with self._transaction() as conn:
            row = conn.execute("SELECT participant FROM participants WHERE token = ?",
                               (token,)).fetchone()
        return row[0] if row else None

    # --------------------------------------------------------------------- answers

    def record(self, answer: Answer) -> bool:
        """Store `answer` unless the participant answered the question before; True if
        stored."""
        with self._transaction() as conn:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO answers (participant, question, form, classes, clicks, "
                "toggles, elapsed_ms, submitted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (answer.participant, answer.question, answer.form,
                 json.dumps(sorted(answer.classes)), answer.clicks, answer.toggles,
                 answer.elapsed_ms, answer.submitted_at or time.time()))
            return cursor.rowcount == 1

    def answered(self, participant: str) -> set[str]:
        with self._transaction() as conn:
            rows = conn.execute("SELECT question FROM answers WHERE participant = ?",
                                (participant,))
            return {r[0] for r in rows}

    def answers(self) -> list[Answer]:
        with self._transaction() as conn:
            rows = conn.execute(
                "SELECT participant, question, form, classes, clicks, toggles, elapsed_ms, "
                "submitted_at FROM answers ORDER BY participant, submitted_at").fetchall()
        return [Answer(p, q, f, tuple(json.loads(c)), clicks, toggles, ms, at)
                for p, q, f, c, clicks, toggles, ms, at in rows]
