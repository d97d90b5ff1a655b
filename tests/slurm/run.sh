#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, and the tiny workflow run through it with the
# project's SLURM profile (workflow/profiles/slurm, snakemake-executor-plugin-slurm).
#
#   tests/slurm/run.sh [WORKDIR]
#
# Needs Debian's slurm-wlm (slurmctld, slurmd, sbatch, sacct; munge comes with it) and root
# (the daemons run as root here), and `snakemake` with the slurm executor plugin on PATH
# (pip install -e ".[test]"). tests/test_slurm.py runs it (marked slow; skipped with the
# reason when slurm or root is missing); .ci/run installs slurm-wlm.
#
# Steps:
#  1. slurm.conf and gres.conf under WORKDIR/slurm, linked from /etc/slurm/ while the test
#     runs (it refuses to replace a config it did not write). munged starts when none answers.
#  2. slurmctld and slurmd start; the script waits until the node is idle.
#  3. The tiny config (one round, 2 iterations per stage) runs locally (WORKDIR/local) and
#     through SLURM (WORKDIR/cluster) with --workflow-profile workflow/profiles/slurm.
#  4. Checks: every job of the cluster run is a SLURM job (slurmctld's job completion log and
#     scontrol show job),
#     with the cpus, memory, time limit and GPU the profile asks for; the network rules got
#     gres/gpu=1 and the CPU rules none; the stores and scores equal the local run's.
#  5. The daemons stop (also on failure).
#
# The node advertises the profile's largest request (8 CPUs, 32 GB, one GPU) even where the
# machine is smaller: SlurmdParameters=config_overrides keeps slurmd from draining it, and
# the GPU is a gres on /dev/null (slurmd drops a GPU without a device file). Nothing is
# enforced (no cgroups), so the profile runs unchanged on a 2-core machine and its requests
# can be asserted exactly. sacct needs slurmdbd (and a MySQL server), which this cluster
# does not run: the plugin polls squeue (MinJobAge=3600 keeps finished jobs there), and the
# checks read slurmctld's job completion log (jobcomp/filetxt) instead.
set -euo pipefail

REPO="$(cd "$(dirname "$0")/../.." && pwd)"
WORK="${1:-$(mktemp -d /tmp/actseg-slurm.XXXXXX)}"
mkdir -p "$WORK"
WORK="$(cd "$WORK" && pwd)"
SL="$WORK/slurm"
rm -rf "$SL" "$WORK/local" "$WORK/cluster"
mkdir -p "$SL/state" "$SL/spool" "$SL/log" "$WORK/local" "$WORK/cluster"

say() { echo "[slurm-test] $*" >&2; }
fail() { say "FAIL: $*"; exit 1; }

PATH="$PATH:/usr/sbin:/sbin"
for tool in slurmctld slurmd sbatch squeue sinfo munged munge unmunge; do
    command -v "$tool" >/dev/null || fail "$tool not found (apt-get install slurm-wlm)"
done
command -v snakemake >/dev/null || fail "snakemake not on PATH"
[ "$(id -u)" -eq 0 ] || fail "run as root (slurmd starts jobs as their owner)"

NODE="$(hostname -s)"
REAL_CPUS="$(getconf _NPROCESSORS_ONLN)"  # nproc would follow OMP_NUM_THREADS
REAL_MEM="$(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo)"
CPUS=$(( REAL_CPUS > 8 ? REAL_CPUS : 8 ))          # the profile's set-threads: up to 8
MEM=$(( REAL_MEM > 32000 ? REAL_MEM : 32000 ))      # the profile's mem_mb: up to 32000
PORT_CTLD="${SLURM_TEST_PORT:-16817}"
PORT_D=$(( PORT_CTLD + 1 ))

# The configuration lives in $SL, linked from /etc/slurm/ (the default path): the jobstep
# plugin (snakemake-executor-plugin-slurm-jobstep 0.6) drops SLURM_CONF from the job's
# environment before its nested srun, so a SLURM_CONF elsewhere is not found in the job.
ETC=/etc/slurm
for f in slurm.conf gres.conf; do
    if [ -e "$ETC/$f" ] && ! grep -q "written by tests/slurm/run.sh" "$ETC/$f" 2>/dev/null; then
        fail "$ETC/$f exists and is not this test's: not touching a real cluster's config"
    fi
done
mkdir -p "$ETC"
CONF="$SL/slurm.conf"
unset SLURM_CONF  # the tools read /etc/slurm/slurm.conf
cat > "$CONF" <<EOF
# one-node test cluster written by tests/slurm/run.sh
ClusterName=actseg-test
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$PORT_CTLD
SlurmdPort=$PORT_D
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$SL/state
SlurmdSpoolDir=$SL/spool
SlurmctldPidFile=$SL/slurmctld.pid
SlurmdPidFile=$SL/slurmd.pid
SlurmctldLogFile=$SL/log/slurmctld.log
SlurmdLogFile=$SL/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$SL/log/jobcomp.log
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SlurmdParameters=config_overrides
MinJobAge=3600
ReturnToService=2
MpiDefault=none
MailProg=/bin/true
GresTypes=gpu
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM Gres=gpu:1 State=UNKNOWN
PartitionName=test Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
cat > "$SL/gres.conf" <<EOF
# written by tests/slurm/run.sh
AutoDetect=off
NodeName=$NODE Name=gpu File=/dev/null Count=1
EOF

ln -sfn "$SL/slurm.conf" "$ETC/slurm.conf"
ln -sfn "$SL/gres.conf" "$ETC/gres.conf"

STARTED_MUNGE=""
cleanup() {
    local pid
    rm -f "$ETC/slurm.conf" "$ETC/gres.conf"
    for f in "$SL/slurmd.pid" "$SL/slurmctld.pid"; do
        if [ -s "$f" ]; then
            pid="$(cat "$f")"
            kill "$pid" 2>/dev/null || true
        fi
    done
    if [ -n "$STARTED_MUNGE" ]; then
        kill "$STARTED_MUNGE" 2>/dev/null || true
    fi
}
trap cleanup EXIT

munge_ok() { { munge -n </dev/null | unmunge; } >/dev/null 2>&1; }
# munge: use a running munged, else start one (Debian's package created /etc/munge/munge.key)
if ! munge_ok; then
    mkdir -p /run/munge && chown munge:munge /run/munge 2>/dev/null || true
    if id munge >/dev/null 2>&1 && command -v runuser >/dev/null; then
        runuser -u munge -- munged
    else
        munged --force
    fi
    for _ in $(seq 50); do
        munge_ok && break
        sleep 0.2
    done
    STARTED_MUNGE="$(cat /run/munge/munged.pid 2>/dev/null || true)"
    munge_ok || fail "munged does not answer"
fi

say "starting slurmctld and slurmd ($NODE: $CPUS cpus, $MEM MB, gpu:1; real $REAL_CPUS cpus, $REAL_MEM MB)"
slurmctld -f "$CONF" -i
slurmd -f "$CONF" -N "$NODE"
state=""
for _ in $(seq 60); do
    state="$(sinfo -h -N -n "$NODE" -o %T 2>/dev/null || true)"
    [ "$state" = "idle" ] && break
    sleep 1
done
if [ "$state" != "idle" ]; then
    tail -20 "$SL/log/slurmctld.log" "$SL/log/slurmd.log" >&2 || true
    fail "node $NODE is '$state', not idle, after 60 s"
fi
say "node $NODE is idle"

# The tiny config, one round, 2 iterations per stage: 9 jobs (5 of them network rules).
CONFIG=(--configfile "$REPO/config.yaml" "$REPO/workflow/configs/tiny.yaml"
        --config rounds=1 "stage1={iterations: 2}" "stage2={iterations: 2}")
TARGET=results/round1/miou.csv

# The local run gets the profile's thread counts too (torch's sums depend on them), capped
# by the real cores as Snakemake caps them inside each SLURM job (--cores all there).
PROFILE="$REPO/workflow/profiles/slurm"
read -r -a THREADS <<< "$(python3 -c 'import sys, yaml
print(" ".join(f"{r}={n}" for r, n in yaml.safe_load(open(sys.argv[1]))["set-threads"].items()))
' "$PROFILE/config.yaml")"
say "local run (threads ${THREADS[*]})"
(cd "$WORK/local" && snakemake $TARGET -s "$REPO/Snakefile" --cores "$REAL_CPUS" --set-threads "${THREADS[@]}" \
    "${CONFIG[@]}" \
    > "$WORK/local.log" 2>&1) || { tail -40 "$WORK/local.log" >&2; fail "local run failed"; }

say "SLURM run (workflow/profiles/slurm)"
start=$(date +%s)
(cd "$WORK/cluster" && snakemake -s "$REPO/Snakefile" $TARGET \
    --workflow-profile "$PROFILE" "${CONFIG[@]}" \
    --slurm-init-seconds-before-status-checks 2 --slurm-status-command squeue \
    --slurm-keep-successful-logs \
    > "$WORK/cluster.log" 2>&1) || {
    tail -60 "$WORK/cluster.log" >&2
    tail -20 "$SL/log/slurmctld.log" >&2
    fail "SLURM run failed"
}
say "SLURM run took $(( $(date +%s) - start )) s"

scontrol -o show job > "$SL/log/jobs.txt"  # finished jobs stay MinJobAge=3600 s
say "checking the jobs and results"
python3 "$REPO/tests/slurm/check.py" --work "$WORK" --profile "$PROFILE"
say "OK"
