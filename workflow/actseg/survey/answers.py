"""Validation of one submitted answer: the request body, checked against the survey and the
participant's forms before anything reaches the store. Every rejection is an `InputError`
with the HTTP status and a message saying what was wrong.
"""

from __future__ import annotations

import json

from actseg.survey.forms import Form, Survey
from actseg.survey.store import Answer

MAX_BODY_BYTES = 4096
MAX_ELAPSED_MS = 24 * 3600 * 1000  # a day: anything longer is not one question's time
MAX_TOGGLES = 10_000
FIELDS = {"question", "classes", "elapsed_ms", "toggles"}


class InputError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _integer(value, name: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InputError(400, f"{name} must be an integer, got {value!r}")
    if not low <= value <= high:
        raise InputError(400, f"{name} must be in {low}..{high}, got {value}")
    return value


def parse_body(body: bytes) -> dict:
    if len(body) > MAX_BODY_BYTES:
        raise InputError(413, f"request body over {MAX_BODY_BYTES} bytes")
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise InputError(400, "request body is not JSON") from None
    if not isinstance(data, dict) or set(data) != FIELDS:
        raise InputError(400, f"the answer must be a JSON object with exactly the fields "
                              f"{sorted(FIELDS)}")
    return data


def form_of(survey: Survey, forms: tuple[str, ...], question_id) -> Form:
    """The participant's form holding `question_id`; 404 for an unknown question, 403 for a
    question of a form the participant does not answer."""
    question = survey.question(question_id) if isinstance(question_id, str) else None
    if question is None:
        raise InputError(404, f"unknown question {question_id!r}")
    if question.form not in forms:
        raise InputError(403, f"question {question_id!r} belongs to form {question.form!r}, "
                              "which is not one of your forms")
    return survey.forms[question.form]


def checked_classes(value, form: Form, num_classes: int) -> tuple[int, ...]:
    if not isinstance(value, list) or not value:
        raise InputError(400, "classes must be a non-empty list of class ids")
    classes = tuple(_integer(c, "a class id", 0, num_classes - 1) for c in value)
    if len(set(classes)) != len(classes):
        raise InputError(400, f"classes repeat an id: {list(classes)}")
    if not form.multiple and len(classes) != 1:
        raise InputError(400, f"form {form.id!r} takes exactly one class, got {len(classes)}")
    return tuple(sorted(classes))


def parse_answer(body: bytes, survey: Survey, participant: str) -> Answer:
    """The stored form of a valid answer; clicks are the number of selected classes."""
    data = parse_body(body)
    form = form_of(survey, survey.plan[participant], data["question"])
    classes = checked_classes(data["classes"], form, survey.num_classes)
    toggles = _integer(data["toggles"], "toggles", len(classes), MAX_TOGGLES)
    elapsed = _integer(data["elapsed_ms"], "elapsed_ms", 0, MAX_ELAPSED_MS)
    return Answer(participant, data["question"], form.id, classes, len(classes), toggles,
                  elapsed)
