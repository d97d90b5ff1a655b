"""The survey in a real browser: Debian's chromium driven by Playwright against the server
running as a process (`actseg survey serve`), on a survey built through the CLI.

- a scripted participant answers its forms from the ground truth with known delays: the
  stored answers, times (within tolerance), toggles and clicks are checked;
- two other participants answer at the same time: nothing is lost or mixed;
- the server is killed with SIGKILL mid-form and restarted: the participant resumes at the
  next question and every answer submitted before the kill is there;
- bad inputs over HTTP get clear messages and the server keeps serving;
- `actseg survey report` then writes Table 1.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest
from survey_browser import ScriptedParticipant, ServerProcess, browser, require_browser
from survey_fixtures import build_city_survey

from actseg.cli import main as actseg_main
from actseg.survey.forms import load_survey
from actseg.survey.store import AnswerStore

pytestmark = pytest.mark.slow
TOLERANCE_MS = 1500  # clicking and the round trip after the delay, on a loaded machine


@pytest.fixture(scope="module")
def survey_folder(tmp_path_factory):
    return build_city_survey(tmp_path_factory.mktemp("browser"), per_group=3, participants=4)


@pytest.fixture
def server(survey_folder, tmp_path):
    process = ServerProcess(survey_folder, tmp_path / "answers.sqlite")
    yield process
    process.stop()


def stored(db, participant):
    return {a.question: a for a in AnswerStore(db).answers() if a.participant == participant}


def http(method, url, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_scripted_participant_killed_server_and_resume(survey_folder, server, tmp_path):
    require_browser()
    survey = load_survey(survey_folder)
    first_form = survey.forms[survey.plan["p01"][0]]
    with browser() as chromium:
        participant = ScriptedParticipant(chromium.new_page(), server.links["p01"], survey)
        participant.open()
        assert participant.progress() == f"Form 1 of 3 · Question 1 of {len(first_form.questions)}"
        before_kill = [participant.answer(300, detour=first_detour(survey, first_form)),
                       participant.answer(600)]
        server.kill()
        assert set(stored(server.db, "p01")) == set(before_kill)  # on disk at the kill
        restarted = ServerProcess(survey_folder, server.db, server.port)
        try:
            participant.open()  # reload: resume at the first unanswered question
            assert participant.progress() == f"Form 1 of 3 · Question 3 of " \
                f"{len(first_form.questions)}"
            while not participant.finished():
                participant.answer(200)
        finally:
            restarted.stop()
    answers = stored(server.db, "p01")
    assert set(answers) == {q.id for f in survey.plan["p01"] for q in survey.forms[f].questions}
    for question, answer in answers.items():
        truth = survey.question(question).truth
        assert answer.classes == truth and answer.clicks == len(truth)
        delay = participant.delays[question]
        assert delay <= answer.elapsed_ms <= delay + TOLERANCE_MS, (question, answer)
    first = answers[before_kill[0]]
    assert first.toggles == len(first.classes) + (2 if first_form.multiple else 1)
    assert all(answers[q].toggles == len(answers[q].classes) for q in answers
               if q != before_kill[0])


def first_detour(survey, form):
    """A class not in the first question's truth, selected (and unselected) on the way."""
    truth = form.questions[0].truth
    return next(c for c in range(survey.num_classes) if c not in truth)


def test_two_participants_at_once_lose_and_mix_nothing(survey_folder, server):
    require_browser()
    survey = load_survey(survey_folder)
    with browser() as chromium:
        people = {p: ScriptedParticipant(chromium.new_page(), server.links[p], survey)
                  for p in ("p02", "p03")}
        for person in people.values():
            person.open()
        while not all(person.finished() for person in people.values()):
            for person in people.values():  # interleaved question by question
                if not person.finished():
                    person.answer(50)
    for participant in people:
        answers = stored(server.db, participant)
        expected = {q.id for f in survey.plan[participant] for q in survey.forms[f].questions}
        assert set(answers) == expected
        assert all(a.classes == survey.question(q).truth for q, a in answers.items())


def test_concurrent_posts_store_each_answer_once(survey_folder, server):
    """20 threads post p04's answers, each question five times: each stored once."""
    survey = load_survey(survey_folder)
    url = f"{server.url}/api/{server.links['p04'].rsplit('/', 1)[1]}/answer"
    questions = [q for f in survey.plan["p04"] for q in survey.forms[f].questions]
    bodies = [{"question": q.id, "classes": list(q.truth), "elapsed_ms": 1000 + i,
               "toggles": len(q.truth)} for i, q in enumerate(questions)] * 5
    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(lambda body: http("POST", url, body), bodies))
    assert all(status == 200 for status, _ in results)
    assert sum(json.loads(body)["stored"] for _, body in results) == len(questions)
    answers = stored(server.db, "p04")
    assert {q: a.elapsed_ms for q, a in answers.items()} == \
        {q.id: 1000 + i for i, q in enumerate(questions)}


def test_bad_inputs_are_rejected_and_the_server_keeps_serving(survey_folder, server):
    survey = load_survey(survey_folder)
    token = server.links["p01"].rsplit("/", 1)[1]
    mine = survey.forms[survey.plan["p01"][0]].questions[0]
    other = next(f for f in survey.forms if f not in survey.plan["p01"])
    answer = {"question": mine.id, "classes": list(mine.truth), "elapsed_ms": 900,
              "toggles": len(mine.truth)}
    cases = [
        ("POST", "/api/0123456789abcdef/answer", answer, 403, "unknown token"),
        ("POST", f"/api/{token}/answer", {**answer, "classes": [survey.num_classes]}, 400,
         f"a class id must be in 0..{survey.num_classes - 1}"),
        ("POST", f"/api/{token}/answer",
         {**answer, "question": survey.forms[other].questions[0].id}, 403,
         "not one of your forms"),
        ("GET", f"/api/{token}/patch/..%2Fsurvey.json", None, 404, "unknown question"),
        ("GET", f"/api/{token}/patch/%2Fetc%2Fpasswd", None, 404, "unknown question"),
    ]
    for method, path, body, status, message in cases:
        code, text = http(method, server.url + path, body)
        assert code == status and message in json.loads(text)["error"], (path, text)
    assert stored(server.db, "p01") == {}
    assert http("POST", f"{server.url}/api/{token}/answer", answer)[0] == 200
    assert http("GET", f"{server.url}/api/{token}/state")[0] == 200
    assert list(stored(server.db, "p01")) == [mine.id]


def test_report_after_answers(survey_folder, server, tmp_path):
    survey = load_survey(survey_folder)
    for participant, link in server.links.items():
        url = f"{server.url}/api/{link.rsplit('/', 1)[1]}/answer"
        for form in survey.plan[participant]:
            for q in survey.forms[form].questions:
                http("POST", url, {"question": q.id, "classes": list(q.truth),
                                   "elapsed_ms": 2000 * len(q.truth),
                                   "toggles": len(q.truth)})
    assert actseg_main(["survey", "report", "--survey", str(survey_folder), "--db",
                        str(server.db), "--out", str(tmp_path / "report")]) == 0
    table = pd.read_csv(tmp_path / "report/table1.csv", dtype={"classes": str})
    assert len(table) == 8 and (table["accuracy_mean"] == 100).all()
    assert (table["time_per_click_s_mean"] == 2.0).all()
    assert (tmp_path / "report/table1.md").is_file() and (tmp_path / "report/table1.png").is_file()
