"""The human oracle's labelling page in a real browser: Debian's chromium driven by
Playwright against `actseg human serve` running as a process, on a round queued through the
CLI (`human pool | human queue`).

- a scripted annotator answers queries through the page's dynamic mode (each answer asks
  the server for the next query): truthfully with a detour (select and unselect a class),
  with "undefined / I don't know", then truthfully until the budget stops the hand-out; the
  stored classes, clicks, toggles and times (within tolerance) are checked, and the round's
  labels carry the undefined class where it was chosen;
- the server is killed with SIGKILL mid-round and restarted: every answer is kept, the
  annotator gets its held query again and the round completes (over HTTP, no browser).
"""

from __future__ import annotations

import pytest
from human_annotator import HttpAnnotator
from human_fixtures import HumanServerProcess, open_round
from survey_browser import require_browser

from actseg.budget import empty_state
from actseg.human.app import UNDEFINED_OPTION, WAITING
from actseg.human.labels import human_state, round_progress
from actseg.human.queue import read_queue
from actseg.human.scripted import BrowserAnnotator, browser
from actseg.human.store import QueueStore
from actseg.stores import read_oracle

pytestmark = pytest.mark.slow
TOLERANCE_MS = 1500  # clicking and the round trip after the delay, on a loaded machine
BUDGET = 6


@pytest.fixture(scope="module")
def round1(tmp_path_factory):
    return open_round(tmp_path_factory.mktemp("human_browser"), budget=BUDGET)


def stored(db, annotator):
    return {a.question: a for a in QueueStore(db).answers() if a.participant == annotator}


def test_scripted_annotator_in_the_browser(round1, tmp_path):
    require_browser()
    results, oracle = round1
    server = HumanServerProcess(results, tmp_path / "answers.sqlite")
    queue = read_queue(results / "round1" / "queue.h5")
    try:
        with browser() as chromium:
            page = chromium.new_page(viewport={"width": 900, "height": 760})
            person = BrowserAnnotator(page, server.links["a01"], oracle)
            person.open()
            assert person.progress() == (f"Round 1 · 0 of {BUDGET} clicks answered · "
                                         f"{len(queue)} queries open")
            undefined = person.undefined
            assert undefined == oracle.num_classes
            assert page.get_attribute(f"#options input[value='{undefined}']",
                                      "data-class-name") == UNDEFINED_OPTION
            first = person.current()
            detour = next(c for c in range(oracle.num_classes) if c not in person.truth(first))
            chosen = {person.answer(300, detour=detour): person.truth(first)}
            chosen[person.answer(600, classes=[undefined])] = [undefined]
            while not person.waiting():
                question = person.current()
                chosen[person.answer(200)] = person.truth(question)
            assert page.inner_text("#done") == WAITING
            assert page.inner_text("#progress").startswith("Round 1 · ")
    finally:
        server.stop()
    answers = stored(server.db, "a01")
    assert set(answers) == set(chosen)
    assert [queue.rank_of(q) for q in chosen] == list(range(len(chosen)))  # in rank order
    for question, classes in chosen.items():
        answer = answers[question]
        assert list(answer.classes) == classes and answer.clicks == len(classes)
        delay = person.delays[question]
        assert delay <= answer.elapsed_ms <= delay + TOLERANCE_MS, (question, answer)
        assert answer.toggles == len(classes) + 2 * (question == first)
    progress = round_progress(queue, QueueStore(server.db).round_answers(queue.form))
    # the hand-out stops once the answered clicks exceed the budget: the last query crossed it
    assert progress.complete and progress.kept == list(range(len(chosen)))
    assert progress.spent - answers[list(chosen)[-1]].clicks <= BUDGET < progress.spent
    pool = read_oracle(results.parent / "pool.h5")
    state = human_state(empty_state(pool.area.shape, "multiclass"), pool, queue,
                        QueueStore(server.db), "http://127.0.0.1/")
    second = queue.rank_of(list(chosen)[1])
    assert state.answers[queue.image[second], queue.region[second]] == 1 << undefined


def test_server_killed_mid_round_keeps_answers_and_serves_on(round1, tmp_path):
    results, oracle = round1
    server = HumanServerProcess(results, tmp_path / "answers.sqlite")
    token = server.links["a01"].rsplit("/", 1)[-1]
    try:
        before = HttpAnnotator(server.url, token, oracle).run(limit=2)
        held = HttpAnnotator(server.url, token, oracle).next_query()  # handed out, open
        server.kill()
        assert server.process.returncode == -9
        assert set(stored(server.db, "a01")) == set(before)  # on disk at the kill
        restarted = HumanServerProcess(results, server.db, server.port)
        try:
            annotator = HttpAnnotator(restarted.url, token, oracle)
            assert annotator.next_query() == held  # the lease survived the kill
            after = annotator.run()
        finally:
            restarted.stop()
    finally:
        server.stop()
    answers = stored(server.db, "a01")
    assert set(answers) == set(before) | set(after) and after[0] == held
    assert len(answers) == len(before) + len(after)  # nothing answered twice
    queue = read_queue(results / "round1" / "queue.h5")
    progress = round_progress(queue, QueueStore(server.db).round_answers(queue.form))
    assert progress.complete
    for question, answer in answers.items():
        assert list(answer.classes) == HttpAnnotator(server.url, token, oracle).truth(question)
