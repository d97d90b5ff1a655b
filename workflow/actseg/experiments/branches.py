"""One path per distinct job: every round file lives in a folder keyed by its provenance.

A job's provenance is its own settings (`jobs.JOBS`, run settings left out) plus, through
its inputs, the provenance of every job upstream of it. Settings do not change from round
to round within an experiment, except that round 1 differs from rounds >= 2 (round 1
selects at random and starts stage 1 from the pretrained weights), so the provenance of a
job at round t is the *set* of (job, round class, settings, inputs) entries reachable from
it, with round class 1 for round 1 and 2 for every later round. Two experiments whose job
at round t has the same set compute the same file; the file lives at

    results/round{t}/{file}                          when the default experiment's equals it
    results/runs/{rule}-{hash}/round{t}/{file}       otherwise ({hash}: of the set)

so a variant differing only in pseudo-label or stage-2 settings reads the stage-1 branch
(labels, stage-1 checkpoints, selections) of the first, variants with equal round-1
settings share round 1, and no job is planned twice. The folder depends on the settings
only (not on which studies the config lists, nor their order), so a config listing a subset
of the studies reuses the same files. A setting change moves exactly the jobs whose
provenance it changes to new folders (Snakemake builds them; the old ones stay on disk).
"""

from __future__ import annotations

import hashlib
import json

from actseg.experiments import jobs, paths

# The node (rule) writing each round file, and the job kind giving its settings.
FILES = {"labels.h5": "select", "queue.h5": "human_queue", "answers.h5": "human_answers",
         "stage1.pt": "train_stage1", "stage1_log.csv": "train_stage1",
         "stage1_miou.csv": "evaluate_stage1", "pseudo.h5": "pseudo_labels",
         "pseudo_quality.csv": "pseudo_labels", "stage2.pt": "train_stage2",
         "stage2_log.csv": "train_stage2", "miou.csv": "evaluate_stage2",
         "miou.png": "evaluate_stage2"}
SETTINGS = {"select": "select", "human_queue": "human_queue", "human_answers": None,
            "train_stage1": "train_stage1", "evaluate_stage1": "evaluate",
            "pseudo_labels": "pseudo", "train_stage2": "train_stage2",
            "evaluate_stage2": "evaluate"}
HASH_LENGTH = 12
RUNS_FOLDER = r"runs/[a-z0-9_]+-[0-9a-f]{12}/"  # the {exp} wildcard of a keyed folder


def round_class(round_: int) -> int:
    return 1 if round_ == 1 else 2


def node_settings(cfg: dict, node: str, round_: int) -> dict:
    """The settings that change the node's output (as its job receives them), with the
    weights named as in the config (not resolved to this checkout's absolute path), so
    that folders do not depend on where the checkout lives."""
    kind = SETTINGS[node]
    if kind is None:
        return {}
    job = jobs.JOBS[kind]
    settings = jobs.split_run(job, jobs.from_config(job, cfg, round_))[0]
    if settings.get("pretrained") is not None:
        settings["pretrained"] = cfg["model"]["pretrained"]
    return settings


def node_inputs(cfg: dict, node: str, round_: int) -> dict:
    """{input name: ("node", node, round) | ("file", path)} as the rules declare them
    (jobs.*_inputs with every round file located by (node, round))."""
    def at(round__, name):
        return ("node", FILES[name], round__)

    makers = {"select": jobs.select_inputs, "human_queue": jobs.ranking_inputs,
              "human_answers": jobs.answers_inputs, "train_stage1": jobs.stage1_inputs,
              "evaluate_stage1": jobs.stage1_evaluate_inputs,
              "pseudo_labels": jobs.pseudo_inputs, "train_stage2": jobs.stage2_inputs,
              "evaluate_stage2": jobs.stage2_evaluate_inputs}
    found = makers[node](cfg, at, round_)
    if "pretrained" in found:  # named as in the config, not by this checkout's path
        found["pretrained"] = cfg["model"]["pretrained"]
    return {name: value if isinstance(value, tuple) else ("file", value)
            for name, value in found.items()}


def provenance(cfg: dict, node: str, round_: int) -> frozenset:
    """The set of (node, round class, settings, inputs) entries upstream of and including
    (node, round_); inputs name other nodes by their round offset."""
    seen, entries, todo = set(), set(), [(node, round_)]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        name, t = current
        inputs = node_inputs(cfg, name, t)
        edges = []
        for label, value in sorted(inputs.items()):
            if value[0] == "node":
                edges.append([label, value[1], value[2] - t])
                todo.append((value[1], value[2]))
            else:
                edges.append([label, "file", value[1]])
        entries.add(json.dumps([name, round_class(t), node_settings(cfg, name, t), edges],
                               sort_keys=True))
    return frozenset(entries)


def provenance_hash(cfg: dict, node: str, round_: int) -> str:
    """A short hash of the provenance and of the dataset it is computed on."""
    text = json.dumps([sorted(provenance(cfg, node, round_)), paths.dataset_identity(cfg)],
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:HASH_LENGTH]


def keyed_folder(cfg: dict, node: str, round_: int) -> str:
    """The {exp} of the node's folder when the default experiment's differs."""
    return f"runs/{node}-{provenance_hash(cfg, node, round_)}/"
