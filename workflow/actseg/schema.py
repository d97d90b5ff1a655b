"""The configuration schema (workflow/schemas/config.schema.yaml): the one place where every
setting is declared, with its type, range, default and whether it is a run setting.

A run setting (`x-run-setting: true` in the schema) changes speed, not results: device,
threads, batch sizes of inference, loader workers, checkpoint and log intervals. Snakemake
does not rerun a job when only run settings change, and a training resume file stays valid.

Keys are dotted paths into the config: `stage1.lr`, `dataset.synthetic.n_train`.
This module imports nothing of the package, so every layer may use it.
"""

from __future__ import annotations

import copy
import functools
import math
import re
from pathlib import Path
from typing import Any

import yaml

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "config.schema.yaml"
RUN_SETTING = "x-run-setting"


@functools.cache
def load_schema() -> dict:
    if not SCHEMA_PATH.is_file():
        raise FileNotFoundError(f"{SCHEMA_PATH}: the config schema is missing (the package "
                                "reads it from its source tree: install with pip install -e)")
    return yaml.safe_load(SCHEMA_PATH.read_text())


def resolve_ref(node: dict) -> dict:
    """`node` with a local `$ref` (#/$defs/...) merged in, the node's own keys winning."""
    ref = node.get("$ref")
    if not ref:
        return node
    target = load_schema()
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    return {**resolve_ref(target), **{k: v for k, v in node.items() if k != "$ref"}}


@functools.cache
def _property(key: str) -> dict:
    node = load_schema()
    for part in key.split("."):
        properties = node.get("properties", {})
        if part not in properties:
            raise KeyError(f"{key}: not a setting of the config schema")
        node = properties[part]
    return resolve_ref(node)


def prop(key: str) -> dict:
    """The schema entry of setting `key` ($ref resolved); KeyError if there is none."""
    return copy.deepcopy(_property(key))


def default(key: str) -> Any:
    """The schema default of `key` (a fresh copy, so callers may modify it)."""
    entry = _property(key)
    if "default" not in entry:
        raise KeyError(f"{key}: the schema declares no default")
    return copy.deepcopy(entry["default"])


def is_run_setting(key: str) -> bool:
    return bool(_property(key).get(RUN_SETTING, False))


def lookup(cfg: dict, key: str) -> Any:
    """The value of dotted `key` in a (defaults-filled) config dict."""
    value = cfg
    for part in key.split("."):
        value = value[part]
    return value


def coerce(key: str, value: Any) -> Any:
    """`value` as the type the schema declares for `key`: numbers become float (so 6 and 6.0
    are one setting), integers int, arrays element-wise; None and strings pass."""
    entry = _property(key)
    if isinstance(value, list):
        item_type = resolve_ref(entry.get("items", {})).get("type")
        return [_coerce_scalar(item_type, v) for v in value]
    return _coerce_scalar(entry.get("type"), value)


def _coerce_scalar(kind, value):
    if value is None or isinstance(value, (bool, str)):
        return value
    if kind == "number":
        return float(value)
    if kind == "integer":
        return int(value)
    return value


def fill_defaults(cfg: dict, node: dict | None = None) -> dict:
    """Set every missing key of `cfg` that has a default, recursively (objects, and the
    entries of maps such as `studies`), in place; returns `cfg`."""
    node = resolve_ref(load_schema() if node is None else node)
    if not isinstance(cfg, dict):
        return cfg
    for name, sub in node.get("properties", {}).items():
        sub = resolve_ref(sub)
        if name not in cfg and "default" in sub:
            cfg[name] = copy.deepcopy(sub["default"])
        if name in cfg:
            fill_defaults(cfg[name], sub)
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        for name, value in cfg.items():
            if name not in node.get("properties", {}):
                fill_defaults(value, extra)
    return cfg


def setting_keys(node: dict | None = None, prefix: str = "") -> list[str]:
    """Dotted keys of every leaf setting (objects with properties are walked; `studies`,
    a map of variants, is not a setting)."""
    node = resolve_ref(load_schema() if node is None else node)
    keys = []
    for name, sub in node.get("properties", {}).items():
        sub, key = resolve_ref(sub), f"{prefix}{name}"
        if key == "studies":
            continue
        if sub.get("type") == "object" and "properties" in sub:
            keys += setting_keys(sub, f"{key}.")
        else:
            keys.append(key)
    return keys


_NUMBER = {"integer": re.compile(r"[+-]?\d+"),
           "number": re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?(nan|inf|infinity)",
                                re.IGNORECASE)}


def coerce_numeric_strings(cfg: Any, node: dict | None = None) -> Any:
    """Turn strings that spell a number into numbers where the schema wants one, in place
    (Snakemake's `--config key='{nested: 40}'` passes nested values as strings); returns
    `cfg`. Strings that are no number are left for the schema to reject."""
    node = resolve_ref(load_schema() if node is None else node)
    if isinstance(cfg, dict):
        properties = node.get("properties", {})
        extra = node.get("additionalProperties")
        for name, value in cfg.items():
            sub = properties.get(name, extra if isinstance(extra, dict) else None)
            if sub is not None:
                cfg[name] = coerce_numeric_strings(value, sub)
    elif isinstance(cfg, list) and isinstance(node.get("items"), dict):
        cfg[:] = [coerce_numeric_strings(v, node["items"]) for v in cfg]
    elif isinstance(cfg, str):
        return _number_from(cfg, node.get("type"))
    return cfg


def _number_from(text: str, kind) -> Any:
    kinds = kind if isinstance(kind, list) else [kind]
    if "string" in kinds:
        return text
    for name, cast in (("integer", int), ("number", float)):
        if name in kinds and _NUMBER[name].fullmatch(text.strip()):
            return cast(text.strip())
    return text


def non_finite(cfg: Any, prefix: str = "") -> list[tuple[str, float]]:
    """(dotted key, value) of every NaN or infinite number in `cfg` (list items as key[i]):
    JSON-schema bounds let NaN through, so every number is checked here."""
    if isinstance(cfg, float):
        return [] if math.isfinite(cfg) else [(prefix, cfg)]
    if isinstance(cfg, dict):
        items = ((f"{prefix}.{k}" if prefix else str(k), v) for k, v in cfg.items())
    elif isinstance(cfg, list):
        items = ((f"{prefix}[{i}]", v) for i, v in enumerate(cfg))
    else:
        return []
    return [found for where, value in items for found in non_finite(value, where)]
