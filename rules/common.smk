# Thin wrappers over the experiment layer (workflow/actseg/experiments, unit-tested): config
# validation, experiments and study variants, the path registry, and the settings of each
# rule. Each job gets `params.settings`, the JSON of exactly the settings that change its
# output (Snakemake's params trigger reruns it when they change), and `params.run`, its run
# settings (RunArgs: not compared, so changing them reruns nothing).

import os
import sys

sys.path.insert(0, os.path.join(workflow.basedir, "workflow"))  # this checkout's package

from snakemake.exceptions import WorkflowError

from actseg.experiments import jobs, paths
from actseg.experiments.validation import ConfigError
from actseg.experiments.validation import validate_config as _validate
from actseg.experiments.variants import UnknownExperiment

EXPERIMENTS = None  # set by validate_config


def validate_config(cfg):
    """Validate `cfg` in place (defaults filled in) and every study variant."""
    global EXPERIMENTS
    try:
        EXPERIMENTS = _validate(cfg)
    except ConfigError as err:
        raise WorkflowError(str(err)) from None


def experiment_config(exp):
    try:
        return EXPERIMENTS.config(exp)
    except UnknownExperiment as err:
        raise WorkflowError(str(err)) from None


def exp_config(wildcards):
    return experiment_config(wildcards.exp)


def pretrain_config(wildcards):
    """The default experiment's settings with the backbone of the requested weights."""
    cfg = experiment_config("")
    return {**cfg, "model": {**cfg["model"], "backbone": wildcards.backbone}}


def regionset_config(wildcards):
    try:
        return EXPERIMENTS.regionset_config(wildcards.regionset)
    except UnknownExperiment as err:
        raise WorkflowError(str(err)) from None


class RunArgs:
    """Run settings as CLI options. Snakemake's params trigger records only builtin values
    (str, int, list, ...) and skips other objects, so this wrapper keeps a change of device
    or batch size from rerunning finished jobs."""

    def __init__(self, options):
        self.text = jobs.render_options(options)

    def __str__(self):
        return self.text

    def __repr__(self):
        return f"RunArgs({self.text!r})"


def job_values(name, config_of, wildcards):
    """(settings, run settings) of job kind `name` for the job of `wildcards`."""
    round_ = int(wildcards.round) if hasattr(wildcards, "round") else None
    job = jobs.JOBS[name]
    return jobs.split_run(job, jobs.from_config(job, config_of(wildcards), round_))


def settings(name, config_of=exp_config):
    """params function: the JSON of the job's settings that change its output."""
    return lambda wildcards: jobs.settings_json(job_values(name, config_of, wildcards)[0])


def run_args(name, config_of=exp_config):
    """params function: the job's run settings (not compared by Snakemake)."""
    return lambda wildcards: RunArgs(job_values(name, config_of, wildcards)[1])


def located(cfg):
    """at(t, name): where round t's file `name` of experiment `cfg` is built (its folder
    keyed by the job's provenance, actseg.experiments.branches)."""
    return EXPERIMENTS.at(cfg)


def inputs(make):
    """Input function of a rule whose inputs jobs.`make`(cfg, at, round) declares."""

    def function(wildcards):
        cfg = exp_config(wildcards)
        return make(cfg, located(cfg), int(wildcards.round))

    return function


def links(*names):
    """params function: the optional inputs `names` as --name options."""
    return lambda wildcards, input: jobs.render_options({n: input.get(n) for n in names})


def round_scored(wildcards):
    return int(jobs.scores_with_model(exp_config(wildcards), int(wildcards.round)))


def queue_scored(wildcards):
    cfg = exp_config(wildcards)
    return int(jobs.uses_model_scores(cfg["acquisition"]["method"], int(wildcards.round)))


def human_options(wildcards):
    """params function: the human oracle's --db (nothing for the simulated oracle)."""
    cfg = exp_config(wildcards)
    return jobs.render_options(jobs.human_options(cfg, located(cfg)))


def study_runs(wildcards):
    """[(variant, labelling, seed, curve path)] of the study's runs (keyed folders)."""
    try:
        return EXPERIMENTS.study_runs(wildcards.study)
    except UnknownExperiment as err:
        raise WorkflowError(str(err)) from None


def study_run_args(wildcards):
    return jobs.render_repeated("run", [":".join(map(str, run)) for run in study_runs(wildcards)])
