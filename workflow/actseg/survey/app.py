"""The survey web application, apart from HTTP plumbing: a request (method, path, body) in,
a `Response` out. Routes:

    GET  /s/{token}                   the survey page (static HTML; the script does the rest)
    GET  /static/{app.js|app.css}     the page's script and style
    GET  /api/{token}/state           the participant's forms, questions and answered ids
    GET  /api/{token}/patch/{qid}     the PNG of one of the participant's questions
    POST /api/{token}/answer          {"question", "classes", "elapsed_ms", "toggles"}

A token names a participant (`store.participants`); every API route checks it first.
The human oracle's app (`actseg.human.app`) serves the same page and routes with a query
queue in place of forms, overriding `participant`, `state`, `patch` and `answer`.
Patches are found by question id through the survey definition, never by a path taken from
the request. Errors are JSON `{"error": message}` with a 4xx status.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from urllib.parse import unquote, urlsplit

from actseg.survey.answers import InputError, form_of, parse_answer
from actseg.survey.forms import Survey
from actseg.survey.store import AnswerStore

STATIC = {"index.html": "text/html; charset=utf-8", "app.js": "text/javascript; charset=utf-8",
          "app.css": "text/css; charset=utf-8"}


@dataclass
class Response:
    status: int
    content_type: str
    body: bytes
    headers: dict = field(default_factory=dict)


def json_response(data, status: int = 200) -> Response:
    return Response(status, "application/json", json.dumps(data).encode())


def static_file(name: str) -> Response:
    body = resources.files("actseg.survey").joinpath("static", name).read_bytes()
    return Response(200, STATIC[name], body)


class SurveyApp:
    def __init__(self, survey: Survey, store: AnswerStore):
        self.survey, self.store = survey, store

    def handle(self, method: str, path: str, body: bytes = b"") -> Response:
        try:
            return self._route(method, [unquote(p) for p in urlsplit(path).path.split("/")[1:]],
                               body)
        except InputError as err:
            return json_response({"error": str(err)}, err.status)

    def _route(self, method: str, parts: list[str], body: bytes) -> Response:
        if method == "GET" and len(parts) == 2 and parts[0] == "s":
            self.participant(parts[1])
            return static_file("index.html")
        if method == "GET" and len(parts) == 2 and parts[0] == "static" and parts[1] in STATIC:
            return static_file(parts[1])
        if len(parts) >= 3 and parts[0] == "api":
            return self._api(method, self.participant(parts[1]), parts[2:], body)
        raise InputError(404, "no such page: open the personal link you were given")

    def _api(self, method: str, participant: str, parts: list[str], body: bytes) -> Response:
        if method == "GET" and parts == ["state"]:
            return json_response(self.state(participant))
        if method == "GET" and len(parts) == 2 and parts[0] == "patch":
            return self.patch(participant, parts[1])
        if method == "POST" and parts == ["answer"]:
            answer = self.answer(participant, body)
            return json_response({"stored": self.store.record(answer),
                                  "question": answer.question})
        raise InputError(404 if method in ("GET", "POST") else 405,
                         f"no such request: {method} /api/.../{'/'.join(parts)}")

    def participant(self, token: str) -> str:
        participant = self.store.participant_of(token)
        if participant is None or participant not in self.survey.plan:
            raise InputError(403, "unknown token: this link is not valid for this survey")
        return participant

    def answer(self, participant: str, body: bytes):
        """The valid answer in a request body (or an InputError)."""
        return parse_answer(body, self.survey, participant)

    def state(self, participant: str) -> dict:
        forms = [self.survey.forms[f] for f in self.survey.plan[participant]]
        return {
            "participant": participant,
            "class_names": self.survey.class_names,
            "forms": [{"id": f.id, "instruction": f.instruction, "multiple": f.multiple,
                       "questions": [q.id for q in f.questions]} for f in forms],
            "answered": sorted(self.store.answered(participant)),
        }

    def patch(self, participant: str, question_id: str) -> Response:
        form_of(self.survey, self.survey.plan[participant], question_id)
        path = self.survey.patch_path(self.survey.question(question_id))
        return Response(200, "image/png", path.read_bytes(),
                        {"Cache-Control": "private, max-age=3600"})
