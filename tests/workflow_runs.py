"""Running Snakemake on the repository's workflow from a test, and reading its plans."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")


def snakemake_env() -> dict:
    return dict(os.environ, PATH=f"{SNAKEMAKE.parent}{os.pathsep}{os.environ.get('PATH', '')}")


def snakemake(workdir: Path, *args: str, snakefile: Path = REPO / "Snakefile",
              timeout: int = 600) -> subprocess.CompletedProcess:
    """Run Snakemake on the repository's workflow with `workdir` as working directory."""
    return subprocess.run([str(SNAKEMAKE), "-s", str(snakefile), "--directory", str(workdir),
                           *args], cwd=workdir, env=snakemake_env(), capture_output=True,
                          text=True, timeout=timeout)


def job_counts(output: str) -> dict[str, int]:
    """The `Job stats` table of a dry run: rule -> number of jobs (without `total`)."""
    table = output[output.index("Job stats:"):] if "Job stats:" in output else ""
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)
            if m[1] != "total"}


def planned_jobs(output: str) -> list[tuple[str, int]]:
    """(rule, round) of every job in a dry run's output; round 0 for jobs without one."""
    jobs = []
    for line in output.splitlines():
        head = re.fullmatch(r"(?:local)?rule (\S+):", line.strip())
        if head:
            jobs.append([head.group(1), 0])
        elif jobs and line.strip().startswith("wildcards:"):
            round_ = re.search(r"\bround=(\d+)", line)
            jobs[-1][1] = int(round_.group(1)) if round_ else 0
    return sorted(tuple(job) for job in jobs)
