"""The Snakemake pipeline end to end on the tiny config (workflow/configs/tiny.yaml over
config.yaml, a tiny synthetic city): one real run of three rounds,
then exact dry-run job lists for the incremental reruns the README promises, a second
invocation with nothing to do, and a training job killed midway that resumes."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import tiny_config
from workflow_runs import REPO, SNAKEMAKE, planned_jobs, snakemake, snakemake_env

pytestmark = pytest.mark.slow

TINY = tiny_config()  # workflow/configs/tiny.yaml over config.yaml
ROUNDS = TINY["rounds"]
ROUND_RULES = ("select", "train_stage1", "evaluate_stage1", "pseudo_labels", "train_stage2",
               "evaluate_stage2")


def dry_run(workdir: Path, overrides: dict | None = None) -> list[tuple[str, int]]:
    args = ["-n"]
    if overrides:
        (workdir / "change.yaml").write_text(yaml.safe_dump(overrides))
        args += ["--configfile", "change.yaml"]
    result = snakemake(workdir, *args)
    assert result.returncode == 0, result.stdout + result.stderr
    return planned_jobs(result.stdout)


def round_jobs(rounds, rules=ROUND_RULES) -> list[tuple[str, int]]:
    return [(rule, t) for t in rounds for rule in rules]


def expected(*jobs) -> list[tuple[str, int]]:
    """The given jobs plus the `all` target they lead to."""
    return sorted([*jobs, ("all", 0)])


@pytest.fixture(scope="session")
def finished(tmp_path_factory) -> Path:
    """A workdir in which the whole tiny pipeline ran once (default target)."""
    work = tmp_path_factory.mktemp("pipeline")
    (work / "config.yaml").write_text(yaml.safe_dump(TINY, sort_keys=False))
    plan = dry_run(work)
    assert plan == sorted([("synthesize_tiny", 0), ("regions", 0), ("oracle", 0),
                           *round_jobs(range(1, ROUNDS + 1)),
                           ("all", 0)])
    result = snakemake(work, "--cores", "2", "--resources", "gpu=1")
    assert result.returncode == 0, result.stdout + result.stderr
    return work


def test_complete_run_writes_every_output(finished):
    curve = pd.read_csv(finished / f"results/round{ROUNDS}/miou.csv")
    assert list(curve[["round", "stage"]].itertuples(index=False, name=None)) == \
        [(t, s) for t in range(1, ROUNDS + 1) for s in (1, 2)]
    assert curve["clicks"].is_monotonic_increasing and (curve["clicks"] > 0).all()
    assert curve["miou"].between(0, 1).all()
    for t in range(1, ROUNDS + 1):
        for name in ("labels.h5", "stage1.pt", "stage1_log.csv", "stage1_miou.csv",
                     "pseudo.h5", "pseudo_quality.csv", "stage2.pt", "stage2_log.csv",
                     "miou.csv", "miou.png"):
            assert (finished / f"results/round{t}/{name}").is_file(), (t, name)
        for rule in ROUND_RULES:
            assert (finished / f"results/logs/round{t}/{rule}.log").is_file()
            assert (finished / f"results/benchmarks/round{t}/{rule}.tsv").is_file()
    assert (finished / f"results/round{ROUNDS}/miou.png").read_bytes()[:4] == b"\x89PNG"
    assert (finished / "results/regions/tiny-grid8/regions.h5").is_file()
    assert (finished / "results/regions/tiny-grid8/oracle.h5").is_file()
    leftovers = [p for p in (finished / "results").rglob("*")
                 if p.name.endswith((".tmp", ".resume.pt", ".partial", ".lock"))]
    assert leftovers == []


def test_report_shows_the_curves(finished, tmp_path):
    report = tmp_path / "report.html"
    result = snakemake(finished, "--report", str(report))
    assert result.returncode == 0, result.stdout + result.stderr
    html = report.read_text(errors="replace")
    assert "Learning curve" in html and "miou.png" in html and "miou.csv" in html


def test_nothing_to_do_after_a_complete_run(finished):
    assert dry_run(finished) == []


def test_second_invocation_finishes_at_once(finished):
    start = time.perf_counter()
    result = snakemake(finished, "--cores", "2", "--resources", "gpu=1")
    elapsed = time.perf_counter() - start
    assert result.returncode == 0, result.stderr
    assert "Nothing to be done" in result.stdout + result.stderr
    assert elapsed < 30


ALL_ROUNDS = range(1, ROUNDS + 1)
LATER_ROUNDS = range(2, ROUNDS + 1)
STAGE2_ONLY = ("train_stage2", "evaluate_stage2")


@pytest.mark.parametrize("overrides, jobs", [
    pytest.param({"stage2": {"lr": 1.0e-3}}, expected(*round_jobs(ALL_ROUNDS, STAGE2_ONLY)),
                 id="stage2-lr: stage-2 train and evaluation of every round"),
    pytest.param({"acquisition": {"kappa": 12.0}}, expected(*round_jobs(LATER_ROUNDS)),
                 id="kappa: selection and downstream from round 2"),
    pytest.param({"pseudo": {"rule": "clean"}},
                 expected(*round_jobs(ALL_ROUNDS, ("pseudo_labels", *STAGE2_ONLY))),
                 id="pseudo-rule: pseudo labels and stage 2 of every round"),
    pytest.param({"rounds": ROUNDS + 1}, expected(*round_jobs([ROUNDS + 1])),
                 id="rounds+1: only the new round"),
    pytest.param({"device": "auto", "threads": 2, "evaluate": {"batch_size": 1},
                  "pseudo": {"batch_size": 1}, "acquisition": {"batch_size": 1},
                  "train": {"num_workers": 1, "checkpoint_every": 1, "channels_last": "on"}},
                 [], id="run settings: nothing"),
])
def test_config_change_reruns_exactly(finished, overrides, jobs):
    assert dry_run(finished, overrides) == jobs


def test_deleted_stage1_checkpoint_reruns_its_branch_and_later_rounds(finished, tmp_path):
    work = tmp_path / "copy"
    shutil.copytree(finished, work, symlinks=True)  # copy2 keeps the modification times
    assert dry_run(work) == []
    (work / "results/round2/stage1.pt").unlink()
    branch = [(rule, 2) for rule in ROUND_RULES if rule != "select"]
    assert dry_run(work) == expected(*branch, *round_jobs(range(3, ROUNDS + 1)))


def test_killed_training_is_not_trusted_and_resumes(finished, tmp_path):
    """SIGKILL the whole Snakemake process group while round 1's stage-1 training runs:
    no output appears, the next run reruns the job and resumes from <out>.resume.pt."""
    work = tmp_path / "killed"
    shutil.copytree(finished, work, symlinks=True)
    config = yaml.safe_load((work / "config.yaml").read_text())
    config["stage1"]["iterations"] = 400
    config["train"]["checkpoint_every"] = 20
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    model = work / "results/round1/stage1.pt"
    resume = work / "results/round1/stage1.pt.resume.pt"
    process = subprocess.Popen(
        [str(SNAKEMAKE), "-s", str(REPO / "Snakefile"), "--directory", str(work),
         "results/round1/stage1.pt", "--cores", "1"],
        cwd=work, env=snakemake_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while not resume.exists():
            assert process.poll() is None, "snakemake ended before the first resume checkpoint"
            assert time.monotonic() < deadline, "no resume checkpoint within 240 s"
            time.sleep(0.2)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert not model.exists()
    assert not (work / "results/round1/stage1_log.csv").exists()
    plan = dry_run(work)
    assert ("train_stage1", 1) in plan
    assert snakemake(work, "--unlock").returncode == 0  # Snakemake itself was killed
    result = snakemake(work, "results/round1/stage1.pt", "--cores", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    log = (work / "results/logs/round1/train_stage1.log").read_text()
    assert re.search(r"resumed from iteration [1-9]\d*", log), log
    assert model.is_file() and not resume.exists()
    rows = pd.read_csv(work / "results/round1/stage1_log.csv")
    assert rows["iteration"].iloc[-1] == 400 and rows["iteration"].is_unique


STUDY = {"studies": {"demo": {"seeds": [0], "variants": {
    "base": {},                                   # = the default experiment: not rerun
    "dom": {"labelling": "dominant"},
    "dom-again": {"labelling": "dominant"},       # = dom: read from the same folders
}}}}


def test_study_figure_reuses_identical_experiments(finished, tmp_path):
    work = tmp_path / "study"
    shutil.copytree(finished, work, symlinks=True)
    (work / "study.yaml").write_text(yaml.safe_dump(STUDY))
    targets = ["results/figures/demo.csv", "results/figures/qualitative.png"]
    result = snakemake(work, "-n", *targets, "--configfile", "study.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    plan = planned_jobs(result.stdout)
    assert plan == sorted([*round_jobs(ALL_ROUNDS), ("study_figure", 0),
                           ("qualitative_figure", 0)])
    assert "results/runs/train_stage1-" in result.stdout and "studies/" not in result.stdout

    result = snakemake(work, *targets, "--configfile", "study.yaml", "--cores", "2",
                       "--resources", "gpu=1")
    assert result.returncode == 0, result.stdout + result.stderr
    table = pd.read_csv(work / "results/figures/demo.csv")
    assert list(dict.fromkeys(table["variant"])) == ["base", "dom", "dom-again"]
    assert set(table.groupby("variant")["labelling"].first()) == {"multiclass", "dominant"}
    assert len(table) == 3 * ROUNDS * 2
    dom = table[table.variant == "dom"].reset_index(drop=True)
    again = table[table.variant == "dom-again"].reset_index(drop=True)
    assert dom["miou"].equals(again["miou"])
    summary = pd.read_csv(work / "results/figures/demo_summary.csv")
    assert {"miou_mean", "miou_std", "clicks"} <= set(summary.columns)
    for png in ("demo.png", "qualitative.png"):
        assert (work / "results/figures" / png).read_bytes()[:4] == b"\x89PNG"
