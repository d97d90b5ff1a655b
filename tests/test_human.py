"""The human oracle (actseg.human): the budget walk, the hand-out order, answers ->
labels.h5 equal to the simulated fill, the undefined option, the quality report and CSV."""

from __future__ import annotations

import json

import numpy as np
import pytest

from actseg.budget import advance, empty_state, fill_budget, ranking
from actseg.human.app import OracleApp
from actseg.human.exchange import export_rows, import_rows
from actseg.human.handout import next_query
from actseg.human.labels import AnswersMissing, human_state, round_progress
from actseg.human.pool import answers_table, pool_table
from actseg.human.progress import walk
from actseg.human.quality import annotator_report
from actseg.human.queue import QueryQueue, read_queue, repeated, write_queue
from actseg.human.store import QueueStore
from actseg.stores import RegionsStore, read_oracle
from actseg.survey.store import Answer
from human_annotator import QUESTION
from pipeline_fixtures import make_city, make_regions_and_oracle

# ------------------------------------------------------------------------ budget walk


def test_walk_keeps_the_query_that_crosses_the_budget():
    progress = walk({0: 3, 1: 2, 2: 4, 3: 1}, 4, budget=5)
    assert progress.kept == [0, 1, 2] and progress.spent == 9 and progress.complete
    # landing exactly on the budget takes one more query, as the simulated fill does
    assert walk({0: 3, 1: 2, 2: 1, 3: 1}, 4, budget=5).kept == [0, 1, 2]


def test_walk_counts_open_queries_as_one_click_each():
    progress = walk({1: 3}, 10, budget=4)
    assert progress.open == [0, 2] and progress.kept == [1] and not progress.complete
    assert progress.clicks_open == 2  # 4 + 1 - 3 clicks to cross the budget
    assert walk({}, 3, budget=10).clicks_open == 11


@pytest.mark.parametrize("seed", range(20))
def test_walk_over_every_answer_is_the_simulated_fill(seed):
    rng = np.random.default_rng(seed)
    cost = rng.integers(0, 4, (3, 7))
    scores = rng.random((3, 7))
    budget = int(rng.integers(1, 15))
    selected = fill_budget(scores, cost, np.zeros(cost.shape, bool), budget)
    images, regions = ranking(scores, cost > 0)
    progress = walk(dict(enumerate(cost[images, regions])), len(images), budget)
    assert progress.complete
    chosen = np.zeros(cost.shape, bool)
    chosen[images[progress.kept], regions[progress.kept]] = True
    np.testing.assert_array_equal(chosen, selected)


# -------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    folder = tmp_path_factory.mktemp("human")
    root = make_city(folder / "city", n_train=4, n_val=2)
    regions, oracle = make_regions_and_oracle(root, folder)
    return folder, root, regions, read_oracle(oracle)


def make_queue(city, tmp_path, budget=12, fraction=0.0, labelling="multiclass"):
    _, root, regions_path, oracle = city
    regions = RegionsStore(regions_path)
    pool = pool_table(regions, oracle.num_classes, 3.0)
    scores = np.random.default_rng(1).random(pool.area.shape).astype(np.float32)
    scores[pool.area == 0] = -np.inf
    images, region_ids = ranking(scores, pool.area > 0)
    length = min(len(images), budget + 1)
    queue = QueryQueue(1, labelling, budget, images[:length], region_ids[:length],
                       repeated(length, fraction, [0, 1, 1]), scores, list(regions.image_ids),
                       [f"class{c}" for c in range(oracle.num_classes)],
                       {"acquisition": "random", "seed": 0, "dataset": "synthetic",
                        "root": str(root), "regions": str(regions_path)})
    (tmp_path / "round1").mkdir(exist_ok=True)
    write_queue(tmp_path / "round1" / "queue.h5", queue)
    return read_queue(tmp_path / "round1" / "queue.h5"), pool


class Queues:
    def __init__(self, queue):
        self.queue = queue

    def current(self):
        return self.queue


def app_with(queue, tmp_path, annotators=("a01", "a02")):
    store = QueueStore(tmp_path / "answers.sqlite")
    store.add_participants(annotators)
    return OracleApp(Queues(queue), store), store.tokens()


def ask(app, token):
    state = json.loads(app.handle("GET", f"/api/{token}/state").body)
    questions = [q for f in state["forms"] for q in f["questions"]]
    return questions[0] if questions else None


def post(app, token, question, classes, elapsed_ms=1000):
    body = json.dumps({"question": question, "classes": classes, "elapsed_ms": elapsed_ms,
                       "toggles": len(classes)}).encode()
    return app.handle("POST", f"/api/{token}/answer", body)


def truth(oracle, question, labelling="multiclass"):
    _, image, region = map(int, QUESTION.fullmatch(question).groups())
    bits = int(oracle.label_sets(labelling)[image, region])
    return [c for c in range(oracle.num_classes + 1) if bits >> c & 1]


# -------------------------------------------------------------------------- hand-out


def test_queries_go_out_in_rank_order_one_holder_each(city, tmp_path):
    queue, _ = make_queue(city, tmp_path)
    app, tokens = app_with(queue, tmp_path)
    first, second = ask(app, tokens["a01"]), ask(app, tokens["a02"])
    assert (queue.rank_of(first), queue.rank_of(second)) == (0, 1)
    assert ask(app, tokens["a01"]) == first  # a reload shows the held query again
    assert post(app, tokens["a01"], first, [0]).status == 200
    assert queue.rank_of(ask(app, tokens["a01"])) == 2
    assert post(app, tokens["a01"], second, [0]).status == 403  # handed to a02


def test_a_repeat_goes_to_another_annotator(city, tmp_path):
    queue, _ = make_queue(city, tmp_path, fraction=1.0)
    app, tokens = app_with(queue, tmp_path)
    first = ask(app, tokens["a01"])
    post(app, tokens["a01"], first, [0])
    assert ask(app, tokens["a02"]) == first  # repeats first
    assert queue.rank_of(ask(app, tokens["a01"])) == 1  # never its own answer again


def test_no_query_beyond_the_budget_is_handed_out(city, tmp_path):
    queue, _ = make_queue(city, tmp_path, budget=3)
    app, tokens = app_with(queue, tmp_path, annotators=("a01",))
    answered = []
    while (question := ask(app, tokens["a01"])) is not None:
        post(app, tokens["a01"], question, [0, 1])  # 2 clicks each
        answered.append(question)
    # 0 + 2 <= 3 -> second taken; 4 > 3 stops: the crossing query is the last
    assert [queue.rank_of(q) for q in answered] == [0, 1]


# ------------------------------------------------------------- answers -> labels.h5


@pytest.mark.parametrize("labelling", ["multiclass", "dominant"])
def test_truthful_answers_give_the_simulated_labels(city, tmp_path, labelling):
    oracle = city[3]
    queue, pool = make_queue(city, tmp_path, budget=12, labelling=labelling)
    app, tokens = app_with(queue, tmp_path)
    for turn in range(100):
        token = tokens["a01" if turn % 2 else "a02"]
        question = ask(app, token)
        if question is None:
            break
        assert post(app, token, question, truth(oracle, question, labelling)).status == 200
    previous = empty_state(pool.area.shape, labelling)
    state = human_state(previous, pool, queue, app.store, "http://x")
    cost = oracle.cost(labelling)
    selected = fill_budget(queue.scores, cost, previous.labelled, queue.budget)
    simulated = advance(previous, selected, cost, queue.scores, "random")
    np.testing.assert_array_equal(state.labelled_round, simulated.labelled_round)
    np.testing.assert_array_equal(state.scores, simulated.scores)
    assert state.clicks_per_round == simulated.clicks_per_round
    assert state.regions_per_round == simulated.regions_per_round
    table = answers_table(pool, state.answers, state.labelled, labelling)
    np.testing.assert_array_equal(table.label_sets(labelling)[state.labelled],
                                  oracle.label_sets(labelling)[state.labelled])


def test_missing_answers_say_what_is_open_and_where(city, tmp_path):
    queue, pool = make_queue(city, tmp_path, budget=5)
    app, tokens = app_with(queue, tmp_path)
    post(app, tokens["a01"], ask(app, tokens["a01"]), [0, 1])
    with pytest.raises(AnswersMissing, match=r"4 queries open, at least 4 clicks to go .*"
                                             r"http://host:1/"):
        human_state(empty_state(pool.area.shape, "multiclass"), pool, queue, app.store,
                    "http://host:1")


def test_the_undefined_option_is_the_undefined_class(city, tmp_path):
    queue, pool = make_queue(city, tmp_path)
    app, tokens = app_with(queue, tmp_path)
    question = ask(app, tokens["a01"])
    undefined = pool.num_classes
    assert post(app, tokens["a01"], question, [undefined + 1]).status == 400
    assert post(app, tokens["a01"], question, [1, undefined]).status == 200
    answer = app.store.round_answers(queue.form)[question][0]
    assert answer.classes == (1, undefined) and answer.clicks == 2
    state = json.loads(app.handle("GET", f"/api/{tokens['a01']}/state").body)
    assert "know" in state["class_names"][undefined]


def test_unknown_tokens_and_queries_are_refused(city, tmp_path):
    queue, _ = make_queue(city, tmp_path)
    app, tokens = app_with(queue, tmp_path)
    assert app.handle("GET", "/api/nope/state").status == 403
    assert post(app, tokens["a01"], "r1-0-0'; DROP TABLE answers;--", [0]).status == 404
    assert app.handle("GET", f"/api/{tokens['a01']}/patch/r9-0-0").status == 404
    question = ask(app, tokens["a01"])
    patch = app.handle("GET", f"/api/{tokens['a01']}/patch/{question}")
    assert patch.status == 200 and patch.body.startswith(b"\x89PNG")


def test_answers_survive_a_new_server(city, tmp_path):
    queue, _ = make_queue(city, tmp_path)
    app, tokens = app_with(queue, tmp_path)
    question = ask(app, tokens["a01"])
    post(app, tokens["a01"], question, [0])
    restarted = OracleApp(Queues(queue), QueueStore(tmp_path / "answers.sqlite"))
    assert question in restarted.store.round_answers(queue.form)
    assert queue.rank_of(ask(restarted, tokens["a01"])) == 1


# --------------------------------------------------------------------------- quality


def answer(participant, question, classes, ms, at):
    return Answer(participant, question, "round1-multiclass", tuple(classes), len(classes),
                  len(classes), ms, at)


def test_agreement_and_time_per_click_per_annotator():
    answers = [answer("a01", "r1-0-1", [0, 2], 3000, 1.0), answer("a02", "r1-0-1", [0], 1000, 2.0),
               answer("a01", "r1-0-2", [1], 1000, 3.0), answer("a02", "r1-0-2", [1], 500, 4.0),
               answer("a03", "r1-0-3", [1], 700, 5.0)]
    report = annotator_report(answers).set_index("annotator")
    assert report.loc["a01", "seconds_per_click"] == pytest.approx(4.0 / 3)
    assert report.loc["a02", "seconds_per_click"] == pytest.approx(0.75)
    assert report.loc["a01", "repeated"] == 2
    assert report.loc["a01", "agreement"] == pytest.approx((0.5 + 1.0) / 2)
    assert np.isnan(report.loc["a03", "agreement"])


def test_csv_export_import_round_trip(city, tmp_path):
    queue, _ = make_queue(city, tmp_path)
    app, tokens = app_with(queue, tmp_path)
    for token, classes in ((tokens["a01"], [0, queue.scores.shape[0] and 1]),
                           (tokens["a02"], [len(queue.class_names)])):
        post(app, token, ask(app, token), classes)
    text = export_rows(app.store.answers(), {1: queue})
    assert "undefined" in text and "class1" in text
    fresh = QueueStore(tmp_path / "other.sqlite")
    imported = import_rows(text, {1: queue})
    fresh.add_participants({a.participant for a in imported})
    assert all(fresh.record(a) for a in imported)
    assert fresh.answers() == app.store.answers()
    assert export_rows(fresh.answers(), {1: queue}) == text


def test_csv_import_rejects_a_region_outside_the_queue(city, tmp_path):
    from actseg.human.exchange import CsvRowError

    queue, _ = make_queue(city, tmp_path, budget=1)
    header = "annotator,round,image_id,region,classes,clicks,toggles,elapsed_ms,submitted_at\n"
    row = f"a01,1,{queue.image_ids[0]},999,class0,1,1,100,1.5\n"
    with pytest.raises(CsvRowError, match="line 2"):
        import_rows(header + row, {1: queue})
