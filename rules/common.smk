# Helpers shared by all rules files: config validation, experiment configs (the default
# experiment and study variants), shared paths, and the CLI argument strings of each rule.
#
# Path scheme (README.md, "Outputs"):
#   results/{exp}round{t}/...          one experiment; {exp} is "" for the default experiment
#                                      and "studies/{study}/{variant}/seed{seed}/" for a study
#   results/regions/{dataset}-{method}{size}/{regions,oracle}.h5   shared by all experiments
#   results/logs/..., results/benchmarks/...   mirror the output paths

import copy
import difflib
import functools
import os
import re
import shlex
from pathlib import Path

import jsonschema
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate


STUDY_PREFIX = re.compile(r"studies/(?P<study>[^/]+)/(?P<variant>[^/]+)/seed(?P<seed>\d+)/")
SYNTHETIC_MANIFEST = "manifest.json"  # written last by `actseg synth`: the data are complete
RUN_SETTINGS = ("device", "threads")  # invocation-wide; studies may not override them


# ----------------------------------------------------------------------------- validation


def validate_config(cfg, schema_path):
    """Validate `cfg` in place (defaults filled in), then every study variant and the
    cross-field constraints; raise a WorkflowError that names the offending keys."""
    schema = yaml.safe_load((Path(workflow.basedir) / schema_path).read_text())
    raise_schema_errors(cfg, schema, "config")
    validate(cfg, schema_path)  # Snakemake's validator: fills in the defaults
    problems = check_experiment(base_config(), "config")
    for study, spec in cfg["studies"].items():
        for variant, overrides in spec["variants"].items():
            where = f"studies.{study}.variants.{variant}"
            fixed = [key for key in (*RUN_SETTINGS, "studies") if key in overrides]
            if fixed:
                problems.append(f"{where}: {', '.join(fixed)} cannot vary per variant "
                                "(set run settings at the top level)")
                continue
            merged = merge(base_config(), overrides)
            raise_schema_errors(merged, schema, where)
            problems += check_experiment(merged, where)
    if problems:
        raise WorkflowError("invalid configuration:\n  " + "\n  ".join(problems))
    experiment_registry()  # shared datasets and region sets must agree between experiments


def raise_schema_errors(cfg, schema, where):
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(cfg), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        lines = [describe_schema_error(err, where) for err in errors]
        raise WorkflowError("invalid configuration:\n  " + "\n  ".join(lines))


def describe_schema_error(error, where):
    """One line naming the key: `where: regions.size: 0 is less than the minimum of 2`."""
    path = ".".join(str(part) for part in error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = list(error.schema.get("properties", {}))
        unknown = [key for key in error.instance if key not in known]
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(str(key), known, n=1)
            full = f"{path}.{key}" if path else str(key)
            hints.append(f"{full}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        return f"{where}: unknown key {', '.join(hints)}; known keys here: {', '.join(known)}"
    return f"{where}: {path or '(top level)'}: {error.message}"


def check_experiment(cfg, where):
    """Constraints the schema cannot express; returns a list of messages."""
    problems = []
    data, train = cfg["dataset"], cfg["train"]
    low, high = train["scale_range"]
    if low > high:
        problems.append(f"{where}: train.scale_range {[low, high]}: low exceeds high")
    root = Path(data["root"])
    if data["kind"] == "synthetic":
        size = (data["synthetic"]["height"], data["synthetic"]["width"])
        largest = [int(side * high) for side in size]
        if any(c > s for c, s in zip(train["crop_size"], largest)):
            problems.append(
                f"{where}: train.crop_size {train['crop_size']} exceeds the largest rescaled "
                f"synthetic image {largest} (dataset.synthetic height/width x "
                f"train.scale_range high)")
        if cfg["regions"]["size"] > min(size):
            problems.append(f"{where}: regions.size {cfg['regions']['size']} exceeds the "
                            f"synthetic image size {list(size)}")
        if not is_synthetic_root(root):
            problems.append(f"{where}: dataset.root {root} holds files that are not a "
                            "generated synthetic city; kind synthetic (re)generates its root, "
                            "so point dataset.root at a new folder or delete this one")
    else:
        problems += check_dataset_root(data["kind"], root, where)
    pretrained = cfg["model"]["pretrained"]
    if pretrained is not None and not Path(pretrained).is_file():
        problems.append(f"{where}: model.pretrained: no such file {pretrained}")
    return problems


SYNTHETIC_README = "The embedded synthetic city of actseg"


def is_synthetic_root(root):
    """Whether `actseg synth --force` may (re)write `root`: absent, empty, or generated by
    it (its manifest, or its README when Snakemake removed the manifest for a rerun)."""
    if not root.exists():
        return True
    if not root.is_dir():
        return False
    if (root / SYNTHETIC_MANIFEST).is_file() or not any(root.iterdir()):
        return True
    readme = root / "README"
    return readme.is_file() and readme.read_text(errors="replace").startswith(SYNTHETIC_README)


DATASET_LAYOUT = {
    "cityscapes": ("leftImg8bit/train", "leftImg8bit/val", "gtFine/train", "gtFine/val"),
    "voc": ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"),
}


def check_dataset_root(kind, root, where):
    if not root.is_dir():
        return [f"{where}: dataset.root {root} does not exist (dataset.kind {kind} reads an "
                "existing tree; only kind synthetic is generated)"]
    missing = [sub for sub in DATASET_LAYOUT[kind] if not (root / sub).is_dir()]
    if missing:
        return [f"{where}: dataset.root {root} is not a {kind} tree: missing "
                f"{', '.join(missing)}"]
    return []


# ---------------------------------------------------------------------------- experiments


def merge(base, overrides):
    """A deep copy of `base` with `overrides` merged in (nested dicts merged key by key)."""
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def base_config():
    """The default experiment: the validated config without the studies section."""
    return {key: value for key, value in config.items() if key != "studies"}


def study_prefix(study, variant, seed):
    return f"studies/{study}/{variant}/seed{seed}/"


@functools.cache
def experiment_config(exp):
    """The settings of experiment `exp` ("" = default; "studies/{s}/{v}/seed{n}/" = variant
    v of study s with seed n, its overrides merged over the defaults)."""
    if exp == "":
        return base_config()
    match = STUDY_PREFIX.fullmatch(exp)
    if match is None:
        raise WorkflowError(f"results/{exp}: not an experiment path "
                            "(results/round{t} or results/studies/{study}/{variant}/seed{n}/)")
    study, variant = match["study"], match["variant"]
    if study not in config["studies"]:
        raise WorkflowError(f"results/{exp}: no study {study!r} in the config "
                            f"(studies: {', '.join(config['studies']) or 'none'})")
    variants = config["studies"][study]["variants"]
    if variant not in variants:
        raise WorkflowError(f"results/{exp}: study {study!r} has no variant {variant!r} "
                            f"(variants: {', '.join(variants)})")
    cfg = merge(base_config(), variants[variant])
    cfg["seed"] = int(match["seed"])
    return cfg


def settings_key(cfg):
    return yaml.safe_dump(cfg, sort_keys=True)


@functools.cache
def canonical_prefix(study, variant, seed):
    """The first experiment with the same settings as (study, variant, seed): the default
    experiment, else the earliest study variant in config order. Figure rules read the curve
    there, so identical variants run once."""
    wanted = settings_key(experiment_config(study_prefix(study, variant, seed)))
    if settings_key(experiment_config("")) == wanted:
        return ""
    for other, spec in config["studies"].items():
        for name in spec["variants"]:
            prefix = study_prefix(other, name, seed)
            if settings_key(experiment_config(prefix)) == wanted:
                return prefix
    raise AssertionError("unreachable: the variant itself matches")


ROUND_FILES = ("labels.h5", "stage1.pt", "stage1_log.csv", "stage1_miou.csv", "pseudo.h5",
               "pseudo_quality.csv", "stage2.pt", "stage2_log.csv", "miou.csv", "miou.png")


def experiment_targets(exp, rounds):
    """Every per-round file of experiment `exp` through round `rounds`.
    Asking for all of them (not only the last miou.csv) makes Snakemake rebuild a deleted
    intermediate file and everything after it: it ignores deleted files that are not
    requested when the files after them exist (snakemake/snakemake#1978)."""
    return [f"results/{exp}round{t}/{name}" for t in range(1, rounds + 1)
            for name in ROUND_FILES]


def all_experiment_configs():
    """(where, config) of the default experiment and every study variant (seed-independent
    settings: datasets and region sets)."""
    yield "config", experiment_config("")
    for study, spec in config["studies"].items():
        for variant in spec["variants"]:
            prefix = study_prefix(study, variant, spec["seeds"][0])
            yield f"studies.{study}.variants.{variant}", experiment_config(prefix)


# ------------------------------------------------------------------ datasets and region sets


def dataset_root(cfg):
    return os.path.normpath(cfg["dataset"]["root"])


def dataset_name(cfg):
    """The dataset's name in shared paths: the folder name of its root."""
    return Path(dataset_root(cfg)).name


def dataset_identity(cfg):
    data = cfg["dataset"]
    synthetic = data["synthetic"] if data["kind"] == "synthetic" else None
    return {"kind": data["kind"], "root": dataset_root(cfg), "synthetic": synthetic}


def regionset_name(cfg):
    return f"{dataset_name(cfg)}-{cfg['regions']['method']}{cfg['regions']['size']}"


def regionset_identity(cfg):
    regions = dict(cfg["regions"])
    if regions["method"] != "slic":
        regions.pop("compactness")  # only SLIC reads it
    return {"dataset": dataset_identity(cfg), "regions": regions}


@functools.cache
def experiment_registry():
    """{"datasets": name -> identity, "regionsets": name -> a config using it}; raises when
    two experiments would share a path but differ in what it holds."""
    datasets, regionsets, first = {}, {}, {}
    problems = []
    for where, cfg in all_experiment_configs():
        for table, name, identity in (
            (datasets, dataset_name(cfg), dataset_identity(cfg)),
            (regionsets, regionset_name(cfg), regionset_identity(cfg)),
        ):
            if name not in table:
                table[name], first[id(table), name] = (identity, cfg), where
            elif table[name][0] != identity:
                problems.append(
                    f"{where} and {first[id(table), name]} share the name {name!r} in results/ "
                    f"but differ: {table[name][0]} vs {identity} (use another dataset.root "
                    "folder name, or equal region settings)")
    if problems:
        raise WorkflowError("invalid configuration:\n  " + "\n  ".join(problems))
    return {"datasets": {name: cfg for name, (_, cfg) in datasets.items()},
            "regionsets": {name: cfg for name, (_, cfg) in regionsets.items()}}


def dataset_inputs(cfg):
    """Files that jobs reading the dataset wait for: the manifest of a generated city."""
    if cfg["dataset"]["kind"] == "synthetic":
        return [f"{dataset_root(cfg)}/{SYNTHETIC_MANIFEST}"]
    return []


def regionset_config(name):
    try:
        return experiment_registry()["regionsets"][name]
    except KeyError:
        raise WorkflowError(f"results/regions/{name}: no experiment uses this region set") from None


def regions_path(cfg, store):
    """results/regions/{dataset}-{method}{size}/{store}.h5 (store: regions | oracle)."""
    return f"results/regions/{regionset_name(cfg)}/{store}.h5"


# ------------------------------------------------------------------------- CLI arguments


def cli(options):
    """Render {"--flag": value} as CLI arguments: True -> the bare flag, False/None ->
    nothing, lists -> space-separated values, everything else quoted."""
    words = []
    for flag, value in options.items():
        if value is None or value is False:
            continue
        words.append(flag)
        if value is True:
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        words += [shlex.quote(str(v)) for v in values]
    return " ".join(words)


class RunArgs:
    """CLI arguments that change speed, not results (device, threads, inference batch
    sizes, loader workers, checkpoint interval). Snakemake's params trigger records only
    builtin values (str, int, list, ...) and skips other objects, so passing these through
    this wrapper keeps a device or batch-size change from rerunning finished jobs."""

    def __init__(self, options):
        self.text = cli(options)

    def __str__(self):
        return self.text

    def __repr__(self):
        return f"RunArgs({self.text!r})"


def round_file(wildcards, name, offset=0):
    """results/{exp}round{t+offset}/{name} for the job's experiment and round."""
    return f"results/{wildcards.exp}round{int(wildcards.round) + offset}/{name}"


def exp_config(wildcards):
    return experiment_config(wildcards.exp)


def data_options(cfg):
    return {"--dataset": cfg["dataset"]["kind"], "--root": dataset_root(cfg)}


def model_options(cfg):
    model = cfg["model"]
    return {"--backbone": model["backbone"], "--stem": model["stem"],
            "--output-stride": model["output_stride"],
            "--aspp-rates": model["aspp_rates"], "--pretrained": model["pretrained"],
            "--tau": model["tau"]}


def optimisation_options(cfg, stage):
    """Settings of the training loop shared by both stages, plus the stage's own."""
    train, own = cfg["train"], cfg[f"stage{stage}"]
    return {"--iterations": own["iterations"], "--batch-size": train["batch_size"],
            "--lr": own["lr"], "--head-lr-mult": train["head_lr_mult"],
            "--weight-decay": train["weight_decay"], "--poly-power": train["poly_power"],
            "--min-lr": train["min_lr"], "--crop-size": train["crop_size"],
            "--scale-range": train["scale_range"], "--seed": cfg["seed"],
            "--amp": train["amp"]}


def train_run_args(cfg):
    train = cfg["train"]
    return RunArgs({"--num-workers": train["num_workers"],
                    "--checkpoint-every": train["checkpoint_every"],
                    "--channels-last": train["channels_last"], "--device": cfg["device"]})


def inference_run_args(cfg, batch_size):
    return RunArgs({"--batch-size": batch_size, "--device": cfg["device"]})


def pretrained_inputs(cfg):
    pretrained = cfg["model"]["pretrained"]
    return [pretrained] if pretrained else []


# ------------------------------------------------------------- arguments of the region rules


def regions_settings(wildcards):
    cfg = regionset_config(wildcards.regionset)
    regions = cfg["regions"]
    compactness = regions["compactness"] if regions["method"] == "slic" else None
    return cli({**data_options(cfg), "--split": "train", "--method": regions["method"],
                "--size": regions["size"], "--compactness": compactness})


def oracle_settings(wildcards):
    cfg = regionset_config(wildcards.regionset)
    return cli({**data_options(cfg), "--split": "train",
                "--trim-width": cfg["regions"]["trim_width"]})


# -------------------------------------------------------------- arguments of the round rules


def previous_round(wildcards):
    return int(wildcards.round) - 1


def uses_model_scores(cfg, round_):
    """Round 1 is random; later rounds score the pool with a model unless method random."""
    return round_ >= 2 and cfg["acquisition"]["method"] != "random"


def select_inputs(wildcards):
    cfg = exp_config(wildcards)
    inputs = {"regions": regions_path(cfg, "regions"), "oracle": regions_path(cfg, "oracle"),
              "data": dataset_inputs(cfg)}
    if previous_round(wildcards) >= 1:
        inputs["previous"] = round_file(wildcards, "labels.h5", -1)
    if uses_model_scores(cfg, int(wildcards.round)):
        inputs["model"] = round_file(wildcards, "stage1.pt", -1)
    return inputs


def select_settings(wildcards):
    """Round 1 draws at random: no acquisition settings, so changing them reruns from
    round 2 on. kappa matters to pixbal only, ban_undefined to the scored methods."""
    cfg = exp_config(wildcards)
    acquisition = cfg["acquisition"]
    scored = uses_model_scores(cfg, int(wildcards.round))
    method = acquisition["method"] if int(wildcards.round) >= 2 else "random"
    return cli({"--labelling": cfg["labelling"], "--method": method,
                "--budget": cfg["budget"], "--seed": cfg["seed"], **data_options(cfg),
                "--kappa": acquisition["kappa"] if scored and method == "pixbal" else None,
                "--no-ban-undefined": scored and not acquisition["ban_undefined"]})


def select_links(wildcards, input):
    return cli({"--previous": input.get("previous"), "--model": input.get("model")})


def stage1_inputs(wildcards):
    cfg = exp_config(wildcards)
    inputs = {"regions": regions_path(cfg, "regions"), "oracle": regions_path(cfg, "oracle"),
              "labels": round_file(wildcards, "labels.h5"), "data": dataset_inputs(cfg),
              "pretrained": pretrained_inputs(cfg)}
    if cfg["stage1"]["keep_classifier"] and previous_round(wildcards) >= 1:
        inputs["init_classifier"] = round_file(wildcards, "stage1.pt", -1)
    return inputs


def stage1_settings(wildcards):
    """The dominant-label model trains with plain CE of the dominant class (lambda_ce);
    lambda_mp weighs the multi-class term, lambda_pp exists in mp_pp only."""
    cfg = exp_config(wildcards)
    stage1 = cfg["stage1"]
    loss = "dominant" if cfg["labelling"] == "dominant" else stage1["loss"]
    return cli({**data_options(cfg), **model_options(cfg), **optimisation_options(cfg, 1),
                "--labelling": cfg["labelling"], "--loss": loss,
                "--lambda-ce": stage1["lambda_ce"],
                "--lambda-mp": stage1["lambda_mp"] if loss != "dominant" else None,
                "--lambda-pp": stage1["lambda_pp"] if loss == "mp_pp" else None})


def evaluate_settings(wildcards, stage):
    cfg = exp_config(wildcards)
    return cli({**data_options(cfg), "--split": "val", "--stage": stage,
                "--amp": cfg["train"]["amp"]})


def evaluate_run_args(wildcards):
    cfg = exp_config(wildcards)
    return inference_run_args(cfg, cfg["evaluate"]["batch_size"])


def pseudo_settings(wildcards):
    """The overlap rule decides between expanded labels only (the CLI defaults it)."""
    cfg = exp_config(wildcards)
    pseudo = cfg["pseudo"]
    return cli({**data_options(cfg), "--labelling": cfg["labelling"],
                "--method": pseudo["method"], "--no-expand": not pseudo["expand"],
                "--rule": pseudo["rule"] if pseudo["expand"] else None,
                "--amp": cfg["train"]["amp"]})


def pseudo_run_args(wildcards):
    cfg = exp_config(wildcards)
    return inference_run_args(cfg, cfg["pseudo"]["batch_size"])


def stage2_settings(wildcards):
    cfg = exp_config(wildcards)
    return cli({**data_options(cfg), **model_options(cfg), **optimisation_options(cfg, 2)})


def stage2_evaluate_inputs(wildcards):
    inputs = {"model": round_file(wildcards, "stage2.pt"),
              "labels": round_file(wildcards, "labels.h5"),
              "stage1_csv": round_file(wildcards, "stage1_miou.csv")}
    if previous_round(wildcards) >= 1:
        inputs["previous"] = round_file(wildcards, "miou.csv", -1)
    return inputs


# -------------------------------------------------------------- studies and figures


def study_spec(study):
    if study not in config["studies"]:
        raise WorkflowError(f"results/figures/{study}.csv: no study {study!r} in the config "
                            f"(studies: {', '.join(config['studies']) or 'none'})")
    return config["studies"][study]


def study_runs(wildcards):
    """[(variant, labelling, seed, curve path)] of every run of the study, config order."""
    spec = study_spec(wildcards.study)
    runs = []
    for variant in spec["variants"]:
        for seed in spec["seeds"]:
            prefix = canonical_prefix(wildcards.study, variant, seed)
            cfg = experiment_config(prefix)
            curve = f"results/{prefix}round{cfg['rounds']}/miou.csv"
            runs.append((variant, cfg["labelling"], seed, curve))
    return runs


def repeated(flag, values):
    """`--flag v1 --flag v2 ...` for options given once per value."""
    return " ".join(f"{flag} {shlex.quote(str(value))}" for value in values)


def study_run_args(wildcards):
    return repeated("--run", [":".join(map(str, run)) for run in study_runs(wildcards)])


def qualitative_models():
    """The default experiment's stage-2 models of rounds 1, middle and last (1/3/5)."""
    last = config["rounds"]
    rounds = sorted({1, (last + 1) // 2, last})
    return {f"round {t}": f"results/round{t}/stage2.pt" for t in rounds}
