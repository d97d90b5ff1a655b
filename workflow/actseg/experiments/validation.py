"""Validation of a config before any job runs: the schema (unknown keys with a did-you-mean
hint), defaults filled in, then the constraints the schema cannot express, for the default
experiment and every study variant. Every problem is reported with the key that causes it."""

from __future__ import annotations

import difflib
from pathlib import Path

from actseg import schema
from actseg.datasets.synthetic import may_regenerate
from actseg.errors import ActsegError
from actseg.experiments import paths
from actseg.experiments.paths import DATASET_LAYOUT
from actseg.experiments.variants import Experiments, base_config, merge
from actseg.weightfile import file_problem

# Top-level run settings: invocation-wide, so a study variant may not override them.
INVOCATION_WIDE = tuple(key for key in schema.setting_keys()
                        if "." not in key and schema.is_run_setting(key))


class ConfigError(ActsegError, ValueError):
    """An invalid configuration; the message lists every problem, one per line."""

    def __init__(self, problems: list[str]):
        super().__init__("invalid configuration:\n  " + "\n  ".join(problems))
        self.problems = problems


def validate_config(cfg: dict) -> Experiments:
    """Validate `cfg` in place (defaults filled in), then every study variant and the
    cross-field constraints; returns the experiments it defines. Raises ConfigError."""
    for spec in (cfg.get("studies") or {}).values():
        for overrides in ((spec or {}).get("variants") or {}).values():
            schema.coerce_numeric_strings(overrides)  # overrides are nested like the file
    raise_schema_errors(cfg, "config")
    schema.fill_defaults(cfg)
    problems = check_experiment(base_config(cfg), "config")
    for study, spec in cfg["studies"].items():
        for variant, overrides in spec["variants"].items():
            problems += check_variant(cfg, overrides, f"studies.{study}.variants.{variant}")
    if problems:
        raise ConfigError(problems)
    experiments = Experiments(cfg)
    experiments.registry()  # shared datasets and region sets must agree between experiments
    return experiments


def check_variant(cfg: dict, overrides: dict, where: str) -> list[str]:
    fixed = [key for key in (*INVOCATION_WIDE, "studies") if key in overrides]
    if fixed:
        return [f"{where}: {', '.join(fixed)} cannot vary per variant "
                "(set run settings at the top level)"]
    merged = merge(base_config(cfg), overrides)
    raise_schema_errors(merged, where)
    return check_experiment(merged, where)


def raise_schema_errors(cfg: dict, where: str) -> None:
    """Check `cfg` against the schema after turning numeric strings into numbers (in
    place); NaN and infinite numbers are errors too."""
    import jsonschema

    schema.coerce_numeric_strings(cfg)
    validator = jsonschema.Draft202012Validator(schema.load_schema())
    errors = sorted(validator.iter_errors(cfg), key=lambda e: list(map(str, e.absolute_path)))
    problems = [describe_schema_error(err, where) for err in errors]
    problems += [f"{where}: {key}: {value} is not a finite number"
                 for key, value in schema.non_finite(cfg)]
    if problems:
        raise ConfigError(problems)


def describe_schema_error(error, where: str) -> str:
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


def check_experiment(cfg: dict, where: str) -> list[str]:
    """Constraints the schema cannot express; returns a list of messages."""
    problems = []
    low, high = cfg["train"]["scale_range"]
    if low > high:
        problems.append(f"{where}: train.scale_range {[low, high]}: low exceeds high")
    data = cfg["dataset"]
    if data["kind"] == "synthetic":
        problems += check_synthetic(cfg, high, where)
    else:
        problems += check_dataset_root(data["kind"], Path(data["root"]), where)
    pretrained = paths.pretrained_path(cfg["model"]["pretrained"])
    problem = None if pretrained is None else file_problem(pretrained)
    if problem and not (not Path(pretrained).exists() and paths.buildable_weights(pretrained)):
        problems.append(f"{where}: model.pretrained: {problem} (no rule builds it: only "
                        "workflow/weights/{backbone}-pretext.pt is built, by pretrain)")
    return problems


def check_synthetic(cfg: dict, scale_high: float, where: str) -> list[str]:
    problems = []
    synthetic, crop = cfg["dataset"]["synthetic"], cfg["train"]["crop_size"]
    size = (synthetic["height"], synthetic["width"])
    largest = [int(side * scale_high) for side in size]
    if any(c > s for c, s in zip(crop, largest)):
        problems.append(
            f"{where}: train.crop_size {crop} exceeds the largest rescaled synthetic image "
            f"{largest} (dataset.synthetic height/width x train.scale_range high)")
    if cfg["regions"]["size"] > min(size):
        problems.append(f"{where}: regions.size {cfg['regions']['size']} exceeds the "
                        f"synthetic image size {list(size)}")
    root = Path(cfg["dataset"]["root"])
    if not may_regenerate(root):
        problems.append(f"{where}: dataset.root {root} holds files that are not a generated "
                        "synthetic city; kind synthetic (re)generates its root, so point "
                        "dataset.root at a new folder or delete this one")
    return problems


def check_dataset_root(kind: str, root: Path, where: str) -> list[str]:
    if not root.is_dir():
        return [f"{where}: dataset.root {root} does not exist (dataset.kind {kind} reads an "
                "existing tree; only kind synthetic is generated)"]
    missing = [sub for sub in DATASET_LAYOUT[kind] if not (root / sub).is_dir()]
    if missing:
        return [f"{where}: dataset.root {root} is not a {kind} tree: missing "
                f"{', '.join(missing)}"]
    return []


def load_config(path=None) -> dict:
    """A config file (or none: every key at its default) checked against the schema, with
    the defaults filled in, for commands run by hand with `--config`."""
    import yaml

    cfg = {}
    if path is not None:
        try:
            cfg = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as err:
            raise ConfigError([f"{path}: cannot read the config ({err})"]) from None
    raise_schema_errors(cfg, str(path or "config"))
    return schema.fill_defaults(cfg)
