"""A scripted survey participant in a real browser (Debian's chromium through Playwright, a
test extra): for the browser tests, the README's demo and anyone checking a deployment.

    with browser() as chromium:
        person = ScriptedParticipant(chromium.new_page(), link, survey)
        person.open()
        while not person.finished():
            person.answer(delay_ms=800)          # the true classes after 0.8 s
"""

from __future__ import annotations

import contextlib
import os

CHROMIUM = os.environ.get("ACTSEG_CHROMIUM", "/usr/bin/chromium")


@contextlib.contextmanager
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM,
                                              args=["--no-sandbox", "--disable-gpu"])
        try:
            yield chromium
        finally:
            chromium.close()


class ScriptedParticipant:
    """Answers the questions its page shows, each after a known delay."""

    def __init__(self, page, link: str, survey):
        self.page, self.link, self.survey = page, link, survey
        self.delays: dict[str, int] = {}  # question id -> ms waited before answering

    def open(self) -> None:
        self.page.goto(self.link)

    def current(self) -> str:
        """The id of the question on screen, once its patch has loaded."""
        self.page.wait_for_function(
            "() => { const q = document.getElementById('question'); "
            "const img = document.getElementById('patch'); "
            "return !q.hidden && img.complete && img.naturalWidth > 0 && "
            "img.src.endsWith(encodeURIComponent(q.dataset.question)); }")
        return self.page.get_attribute("#question", "data-question")

    def progress(self) -> str:
        """The progress line, once the page has its state (not "Loading…" any more)."""
        self.page.wait_for_function(
            "() => document.getElementById('progress').textContent !== 'Loading\u2026'")
        return self.page.inner_text("#progress")

    def answer(self, delay_ms: int, classes=None, detour: int | None = None) -> str:
        """Wait `delay_ms`, select `classes` (default: the truth), first selecting and
        unselecting class `detour` if given, and press Enter; return the question id."""
        question = self.current()
        self.page.wait_for_timeout(delay_ms)
        self.delays[question] = delay_ms
        classes = self.truth(question) if classes is None else classes
        if detour is not None:
            self.page.click(f"#options input[value='{detour}']")
            if self.multiple(question):  # a checkbox: unselect it again
                self.page.click(f"#options input[value='{detour}']")
        for c in classes:
            self.page.click(f"#options input[value='{c}']")
        self.page.keyboard.press("Enter")
        self.page.wait_for_function(
            f"() => document.getElementById('question').dataset.question !== '{question}' "
            "|| !document.getElementById('done').hidden")
        return question

    def truth(self, question: str) -> list[int]:
        """The classes a careful participant selects for `question`."""
        return list(self.survey.question(question).truth)

    def multiple(self, question: str) -> bool:
        """Whether `question` takes several classes (checkboxes) or one (radios)."""
        return self.survey.forms[self.survey.question(question).form].multiple

    def finished(self) -> bool:
        return self.page.is_visible("#done")
