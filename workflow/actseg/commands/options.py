"""Settings of a command, from the one source (the schema): `--config my.yaml` (defaults
for every key it lacks), `--settings JSON` (what the workflow passes: the job's resolved
settings) and one override option per setting (`--lr 2e-3`), generated from the job's map
in `actseg.experiments.jobs`, so no default is declared here."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from actseg import schema
from actseg.cli import CommandError

SETTINGS_HELP = ("the job's settings as JSON, or @FILE holding it (the workflow passes "
                 "these); keys it lacks come from --config or the schema defaults")


def add_settings_arguments(parser: argparse.ArgumentParser, *job_names: str) -> None:
    """--settings, --config and one override option per setting of the jobs."""
    from actseg.experiments.jobs import JOBS

    group = parser.add_argument_group(
        "settings", "precedence: an option below > --settings > --config > schema default")
    group.add_argument("--settings", metavar="JSON|@FILE", help=SETTINGS_HELP)
    group.add_argument("--config", metavar="YAML",
                       help="a config file as for the workflow (config.yaml)")
    added = set()
    for name in job_names:
        for option, key in JOBS[name].keys.items():
            if option not in added:
                added.add(option)
                group.add_argument(f"--{option.replace('_', '-')}", dest=option,
                                   default=argparse.SUPPRESS, **option_kwargs(key))


def option_kwargs(key: str) -> dict:
    """argparse type, nargs and choices of setting `key`, read from the schema."""
    entry = schema.prop(key)
    text = entry.get("description", "").strip().replace("%", "%%")
    kwargs = {"help": f"{text} [config {key}]"}
    kind = _single_type(entry.get("type"))
    if kind == "boolean":
        return {**kwargs, "action": argparse.BooleanOptionalAction}
    if kind == "array":
        low, high = entry.get("minItems"), entry.get("maxItems")
        kwargs["nargs"] = low if low is not None and low == high else "+"
        entry = schema.resolve_ref(entry.get("items", {}))
        kind = _single_type(entry.get("type"))
    if "enum" in entry:
        kwargs["choices"] = entry["enum"]
    kwargs["type"] = {"integer": int, "number": float}.get(kind, str)
    return kwargs


def _single_type(kind):
    """The non-null type of a nullable setting (type: [string, "null"])."""
    if isinstance(kind, list):
        kind = next(k for k in kind if k != "null")
    return kind


def resolve_settings(args: argparse.Namespace, job_name: str, round_: int | None = None
                     ) -> dict:
    """The job's settings (result and run settings), also set as attributes of `args`
    (None for those the job's domain rules drop)."""
    from actseg.experiments.jobs import JOBS, resolve
    from actseg.experiments.validation import ConfigError, load_config

    job = JOBS[job_name]
    try:
        cfg = load_config(args.config) if args.config else schema.fill_defaults({})
        values = {option: schema.lookup(cfg, key) for option, key in job.keys.items()}
        values.update(_read_json(args.settings))
        values.update({o: getattr(args, o) for o in job.keys if o in vars(args)})
        values = resolve(job, values, round_)
    except (ConfigError, OSError, ValueError, TypeError, KeyError) as err:
        raise CommandError(f"settings: {err}") from None
    bad = [f"--{option.replace('_', '-')} {value}" for option, value in schema.non_finite(values)]
    if bad:
        raise CommandError(f"settings: not a finite number: {', '.join(bad)}")
    for option in job.keys:
        setattr(args, option, values.get(option))
    return values


def _read_json(text: str | None) -> dict:
    if not text:
        return {}
    if text.startswith("@"):
        text = Path(text[1:]).read_text()
    values = json.loads(text)
    if not isinstance(values, dict):
        raise ValueError("--settings must be a JSON object")
    return values


def add_threads_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=int, help="torch intra-op threads (a run option)")


def add_inference_arguments(parser: argparse.ArgumentParser, job_name: str) -> None:
    """The options of a command that runs the network over a split: its settings (batch
    size, device, precision among them) and --threads."""
    add_settings_arguments(parser, job_name)
    add_threads_argument(parser)


def set_threads(args: argparse.Namespace) -> None:
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
