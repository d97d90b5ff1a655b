"""Run studies one after another and publish each as it finishes (issue 11, item 2).

One Snakemake invocation per study (target first: `--resources` would swallow a target
after it), its output in results/logs/studies/{study}.snakemake.log; the wall time, the
number of jobs it ran and the commit it started from go into the study's provenance
(`actseg.published.publish`), then the claims table is rewritten (`actseg.claims`). A
study that fails stops the sequence: nothing half-built is published.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from actseg.claims import write_claims
from actseg.published import PUBLISHED, commit, publish

STEPS = re.compile(r"^(\d+) of (\d+) steps \(\d+%\) done$", re.M)


@dataclass(frozen=True)
class CompletedStudy:
    """A study run to the end: what ran, from which commit, how long, how many jobs."""

    study: str
    command: str
    commit: str
    wall_s: float
    jobs: int


def study_command(study: str, cores: int, gpu: int, extra: tuple[str, ...] = ()) -> list[str]:
    return ["snakemake", "--cores", str(cores), f"results/figures/{study}.csv",
            "--resources", f"gpu={gpu}", *extra]


def jobs_run(log_text: str) -> int:
    """Jobs a Snakemake run completed: the last 'N of M steps' line (0 if it had nothing to
    do)."""
    steps = STEPS.findall(log_text)
    return int(steps[-1][0]) if steps else 0


def run_study(study: str, repository: Path, cores: int, gpu: int,
              extra: tuple[str, ...] = ()) -> CompletedStudy:
    """Build results/figures/{study}.* in `repository`; raise if Snakemake fails."""
    command = study_command(study, cores, gpu, extra)
    log = repository / "results" / "logs" / "studies" / f"{study}.snakemake.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    started_at = commit(repository)
    start = time.perf_counter()
    with open(log, "w") as out:
        result = subprocess.run(command, cwd=repository, stdout=out,
                                stderr=subprocess.STDOUT)
    wall_s = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"study {study}: `{shlex.join(command)}` failed "
                           f"(exit {result.returncode}); see {log}")
    return CompletedStudy(study, shlex.join(command), started_at, wall_s,
                          jobs_run(log.read_text()))


def run_and_publish(studies: list[str], repository: Path, cores: int, gpu: int,
                    extra: tuple[str, ...] = (),
                    machine_: str | None = None) -> list[CompletedStudy]:
    """Each study in turn: run it, publish it, rewrite the claims table."""
    dest = repository / PUBLISHED
    done = []
    for study in studies:
        run = run_study(study, repository, cores, gpu, extra)
        publish(study, repository / "results" / "figures", dest, run.command, run.wall_s,
                repository, machine_, run.commit, run.jobs)
        write_claims(dest, repository / "README.md")
        print(f"{study}: {run.jobs} jobs in {run.wall_s:.0f} s, published", flush=True)
        done.append(run)
    return done
