"""Helpers of the survey's browser tests: the server as a real process and a scripted
participant driving Debian's chromium through Playwright.

    server = ServerProcess(survey_folder, db)      # python -m actseg survey serve --port 0
    server.links["p01"], server.port; server.kill() (SIGKILL); server.stop()
    with browser() as b: ScriptedParticipant(b.new_page(), server.links["p01"], survey)
(the last two live in `actseg.survey.scripted`).
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from actseg.survey.scripted import CHROMIUM, ScriptedParticipant, browser  # noqa: F401


def require_browser():
    """Skip with the reason when Playwright or Debian's chromium is missing."""
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed "
                        "(pip install -e '.[test]')")
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        pytest.skip(f"{CHROMIUM} missing: apt-get install -y chromium chromium-driver "
                    "(.ci/run does)")


class ServerProcess:
    """`actseg survey serve` in a subprocess; its links and port read from its output."""

    def __init__(self, survey: Path, db: Path, port: int = 0):
        self.survey, self.db = survey, db
        self._start(["survey", "serve", "--survey", str(survey), "--db", str(db),
                     "--port", str(port)])

    def _start(self, argv: list[str]) -> None:
        """Run `actseg ARGV` (a server printing `name link` lines, then `serving URL`)."""
        self.process = subprocess.Popen(
            [sys.executable, "-m", "actseg", *argv],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.links: dict[str, str] = {}
        for line in self.process.stdout:
            if line.startswith("serving "):
                self.port = int(re.search(r":(\d+)/", line).group(1))
                self.url = f"http://127.0.0.1:{self.port}"
                return
            participant, link = line.split()
            self.links[participant] = link
        raise RuntimeError(f"the server ({' '.join(argv[:2])}) exited with "
                           f"{self.process.wait()}")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process.stdout.close()
