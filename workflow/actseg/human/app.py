"""The human oracle's web application: the survey's page, routes and checks
(`actseg.survey.app.SurveyApp`), with the experiment's open round in place of forms.

The open round is the highest `round{t}/queue.h5` under the results folder whose
`labels.h5` does not exist yet. `GET /api/{token}/state` hands the annotator its next query
(`handout`), as a form of one question, and leases it; `POST /api/{token}/answer` accepts an
answer to a query the annotator was handed, with classes 0..C, where C is the undefined
class ("undefined / I don't know"). The page asks for the state again after each answer
(`dynamic`). Patches are rendered from the train image and its region map on request.
"""

from __future__ import annotations

import functools
import io
import threading
import time
from pathlib import Path

from actseg.human.exchange import option_names
from actseg.human.handout import next_query
from actseg.human.labels import round_progress
from actseg.human.queue import QueryQueue, read_queue
from actseg.human.store import QueueStore
from actseg.survey.answers import InputError, _integer, checked_classes, parse_body
from actseg.survey.answers import MAX_ELAPSED_MS, MAX_TOGGLES
from actseg.survey.app import Response, SurveyApp
from actseg.survey.forms import INSTRUCTIONS, Form
from actseg.survey.store import Answer

UNDEFINED_OPTION = "undefined / I don't know"
WAITING = "No query is waiting for you now. Reload this page later to label the next round."


class RoundQueues:
    """The open round's queue of a results folder (re-read when a file changes)."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    def current(self) -> QueryQueue | None:
        rounds = sorted((int(p.parent.name[5:]), p) for p in self.folder.glob("round*/queue.h5")
                        if p.parent.name[5:].isdigit())
        open_ = [p for _, p in rounds if not (p.parent / "labels.h5").exists()]
        return self._read(open_[-1], open_[-1].stat().st_mtime_ns) if open_ else None

    @staticmethod
    @functools.lru_cache(maxsize=4)
    def _read(path: Path, mtime: int) -> QueryQueue:
        return read_queue(path)


class Patches:
    """The PNG of a query: the survey's patch (red boundary) around the region."""

    def __init__(self, side: int):
        self.side = side

    @functools.lru_cache(maxsize=4)
    def _sources(self, kind: str, root: str, regions: str):
        from actseg.datasets import open_dataset
        from actseg.stores import RegionsStore

        return open_dataset(kind, root, "train", labels="optional"), RegionsStore(regions)

    def png(self, queue: QueryQueue, rank: int) -> bytes:
        from PIL import Image

        from actseg.survey.patches import patch_side, render_patch

        dataset, regions = self._sources(queue.attrs["dataset"], queue.attrs["root"],
                                         queue.attrs["regions"])
        image_index, region = int(queue.image[rank]), int(queue.region[rank])
        image = dataset.load_image(image_index)
        mask = regions.region_map(image_index) == region
        side = patch_side(self.side, *image.shape[:2])
        buffer = io.BytesIO()
        Image.fromarray(render_patch(image, mask, side, self.side)).save(buffer, format="PNG")
        return buffer.getvalue()


def query_form(queue: QueryQueue) -> Form:
    return Form(queue.form, 0, queue.labelling, INSTRUCTIONS[queue.labelling], ())


class OracleApp(SurveyApp):
    def __init__(self, queues: RoundQueues, store: QueueStore, patch_side: int = 360):
        self.queues, self.store, self.patches = queues, store, Patches(patch_side)
        self._handout = threading.Lock()  # one hand-out at a time: no query given twice

    def participant(self, token: str) -> str:
        participant = self.store.participant_of(token)
        if participant is None:
            raise InputError(403, "unknown token: this link is not valid for this server")
        return participant

    def open_round(self) -> QueryQueue:
        queue = self.queues.current()
        if queue is None:
            raise InputError(409, "no round is open for labelling")
        return queue

    def held_rank(self, participant: str, question) -> tuple[QueryQueue, int]:
        """(queue, rank) of a query of the open round that was handed to `participant`."""
        queue = self.open_round()
        rank = queue.rank_of(question)
        if rank is None:
            raise InputError(404, f"unknown query {question!r}")
        if participant not in self.store.leases().get(question, {}):
            raise InputError(403, f"query {question!r} was not handed to you")
        return queue, rank

    def state(self, participant: str) -> dict:
        queue = self.queues.current()
        if queue is None:
            return {"participant": participant, "dynamic": True, "class_names": [],
                    "forms": [], "answered": [], "message": WAITING, "round": None}
        with self._handout:
            answers = self.store.round_answers(queue.form)
            progress = round_progress(queue, answers)
            question = next_query(queue, progress, answers, self.store.leases(), participant,
                                  time.time())
            if question is not None:
                self.store.lease(question, participant)
        form = query_form(queue)
        return {"participant": participant, "dynamic": True, "round": queue.round,
                "class_names": [*queue.class_names,
                                *([UNDEFINED_OPTION] if queue.has_undefined else [])],
                "forms": [{"id": form.id, "instruction": form.instruction,
                           "multiple": form.multiple,
                           "questions": [question] if question else []}],
                "answered": [], "message": WAITING,
                "status": f"Round {queue.round} · {progress.spent} of {queue.budget} clicks "
                          f"answered · {len(progress.open)} queries open"}

    def patch(self, participant: str, question_id: str) -> Response:
        queue, rank = self.held_rank(participant, question_id)
        return Response(200, "image/png", self.patches.png(queue, rank),
                        {"Cache-Control": "private, max-age=3600"})

    def answer(self, participant: str, body: bytes) -> Answer:
        data = parse_body(body)
        queue, _ = self.held_rank(participant, data["question"])
        classes = checked_classes(data["classes"], query_form(queue), len(option_names(queue)))
        toggles = _integer(data["toggles"], "toggles", len(classes), MAX_TOGGLES)
        elapsed = _integer(data["elapsed_ms"], "elapsed_ms", 0, MAX_ELAPSED_MS)
        return Answer(participant, data["question"], queue.form, classes, len(classes),
                      toggles, elapsed)
