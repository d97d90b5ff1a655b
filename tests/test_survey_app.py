"""The survey web application in process (no HTTP): routes, and every rejected input with
its status and message; the browser tests repeat the bad inputs over HTTP."""

from __future__ import annotations

import json

import pytest
from survey_fixtures import hand_survey

from actseg.survey.app import SurveyApp
from actseg.survey.store import AnswerStore


@pytest.fixture
def app(tmp_path):
    survey = hand_survey(tmp_path / "survey")
    store = AnswerStore(tmp_path / "answers.sqlite")
    store.add_participants(survey.plan)
    return SurveyApp(survey, store)


def token(app, participant="p01"):
    return app.store.tokens()[participant]


def post(app, body, participant="p01"):
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    response = app.handle("POST", f"/api/{token(app, participant)}/answer", data)
    return response.status, json.loads(response.body)


def good(**change):
    return {"question": "c2-multiclass-01", "classes": [0, 1], "elapsed_ms": 2500,
            "toggles": 3, **change}


def test_page_state_and_patch(app):
    page = app.handle("GET", f"/s/{token(app)}")
    assert page.status == 200 and b"/static/app.js" in page.body
    assert app.handle("GET", "/static/app.js").content_type.startswith("text/javascript")
    state = json.loads(app.handle("GET", f"/api/{token(app)}/state").body)
    assert [f["id"] for f in state["forms"]] == ["c1-dominant", "c2-multiclass", "c3-dominant"]
    assert [f["multiple"] for f in state["forms"]] == [False, True, False]
    assert state["forms"][1]["questions"] == ["c2-multiclass-01", "c2-multiclass-02"]
    assert state["class_names"] == ["road", "car", "sky", "tree"] and state["answered"] == []
    patch = app.handle("GET", f"/api/{token(app)}/patch/c1-dominant-02")
    assert patch.status == 200 and patch.body.startswith(b"\x89PNG")


def test_answer_is_stored_once_with_clicks(app):
    assert post(app, good()) == (200, {"stored": True, "question": "c2-multiclass-01"})
    assert post(app, good(classes=[3])) == (200, {"stored": False,
                                                 "question": "c2-multiclass-01"})
    (stored,) = app.store.answers()
    assert (stored.classes, stored.clicks, stored.toggles, stored.elapsed_ms) == \
        ((0, 1), 2, 3, 2500)
    state = json.loads(app.handle("GET", f"/api/{token(app)}/state").body)
    assert state["answered"] == ["c2-multiclass-01"]


BAD_ANSWERS = [
    (good(classes=[4]), 400, "a class id must be in 0..3, got 4"),
    (good(classes=[-1]), 400, "a class id must be in 0..3, got -1"),
    (good(classes=[True]), 400, "a class id must be an integer"),
    (good(classes=[]), 400, "non-empty list"),
    (good(classes=[1, 1], toggles=2), 400, "repeat"),
    (good(classes="0"), 400, "non-empty list"),
    (good(question="c1-dominant-01", classes=[0, 1]), 400, "takes exactly one class"),
    (good(question="c1-multiclass-01"), 403, "which is not one of your forms"),
    (good(question="../survey.json"), 404, "unknown question '../survey.json'"),
    (good(question=7), 404, "unknown question 7"),
    (good(elapsed_ms=-5), 400, "elapsed_ms must be in 0..86400000"),
    (good(elapsed_ms=1.5), 400, "elapsed_ms must be an integer"),
    (good(toggles=1), 400, "toggles must be in 2..10000"),
    ({**good(), "extra": 1}, 400, "exactly the fields"),
    (b"{not json", 400, "not JSON"),
    (b"x" * 5000, 413, "over 4096 bytes"),
]


@pytest.mark.parametrize("body, status, message", BAD_ANSWERS)
def test_bad_answers_are_rejected_with_a_message(app, body, status, message):
    code, data = post(app, body)
    assert code == status and message in data["error"]
    assert app.store.answers() == []


@pytest.mark.parametrize("path, status, message", [
    ("/api/not-a-token/state", 403, "unknown token"),
    ("/s/not-a-token", 403, "unknown token"),
    ("/api/{token}/patch/..%2F..%2Fsurvey.json", 404, "unknown question '../../survey.json'"),
    ("/api/{token}/patch/c1-multiclass-01", 403, "not one of your forms"),
    ("/static/..%2Fsurvey.py", 404, "no such page"),
    ("/", 404, "no such page"),
])
def test_bad_requests_are_rejected(app, path, status, message):
    response = app.handle("GET", path.format(token=token(app)))
    assert response.status == status and message in json.loads(response.body)["error"]


def test_a_foreign_token_cannot_answer(app):
    """p03's token does not answer p01's form, and p01's answer is not p03's."""
    code, data = post(app, good(), participant="p03")
    assert code == 403 and "not one of your forms" in data["error"]
