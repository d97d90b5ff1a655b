# actseg: region-based active learning for semantic segmentation with multi-class label
# queries. The rules live in rules/*.smk, all logic in the package under workflow/actseg,
# the configuration in config.yaml (schema: workflow/schemas/config.schema.yaml).
# Main command (see README.md): snakemake --cores 2 results/round5/miou.csv --resources gpu=1

from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


include: "rules/common.smk"


# Schema (defaults filled in, unknown keys rejected) and cross-field checks of the default
# experiment and of every study variant, before any job runs.
validate_config(config)


# {exp}: "" (the default experiment's jobs) or "runs/{rule}-{hash}/" (every other distinct
# job, keyed by its provenance: actseg.experiments.branches)
wildcard_constraints:
    exp=r"(runs/[a-z0-9_]+-[0-9a-f]{12}/)?",  # actseg.experiments.branches.RUNS_FOLDER
    round=r"[1-9]\d*",
    regionset=r"[A-Za-z0-9][A-Za-z0-9._+-]*",  # actseg.experiments.paths.SAFE_NAME


include: "rules/data.smk"
include: "rules/pretrain.smk"
include: "rules/regions.smk"
include: "rules/rounds.smk"
include: "rules/studies.smk"
include: "rules/survey.smk"
include: "rules/human.smk"


# Every round's files, so that a deleted intermediate is rebuilt with all it feeds.
rule all:
    default_target: True
    input:
        paths.experiment_targets("", config["rounds"]),
