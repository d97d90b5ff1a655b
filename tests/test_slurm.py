"""The project's SLURM profile on a real (one-node, local) SLURM cluster: tests/slurm/run.sh
starts slurmctld and slurmd, runs one round of the tiny config locally and through
`snakemake --workflow-profile workflow/profiles/slurm` (snakemake-executor-plugin-slurm),
and checks the SLURM jobs' cpus, memory, time and GPU requests and that the results equal
the local run's (tests/slurm/check.py). CI installs Debian's slurm-wlm (.ci/run); elsewhere
the test is skipped with the reason."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess

import pytest

from workflow_runs import REPO, snakemake_env

SCRIPT = REPO / "tests/slurm/run.sh"
TOOLS = ("slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "munged")


def _missing() -> str | None:
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    absent = [t for t in TOOLS if shutil.which(t, path=path) is None]
    if absent:
        return (f"SLURM is not installed ({', '.join(absent)} not found): "
                "apt-get install slurm-wlm (.ci/run does)")
    if os.geteuid() != 0:
        return "the one-node SLURM cluster's daemons need root"
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        return "snakemake-executor-plugin-slurm is not installed (pip install -e '.[test]')"
    if os.path.exists("/etc/slurm/slurm.conf"):
        text = open("/etc/slurm/slurm.conf", errors="replace").read()
        if "written by tests/slurm/run.sh" not in text:
            return "/etc/slurm/slurm.conf belongs to a real cluster: not replacing it"
    return None


@pytest.mark.slow
@pytest.mark.skipif(_missing() is not None, reason=str(_missing()))
def test_tiny_workflow_through_slurm(tmp_path):
    env = dict(snakemake_env(), OMP_NUM_THREADS="1")
    done = subprocess.run(["bash", str(SCRIPT), str(tmp_path)], env=env, capture_output=True,
                          text=True, timeout=900)
    report = done.stdout + done.stderr
    assert done.returncode == 0, report[-6000:]
    assert "result files equal between the local and the SLURM run" in report
    assert "train_stage1" in report and "gpu=1" in report
