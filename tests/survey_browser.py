"""Helpers of the survey's browser tests: the server as a real process and a scripted
participant driving Debian's chromium through Playwright.

    server = ServerProcess(survey_folder, db)      # python -m actseg survey serve --port 0
    server.links["p01"], server.port; server.kill() (SIGKILL); server.stop()
    with browser() as b: ScriptedParticipant(b.new_page(), server.links["p01"], survey)
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("ACTSEG_CHROMIUM", "/usr/bin/chromium")


def require_browser():
    """Skip with the reason when Playwright or Debian's chromium is missing."""
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed "
                        "(pip install -e '.[test]')")
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        pytest.skip(f"{CHROMIUM} missing: apt-get install -y chromium chromium-driver "
                    "(.ci/run does)")


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


class ServerProcess:
    """`actseg survey serve` in a subprocess; its links and port read from its output."""

    def __init__(self, survey: Path, db: Path, port: int = 0):
        self.survey, self.db = survey, db
        self.process = subprocess.Popen(
            [sys.executable, "-m", "actseg", "survey", "serve", "--survey", str(survey),
             "--db", str(db), "--port", str(port)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.links: dict[str, str] = {}
        for line in self.process.stdout:
            if line.startswith("serving "):
                self.port = int(re.search(r":(\d+)/", line).group(1))
                self.url = f"http://127.0.0.1:{self.port}"
                return
            participant, link = line.split()
            self.links[participant] = link
        raise RuntimeError(f"the survey server exited with {self.process.wait()}")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process.stdout.close()


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
        return self.page.inner_text("#progress")

    def answer(self, delay_ms: int, classes=None, detour: int | None = None) -> str:
        """Wait `delay_ms`, select `classes` (default: the truth), first selecting and
        unselecting class `detour` if given, and press Enter; return the question id."""
        question = self.current()
        self.page.wait_for_timeout(delay_ms)
        self.delays[question] = delay_ms
        truth = self.survey.question(question).truth
        classes = truth if classes is None else classes
        if detour is not None:
            self.page.click(f"#options input[value='{detour}']")
            if self.survey.forms[self.survey.question(question).form].multiple:
                self.page.click(f"#options input[value='{detour}']")
        for c in classes:
            self.page.click(f"#options input[value='{c}']")
        self.page.keyboard.press("Enter")
        self.page.wait_for_function(
            f"() => document.getElementById('question').dataset.question !== '{question}' "
            "|| !document.getElementById('done').hidden")
        return question

    def finished(self) -> bool:
        return self.page.is_visible("#done")


def wait_for(predicate, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise TimeoutError("condition not met")
        time.sleep(0.05)
