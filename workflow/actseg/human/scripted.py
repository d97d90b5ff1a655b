"""A scripted annotator of the human oracle in a real browser (Debian's chromium through
Playwright, a test extra): the labelling page in its dynamic mode, where each answer asks
the server for the next query. For the browser tests, the README's screenshot and anyone
checking a deployment.

    with browser() as chromium:
        person = BrowserAnnotator(chromium.new_page(), link, oracle)
        person.open()
        while not person.waiting():
            person.answer(delay_ms=500)          # the true classes after 0.5 s
"""

from __future__ import annotations

from actseg.human.queue import QUESTION
from actseg.survey.scripted import CHROMIUM, ScriptedParticipant, browser  # noqa: F401


class BrowserAnnotator(ScriptedParticipant):
    """Answers the queries its page shows; the truth comes from an oracle table (built from
    ground truth), so the script can answer like a careful person."""

    def __init__(self, page, link: str, oracle=None, labelling: str = "multiclass"):
        super().__init__(page, link, survey=None)
        self.oracle, self.labelling = oracle, labelling

    @property
    def undefined(self) -> int:
        """The value of the "undefined / I don't know" option: the last one (class C)."""
        return int(self.page.eval_on_selector_all("#options input", "xs => xs.length")) - 1

    def truth(self, question: str) -> list[int]:
        _, image, region = map(int, QUESTION.fullmatch(question).groups())
        bits = int(self.oracle.label_sets(self.labelling)[image, region])
        return [c for c in range(self.oracle.num_channels) if bits >> c & 1]

    def multiple(self, question: str) -> bool:
        return self.labelling == "multiclass"

    def waiting(self) -> bool:
        """No query is waiting for this annotator (the budget is reached, or none is open)."""
        return self.finished()
