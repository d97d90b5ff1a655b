"""A scripted annotator for the human oracle's server, over HTTP: asks for its next query,
answers it (by default truthfully, from an oracle table built from ground truth) and stops
when the server has nothing for it."""

from __future__ import annotations

import json
import urllib.request

import numpy as np

from actseg.human.queue import QUESTION


class HttpAnnotator:
    def __init__(self, base_url: str, token: str, oracle, labelling: str = "multiclass"):
        self.base, self.token, self.oracle, self.labelling = base_url, token, oracle, labelling

    def _call(self, name: str, body: dict | None = None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.base}/api/{self.token}/{name}", data=data,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()

    def next_query(self) -> str | None:
        state = json.loads(self._call("state")[1])
        questions = [q for form in state["forms"] for q in form["questions"]]
        return questions[0] if questions else None

    def truth(self, question: str) -> list[int]:
        _, image, region = map(int, QUESTION.fullmatch(question).groups())
        bits = int(self.oracle.label_sets(self.labelling)[image, region])
        return [c for c in range(self.oracle.num_classes + 1) if bits >> c & 1]

    def answer(self, question: str, classes: list[int], elapsed_ms: int = 1000) -> None:
        status, _ = self._call("patch/" + question)
        assert status == 200
        self._call("answer", {"question": question, "classes": classes,
                              "elapsed_ms": elapsed_ms, "toggles": len(classes)})

    def run(self, noise: float = 0.0, seed: int = 0, limit: int = 10_000) -> list[str]:
        """Answer until no query is left; with `noise`, that fraction of answers is one
        wrong class. Returns the answered ids."""
        rng, answered = np.random.default_rng(seed), []
        while len(answered) < limit and (question := self.next_query()) is not None:
            classes = self.truth(question)
            if rng.random() < noise:
                classes = [int((classes[0] + 1) % self.oracle.num_classes)]
            self.answer(question, classes, elapsed_ms=500 * len(classes))
            answered.append(question)
        return answered
