"""For each rule (job kind), the exact settings that change its output, and its inputs.

A job's settings are a flat dict {option: value}: the option is the command's argument
name, the value comes from one config key (`Job.keys`) and then passes the job's domain
rules, which drop what the job does not read and derive what the method dictates. The
domain rules live here once:

- round 1 selects at random, so it reads no acquisition settings;
- kappa matters to pixbal only, ban_undefined to the model-scored methods on datasets with
  the undefined class;
- dominant labels train stage 1 with the dominant-class loss (so no lambda_mp / lambda_pp);
- the dominant-answer settings matter to dominant labels of the simulated oracle only, and
  the seed to pseudo labels only when dominant answers are sampled;
- lambda_pp exists in mp_pp only; the expansion rule matters only when expanding;
- compactness matters to SLIC only;
- the final checkpoint validates nothing (no validation settings).

Run settings (`x-run-setting` in the schema) are split off (`split_run`): Snakemake passes
them as plain options outside its rerun trigger. Snakemake renders each job's settings as
JSON (`settings_json`); the CLI resolves `--config my.yaml` or `--settings JSON` through
the same `resolve`, so a job run by hand computes the same numbers.
"""

from __future__ import annotations

import json
import os
import shlex
from dataclasses import dataclass, field
from typing import Callable

from actseg import schema
from actseg.datasets import HAS_UNDEFINED
from actseg.experiments import paths

Rules = Callable[[dict, "int | None"], dict]


@dataclass(frozen=True)
class Job:
    """The settings of one job kind: option -> config key, then the domain rules."""

    keys: dict[str, str]
    rules: tuple[Rules, ...] = field(default=())


def resolve(job: Job, values: dict, round_: int | None = None) -> dict:
    """`values` (option -> value, as typed by the schema) after the job's domain rules."""
    values = {option: schema.coerce(job.keys[option], value)
              for option, value in values.items() if option in job.keys}
    for rule in job.rules:
        values = rule(values, round_)
    return values


def from_config(job: Job, cfg: dict, round_: int | None = None) -> dict:
    """The job's settings and run settings in experiment config `cfg` (defaults filled)."""
    return resolve(job, {option: schema.lookup(cfg, key) for option, key in job.keys.items()},
                   round_)


def split_run(job: Job, values: dict) -> tuple[dict, dict]:
    """(settings that change the output, run settings)."""
    run = {k: v for k, v in values.items() if schema.is_run_setting(job.keys[k])}
    return {k: v for k, v in values.items() if k not in run}, run


def settings_json(settings: dict) -> str:
    """The one form in which a job receives its settings (and Snakemake compares them)."""
    return json.dumps(settings, sort_keys=True)


def render_options(values: dict) -> str:
    """{option: value} as command-line options for a shell: `--name value` (quoted), a list
    as several values, True / False as `--name` / `--no-name`, None left out."""
    words = []
    for option, value in values.items():
        flag = f"--{option.replace('_', '-')}"
        if value is None:
            continue
        if isinstance(value, bool):
            words.append(flag if value else f"--no-{flag[2:]}")
            continue
        values_ = value if isinstance(value, (list, tuple)) else [value]
        words += [flag, *(shlex.quote(str(v)) for v in values_)]
    return " ".join(words)


def render_repeated(option: str, values: list) -> str:
    """`--option v1 --option v2 ...` for an option given once per value."""
    return " ".join(render_options({option: value}) for value in values)


# --------------------------------------------------------------------------- domain rules


def _without(values: dict, *options: str) -> dict:
    return {k: v for k, v in values.items() if k not in options}


def normalised_root(values, round_):
    return {**values, "root": os.path.normpath(values["root"])}


def compactness_for_slic(values, round_):
    return values if values.get("method") == "slic" else _without(values, "compactness")


def uses_model_scores(method: str, round_: int) -> bool:
    """Round 1 is random; later rounds score the pool with a model unless method random."""
    return round_ >= 2 and method != "random"


def round_one_is_random(values, round_):
    """Round 1 draws at random and reads no acquisition setting, so changing one reruns
    from round 2 on; kappa matters to pixbal only, the others to the scored methods."""
    method = values["method"] if round_ >= 2 else "random"
    values = {**values, "method": method}
    if not uses_model_scores(method, round_):
        values = _without(values, "ban_undefined", "amp")
    elif not HAS_UNDEFINED[values["dataset"]]:  # nothing to ban (VOC)
        values = _without(values, "ban_undefined")
    if method != "pixbal" or not uses_model_scores(method, round_):
        values = _without(values, "kappa")
    return values


def dominant_labels_dominant_loss(values, round_):
    """Dominant labels train with plain CE of the dominant class (lambda_ce); lambda_mp
    weighs the multi-class term, lambda_pp exists in mp_pp only."""
    loss = "dominant" if values.get("labelling") == "dominant" else values["loss"]
    values = {**values, "loss": loss}
    if loss == "dominant":  # lr x dominant_lr_mult (the command applies it)
        values = _without(values, "lambda_mp")
    else:
        values = _without(values, "dominant_lr_mult")
    if loss != "mp_pp":
        values = _without(values, "lambda_pp")
    return values


def dominant_answers_when_simulated(values, round_):
    """dominant.void / dominant.rule decide the simulated oracle's dominant answers;
    multi-class labels and people's answers read neither (pseudo: after human_oracle_only,
    which keeps oracle_source for the human oracle only)."""
    if values.get("labelling") != "dominant" or values.get("oracle_source") == "human":
        values = _without(values, "dominant_void", "dominant_rule")
    return values


def stage1_dominant_answers(values, round_):
    """Stage 1 reads the oracle's source only to know whether dominant.* apply."""
    return _without(dominant_answers_when_simulated(values, round_), "oracle_source")


def pseudo_dominant_answers(values, round_):
    """The seed draws dominant answers under rule sample; pseudo labels read it for nothing
    else."""
    values = dominant_answers_when_simulated(values, round_)
    return values if values.get("dominant_rule") == "sample" else _without(values, "seed")


def shipped_weights(values, round_):
    """Default weights are read from the checkout when the working directory lacks them;
    without weights, whether to take their head means nothing."""
    if values["pretrained"] is None:
        return _without(values, "pretrained_head")
    return {**values, "pretrained": paths.pretrained_path(values["pretrained"])}


def human_oracle_only(values, round_):
    """The oracle's source and the answer server's settings matter to the human oracle only
    (select; pseudo, whose quality CSV needs train ground truth the human path never reads)."""
    if values.get("oracle_source") == "human":
        return values
    return _without(values, "oracle_source", "url")


def validation_only_when_selecting(values, round_):
    """The final checkpoint validates nothing; only best_heldout holds images out."""
    if values.get("checkpoint", "final") == "final":
        return _without(values, "validate_every", "heldout_images", "validate_batch_size")
    if values["checkpoint"] != "best_heldout":
        return _without(values, "heldout_images")
    return values


def rule_only_when_expanding(values, round_):
    """The overlap rule decides between expanded labels only; the naive baselines have no
    prototypes (no sources, no features)."""
    if values.get("method") != "prototype":
        values = _without(values, "sources", "renormalize")
    return values if values.get("expand") else _without(values, "rule")


# -------------------------------------------------------------------------------- the map

DATA = {"dataset": "dataset.kind", "root": "dataset.root"}
MODEL = {"backbone": "model.backbone", "stem": "model.stem",
         "output_stride": "model.output_stride", "aspp_rates": "model.aspp_rates",
         "pretrained": "model.pretrained", "pretrained_head": "model.pretrained_head",
         "tau": "model.tau"}
DOMINANT = {"dominant_void": "dominant.void", "dominant_rule": "dominant.rule"}
TRAIN_RUN = {"num_workers": "train.num_workers", "checkpoint_every": "train.checkpoint_every",
             "validate_batch_size": "evaluate.batch_size",
             "log_every": "train.log_every", "channels_last": "train.channels_last",
             "device": "device"}


def optimisation(stage: int) -> dict[str, str]:
    """Settings of the training loop shared by both stages, plus the stage's own."""
    return {"iterations": f"stage{stage}.iterations", "batch_size": "train.batch_size",
            "lr": f"stage{stage}.lr", "head_lr_mult": "train.head_lr_mult",
            "weight_decay": "train.weight_decay", "poly_power": "train.poly_power",
            "min_lr": "train.min_lr", "crop_size": "train.crop_size",
            "scale_range": "train.scale_range", "seed": "seed", "amp": "train.amp",
            "checkpoint": "train.checkpoint", "validate_every": "train.validate_every",
            "heldout_images": "train.heldout_images"}


def inference(batch_key: str) -> dict[str, str]:
    """Inference jobs run in float32 unless train.inference_amp says otherwise."""
    return {"batch_size": batch_key, "device": "device", "amp": "train.inference_amp"}


JOBS = {
    "synth": Job({"seed": "dataset.synthetic.seed", "n_train": "dataset.synthetic.n_train",
                  "n_val": "dataset.synthetic.n_val", "height": "dataset.synthetic.height",
                  "width": "dataset.synthetic.width"}),
    "regions": Job({**DATA, "method": "regions.method", "size": "regions.size",
                    "compactness": "regions.compactness"},
                   (normalised_root, compactness_for_slic)),
    "oracle": Job({**DATA, "trim_width": "regions.trim_width"}, (normalised_root,)),
    "select": Job({**DATA, "labelling": "labelling", "method": "acquisition.method",
                   "budget": "budget", "seed": "seed", "kappa": "acquisition.kappa",
                   "ban_undefined": "acquisition.ban_undefined",
                   "oracle_source": "oracle.source", "url": "oracle.url",
                   **inference("acquisition.batch_size")},
                  (normalised_root, round_one_is_random, human_oracle_only)),
    "train_stage1": Job({**DATA, **MODEL, **optimisation(1), **TRAIN_RUN,
                         "labelling": "labelling", "loss": "stage1.loss",
                         "lambda_ce": "stage1.lambda_ce", "lambda_mp": "stage1.lambda_mp",
                         "lambda_pp": "stage1.lambda_pp",
                         "dominant_lr_mult": "stage1.dominant_lr_mult", **DOMINANT,
                         "oracle_source": "oracle.source"},
                        (normalised_root, shipped_weights, dominant_labels_dominant_loss,
                         validation_only_when_selecting, stage1_dominant_answers)),
    "train_stage2": Job({**DATA, **MODEL, **optimisation(2), **TRAIN_RUN},
                        (normalised_root, shipped_weights, validation_only_when_selecting)),
    "evaluate": Job({**DATA, **inference("evaluate.batch_size"), "absent": "evaluate.absent"},
                    (normalised_root,)),
    "pseudo": Job({**DATA, "labelling": "labelling", "method": "pseudo.method",
                   "expand": "pseudo.expand", "rule": "pseudo.rule",
                   "sources": "pseudo.sources", "renormalize": "pseudo.renormalize",
                   "oracle_source": "oracle.source", **DOMINANT, "seed": "seed",
                   **inference("pseudo.batch_size")},
                  (normalised_root, rule_only_when_expanding, human_oracle_only,
                   pseudo_dominant_answers)),
    "qualitative": Job({**DATA, "device": "device"}, (normalised_root,)),
    "pretrain": Job({"backbone": "model.backbone", "stem": "model.stem",
                     "iterations": "pretrain.iterations", "batch_size": "pretrain.batch_size",
                     "size": "pretrain.size", "lr": "pretrain.lr", "seed": "pretrain.seed",
                     "head_lr_mult": "train.head_lr_mult", "device": "device",
                     "num_workers": "train.num_workers", "amp": "train.amp"}),
    "survey_build": Job({**DATA, "regions_per_group": "survey.regions_per_group",
                         "patch_side": "survey.patch_side",
                         "participants": "survey.participants", "seed": "survey.seed"},
                        (normalised_root,)),
    "survey_report": Job({"outlier_iqr": "survey.outlier_iqr"}),
}
# The human oracle's queue ranks like select (without filling) and marks repeated queries.
JOBS["human_queue"] = Job({**_without(JOBS["select"].keys, "oracle_source", "url"),
                           "repeat_fraction": "oracle.repeat_fraction"},
                          (normalised_root, round_one_is_random))
JOBS["human_serve"] = Job({"annotators": "oracle.annotators",
                           "patch_side": "survey.patch_side"})
JOBS["human_pool"] = JOBS["oracle"]  # region areas and trimmed areas, without ground truth
# The fully supervised bound (`actseg train --stage 0`) trains like stage 2, on pixel labels.
JOBS["train_stage0"] = JOBS["train_stage2"]


def train_job(stage: int) -> str:
    return f"train_stage{stage}"


# ------------------------------------------------------------------------------- inputs
# Each *_inputs(cfg, at, round_) declares a job's inputs; `at(t, name)` is where round t's
# file `name` of the experiment lives (actseg.experiments.branches: one folder per distinct
# job, so the same file is never built twice); other inputs are shared paths.

At = Callable[[int, str], object]


def human_oracle(cfg: dict) -> bool:
    return cfg["oracle"]["source"] == "human"


def scores_with_model(cfg: dict, round_: int) -> bool:
    """Whether round t's select job runs round t-1's model (the human oracle's queue job
    does that instead)."""
    return uses_model_scores(cfg["acquisition"]["method"], round_) and not human_oracle(cfg)


def oracle_input(cfg: dict, at: At, round_: int):
    """The label sets that train round t: the simulated oracle.h5 or the answers so far."""
    if human_oracle(cfg):
        return at(round_, "answers.h5")
    return paths.regions_path(cfg, "oracle")


def ranking_inputs(cfg: dict, at: At, round_: int) -> dict:
    """Round t >= 2 extends round t-1's labels; a scored method reads its stage-1 model.
    The human oracle ranks over the ground-truth-free pool table."""
    table = "pool" if human_oracle(cfg) else "oracle"
    inputs = {"regions": paths.regions_path(cfg, "regions"),
              "oracle": paths.regions_path(cfg, table), "data": paths.dataset_inputs(cfg)}
    if round_ >= 2:
        inputs["previous"] = at(round_ - 1, "labels.h5")
    if uses_model_scores(cfg["acquisition"]["method"], round_):
        inputs["model"] = at(round_ - 1, "stage1.pt")
    return inputs


def select_inputs(cfg: dict, at: At, round_: int) -> dict:
    """The simulated fill ranks and fills; the human oracle reads the round's queue."""
    inputs = ranking_inputs(cfg, at, round_)
    if human_oracle(cfg):
        inputs.pop("model", None)
        inputs["queue"] = at(round_, "queue.h5")
    return inputs


def answers_inputs(cfg: dict, at: At, round_: int) -> dict:
    """The human oracle's answers so far, as an oracle table (human_answers)."""
    return {"labels": at(round_, "labels.h5"), "pool": paths.regions_path(cfg, "pool")}


def answer_store(labels_round1: str) -> str:
    """The human oracle's SQLite answer store (every round), next to round 1's labels:
    results/human/answers.sqlite for the default experiment."""
    return labels_round1[:-len("round1/labels.h5")] + "human/answers.sqlite"


def human_options(cfg: dict, at: At) -> dict:
    """--db of the human oracle's select job (not an input: it changes while people label)."""
    return {"db": answer_store(at(1, "labels.h5"))} if human_oracle(cfg) else {}


def stage1_inputs(cfg: dict, at: At, round_: int) -> dict:
    """keep_classifier: round t >= 2 starts from round t-1's stage-1 classifier."""
    inputs = {"regions": paths.regions_path(cfg, "regions"),
              "oracle": oracle_input(cfg, at, round_),
              "labels": at(round_, "labels.h5"),
              "data": paths.dataset_inputs(cfg), "pretrained": pretrained_inputs(cfg)}
    if cfg["stage1"]["keep_classifier"] and round_ >= 2:
        inputs["init_classifier"] = at(round_ - 1, "stage1.pt")
    return inputs


def stage1_evaluate_inputs(cfg: dict, at: At, round_: int) -> dict:
    return {"model": at(round_, "stage1.pt"), "labels": at(round_, "labels.h5"),
            "data": paths.dataset_inputs(cfg)}


def pseudo_inputs(cfg: dict, at: At, round_: int) -> dict:
    return {"model": at(round_, "stage1.pt"), "labels": at(round_, "labels.h5"),
            "regions": paths.regions_path(cfg, "regions"),
            "oracle": oracle_input(cfg, at, round_)}


def stage2_inputs(cfg: dict, at: At, round_: int) -> dict:
    return {"pseudo": at(round_, "pseudo.h5"), "pretrained": pretrained_inputs(cfg)}


def stage2_evaluate_inputs(cfg: dict, at: At, round_: int) -> dict:
    """miou.csv of round t extends round t-1's curve with round t's two rows."""
    inputs = {"model": at(round_, "stage2.pt"), "labels": at(round_, "labels.h5"),
              "stage1_csv": at(round_, "stage1_miou.csv")}
    if round_ >= 2:
        inputs["previous"] = at(round_ - 1, "miou.csv")
    return inputs


def pretrained_inputs(cfg: dict) -> list[str]:
    """The weights file as a job reads it (for Snakemake: wait for it / build it)."""
    pretrained = paths.pretrained_path(cfg["model"]["pretrained"])
    return [pretrained] if pretrained else []
