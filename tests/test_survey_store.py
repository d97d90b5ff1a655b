"""The SQLite answer store: tokens kept across reopenings, one answer per participant and
question (a resubmission keeps the first), answers on disk after each call."""

from __future__ import annotations

import sqlite3

from actseg.survey.store import Answer, AnswerStore


def answer(question="q1", classes=(2, 0), elapsed_ms=1500) -> Answer:
    return Answer("p01", question, "c2-multiclass", classes, len(classes), 3, elapsed_ms)


def test_tokens_are_random_unique_and_kept(tmp_path):
    store = AnswerStore(tmp_path / "a.sqlite")
    store.add_participants(["p01", "p02"])
    tokens = store.tokens()
    assert set(tokens) == {"p01", "p02"} and len(set(tokens.values())) == 2
    assert all(len(t) >= 20 for t in tokens.values())
    again = AnswerStore(tmp_path / "a.sqlite")
    again.add_participants(["p01", "p02", "p03"])
    assert {p: t for p, t in again.tokens().items() if p != "p03"} == tokens
    assert again.participant_of(tokens["p02"]) == "p02"
    assert again.participant_of("nope") is None


def test_first_answer_wins_and_is_on_disk(tmp_path):
    store = AnswerStore(tmp_path / "a.sqlite")
    store.add_participants(["p01"])
    assert store.record(answer()) is True
    assert store.record(answer(classes=(1,), elapsed_ms=99)) is False
    assert store.answered("p01") == {"q1"}
    with sqlite3.connect(tmp_path / "a.sqlite") as conn:  # another connection sees it
        rows = conn.execute("SELECT classes, clicks, toggles, elapsed_ms FROM answers").fetchall()
    assert rows == [("[0, 2]", 2, 3, 1500)]
    (stored,) = AnswerStore(tmp_path / "a.sqlite").answers()
    assert stored.classes == (0, 2) and stored.submitted_at > 0


def test_unknown_participant_is_refused(tmp_path):
    store = AnswerStore(tmp_path / "a.sqlite")
    try:
        store.record(answer())
    except sqlite3.IntegrityError:
        pass
    else:
        raise AssertionError("an answer of an unknown participant was stored")
    assert store.answers() == []
