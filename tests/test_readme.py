"""The README's commands are the ones CI runs and the workflow accepts: the setup and test
commands appear verbatim in .ci/run, and the main run command dry-runs in a copy of the
repository's workflow files."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from workflow_runs import job_counts

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
CI_LINES = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()]
BIN = Path(sys.executable).parent
WORKFLOW_FILES = ["Snakefile", "config.yaml", "rules", "envs", "profiles", "workflow/schemas",
                  "workflow/profiles", "workflow/report", "workflow/configs"]


def readme_command(name: str) -> str:
    """The one-line command in the fenced block after `<!-- command: NAME -->`."""
    match = re.search(rf"<!-- command: {name} -->\s*```(?:bash|sh)?\n(.*?)```", README, re.S)
    assert match, f"README.md has no `<!-- command: {name} -->` block"
    lines = [line for line in match.group(1).splitlines() if line.strip()]
    assert len(lines) == 1, f"the {name} block must hold exactly one command: {lines}"
    return lines[0].strip()


def test_ci_runs_the_readme_test_command():
    assert readme_command("test") in CI_LINES, ".ci/run lacks the README's test command"
    assert readme_command("test").endswith("pytest -q")


def test_both_commands_set_up_a_fresh_environment():
    for name in ("main", "test"):
        assert readme_command(name).startswith("python3 -m venv .venv && . .venv/bin/activate"
                                               " && pip install -e "), name


def test_torchvision_imports_beside_torch():
    """The resolved torch build has a matching torchvision (a pinned torch may not)."""
    import torchvision  # noqa: F401


@pytest.mark.slow
def test_workflow_is_lint_clean():
    result = subprocess.run([str(BIN / "snakemake"), "--lint"], cwd=REPO, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Lints for" not in result.stdout, result.stdout


@pytest.fixture
def workflow_copy(tmp_path: Path) -> Path:
    for name in WORKFLOW_FILES:
        source, target = REPO / name, tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        elif source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copy2(source, target)
    return tmp_path


def run_dry(command: str, cwd: Path) -> subprocess.CompletedProcess:
    words = shlex.split(command)
    assert words[0] == "snakemake"
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    return subprocess.run([str(BIN / "snakemake"), "-n", *words[1:]], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_main_command_dry_runs(workflow_copy):
    command = readme_command("main").split(" && ")[-1]
    assert "results/round5/miou.csv" in command and "--resources gpu=2" in command
    result = run_dry(command, workflow_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Using workflow specific profile profiles/default" in result.stderr
    for rule in ("select", "train_stage1", "evaluate_stage1", "pseudo_labels",
                 "train_stage2", "evaluate_stage2"):
        assert re.search(rf"^{rule}\s+5$", result.stdout, re.M), (rule, result.stdout)
    assert "output: results/round5/miou.csv" in result.stdout


@pytest.mark.slow
def test_target_after_resources_is_the_documented_trap(workflow_copy):
    """The README explains why the target goes first; this is the failure it describes."""
    trap = run_dry("snakemake --cores 2 --resources gpu=1 results/round5/miou.csv",
                   workflow_copy)
    assert trap.returncode != 0
    assert "dictionary update sequence element #1 has length 1; 2 is required" in \
        trap.stdout + trap.stderr
    assert "dictionary update sequence element #1 has length 1; 2 is required" in README
    fixed = run_dry("snakemake --cores 2 --resources gpu=1 -- results/round5/miou.csv",
                    workflow_copy)
    assert fixed.returncode == 0, fixed.stderr


def test_readme_names_every_output():
    for name in ("regions.h5", "oracle.h5", "labels.h5", "stage1.pt", "stage1_log.csv",
                 "stage1_miou.csv", "pseudo.h5", "pseudo_quality.csv", "stage2.pt",
                 "stage2_log.csv", "miou.csv", "miou.png", "manifest.json",
                 "results/runs/{rule}-{hash}/round{t}/", "--rerun-triggers",
                 "workflow/profiles/slurm", "model.pretrained"):
        assert name in README, name


STUDIES = ("region_size", "budget", "acquisition", "losses", "pseudo_labels", "expansion",
           "hyperparams")


@pytest.mark.slow
def test_every_study_is_runnable_and_identical_variants_run_once(workflow_copy):
    """All seven studies of config.yaml dry-run together; every distinct training once
    (tests/test_sharing.py counts them by hand)."""
    from test_sharing import distinct_trainings

    targets = " ".join(f"results/figures/{study}.csv" for study in STUDIES)
    result = run_dry(f"snakemake --cores 2 {targets} results/figures/qualitative.png "
                     "--resources gpu=1", workflow_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    counts = job_counts(result.stdout)
    assert (counts["train_stage1"], counts["train_stage2"]) == distinct_trainings(STUDIES)
    assert counts["study_figure"] == len(STUDIES) and counts["qualitative_figure"] == 1
    assert counts["regions"] == counts["oracle"] == 3  # sp4, sp8, sp16 computed once each


@pytest.mark.slow
def test_readme_study_command_dry_runs_seed0(workflow_copy):
    match = re.search(r"```bash\n(snakemake [^\n]*results/figures/region_size.csv[^\n]*)\n```",
                      README)
    assert match, "README.md shows no study command"
    command = match.group(1) + " --configfile config.yaml workflow/configs/studies-seed0.yaml"
    result = run_dry(command, workflow_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    counts = job_counts(result.stdout)
    # default + 5 region sizes/labellings of 5 rounds, the 3350x10 variant's 10 rounds
    assert counts["train_stage1"] == 6 * 5 + 10 and counts["study_figure"] == 2
