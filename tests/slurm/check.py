"""Checks of tests/slurm/run.sh after its two runs of the tiny workflow.

1. Every job of the cluster run went through sbatch: each rule's SLURM log
   (.snakemake/slurm_logs/rule_<rule>/.../<jobid>.log, written by the slurm executor
   plugin) names a SLURM job id, and slurmctld's job completion log (jobcomp/filetxt; sacct
   needs slurmdbd, which this one-node cluster does not run) holds that job COMPLETED with
   exit code 0 and with the cpus, memory and time limit the profile asks for; `scontrol show
   job` shows the plugin's comment (rule_<rule>...) and, for the network rules only, the GPU
   request (TresPerJob=gres:gpu:1 from sbatch --gpus=1).
2. The results equal the local run's: every HDF5 store array for array, every CSV value for
   value.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import yaml

GPU_RULES = {"train_stage1", "evaluate_stage1", "pseudo_labels", "train_stage2",
             "evaluate_stage2"}  # round 1: select scores no model yet
RULES = GPU_RULES | {"synthesize_tiny", "regions", "oracle", "select"}
TINY_THREADS = 1  # workflow/configs/tiny.yaml's threads and workers


def expected(profile: dict, rule: str) -> dict:
    res = {**profile["default-resources"], **profile.get("set-resources", {}).get(rule, {})}
    return {"cpus": int(profile.get("set-threads", {}).get(rule, TINY_THREADS)),
            "mem_mb": int(res["mem_mb"]), "minutes": int(res["runtime"]),
            "gpu": int(rule in GPU_RULES)}


def completion_log(path: Path) -> dict[str, dict]:
    """jobcomp/filetxt lines (Key=Value ...) by JobId."""
    jobs = {}
    for line in path.read_text().splitlines():
        fields = dict(m.groups() for m in re.finditer(r"(\w+)=(\S*)", line))
        if "JobId" in fields:
            jobs[fields["JobId"]] = fields
    return jobs


def tres(text: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in text.split(",") if "=" in item)


def check_jobs(work: Path, profile: dict) -> list[str]:
    errors = []
    logs = sorted((work / "cluster/.snakemake/slurm_logs").glob("rule_*/**/*.log"))
    submitted = {}
    for log in logs:
        rule = log.relative_to(work / "cluster/.snakemake/slurm_logs").parts[0][len("rule_"):]
        submitted.setdefault(rule, []).append(log.stem)
    if set(submitted) != RULES:
        errors.append(f"rules submitted to SLURM: {sorted(submitted)}, expected {sorted(RULES)}")
    done = completion_log(work / "slurm/log/jobcomp.log")
    shown = completion_log(work / "slurm/log/jobs.txt")  # scontrol -o show job: same format
    for rule, ids in sorted(submitted.items()):
        want = expected(profile, rule)
        for jobid in ids:
            job = done.get(jobid)
            if job is None:
                errors.append(f"{rule}: SLURM job {jobid} is not in the completion log")
                continue
            alloc = tres(job.get("Tres", ""))
            # without slurmdbd the GPU is not an accounted TRES: scontrol has the request
            gpus = re.fullmatch(r"gres:gpu:(\d+)", shown.get(jobid, {}).get("TresPerJob", ""))
            got = {"cpus": int(job["ProcCnt"]), "mem_mb": int(alloc.get("mem", "0M")[:-1]),
                   "minutes": int(job["TimeLimit"]), "gpu": int(gpus[1]) if gpus else 0}
            comment = shown.get(jobid, {}).get("Comment", "")
            if not comment.startswith(f"rule_{rule}"):
                errors.append(f"{rule}: job {jobid} has the comment {comment!r}")
            state = (job["JobState"], job["ExitCode"])
            print(f"  {rule:16s} job {jobid:>3s} {state[0]:9s} cpus={got['cpus']} "
                  f"mem={got['mem_mb']}M time={got['minutes']}min gpu={got['gpu']}")
            if state != ("COMPLETED", "0:0"):
                errors.append(f"{rule}: job {jobid} ended {state}")
            if got != want:
                errors.append(f"{rule}: job {jobid} got {got}, the profile asks {want}")
    return errors


def check_results(work: Path) -> list[str]:
    errors = []
    local, cluster = work / "local/results", work / "cluster/results"
    files = sorted(p.relative_to(local) for p in local.rglob("*")
                   if p.suffix in (".h5", ".csv") and "benchmarks" not in p.parts
                   and not p.name.endswith("_log.csv"))  # the training logs hold timings
    if not files:
        return ["the local run wrote no .h5 or .csv results"]
    for rel in files:
        other = cluster / rel
        if not other.is_file():
            errors.append(f"{rel}: missing from the SLURM run")
        elif rel.suffix == ".csv":
            a, b = pd.read_csv(local / rel), pd.read_csv(other)
            if not a.equals(b):
                errors.append(f"{rel}: differs\n{a}\n{b}")
        else:
            with h5py.File(local / rel) as fa, h5py.File(other) as fb:
                names = []
                fa.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset)
                              else None)
                for name in names:
                    if name not in fb or not np.array_equal(fa[name][()], fb[name][()]):
                        errors.append(f"{rel}:{name} differs")
    print(f"  {len(files)} result files equal between the local and the SLURM run")
    return errors


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--profile", type=Path, required=True)
    args = parser.parse_args()
    profile = yaml.safe_load((args.profile / "config.yaml").read_text())
    errors = check_jobs(args.work, profile) + check_results(args.work)
    for error in errors:
        print("FAIL:", error, file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
