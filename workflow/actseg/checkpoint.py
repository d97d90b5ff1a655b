"""Model checkpoints and training resume state (docs/architecture.md, "Checkpoints").

A checkpoint is `{"model": state_dict, "meta": {...}}` with plain-Python meta, so every
load uses `torch.load(..., weights_only=True)`. The resume state of a run in progress
(model, optimizer, iteration, RNG states as tensors) lives beside the output in
`<out>.resume.pt` and is deleted by the trainer on success.
"""

from __future__ import annotations

import os
import pickle
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from actseg.errors import ActsegError
from actseg.fileio import atomic_output
from actseg.model import DeepLabV3Plus, build_model

_PLAIN = (str, int, float, bool, type(None))


class CheckpointError(ActsegError, ValueError):
    """A checkpoint file is missing, unreadable or not an actseg checkpoint."""


def to_plain(value: Any, where: str = "meta") -> Any:
    """Copy `value` with only types `weights_only` loading accepts (Path → str, numpy
    scalars/arrays → Python values, tuples → lists); anything else is a TypeError."""
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    if isinstance(value, Mapping):
        return {str(k): to_plain(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise TypeError(f"{where}: {type(value).__name__} is not a plain Python value")


def _save(path: str | os.PathLike, obj: dict) -> Path:
    path = Path(path)
    with atomic_output(path) as tmp:
        torch.save(obj, tmp)
    return path


def _load(path: str | os.PathLike, map_location, required: tuple[str, ...]) -> dict:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError, OSError, ValueError) as err:
        raise CheckpointError(f"{path}: not a readable checkpoint ({err})") from err
    if not isinstance(obj, dict) or any(key not in obj for key in required):
        raise CheckpointError(f"{path}: not an actseg checkpoint (expected keys {required})")
    return obj


# --------------------------------------------------------------------------- checkpoints


def save_checkpoint(path: str | os.PathLike, model: torch.nn.Module, meta: Mapping) -> Path:
    """Write `{"model": state_dict, "meta": meta}` atomically. `meta` should hold at least
    backbone, num_classes (C), output_stride, aspp_rates (+ stem, head_channels if not
    the defaults) so that `load_model` can rebuild the network."""
    model = getattr(model, "_orig_mod", model)  # a torch.compile'd model saves its module
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return _save(path, {"model": state, "meta": to_plain(dict(meta))})


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    """`{"model": state_dict, "meta": dict}` of a checkpoint, loaded with weights_only."""
    return _load(path, map_location, ("model", "meta"))


def model_config(meta: Mapping) -> dict:
    """`build_model` arguments recorded in a checkpoint's meta (`num_outputs` when recorded:
    C without an undefined class; older checkpoints had C + 1)."""
    try:
        config = {"backbone": meta["backbone"], "num_classes": int(meta["num_classes"])}
    except KeyError as err:
        raise CheckpointError(f"checkpoint meta lacks {err}") from err
    if meta.get("num_outputs") is not None:
        config["num_outputs"] = int(meta["num_outputs"])
    config["output_stride"] = int(meta.get("output_stride", 16))
    config["aspp_rates"] = tuple(meta.get("aspp_rates", (6, 12, 18)))
    config["stem"] = meta.get("stem", "deep")
    config["head_channels"] = meta.get("head_channels")
    return config


def load_model(path: str | os.PathLike, device="cpu") -> tuple[DeepLabV3Plus, dict]:
    """Rebuild the model a checkpoint describes, load its weights, move it to `device`
    in eval mode; returns (model, meta)."""
    ckpt = load_checkpoint(path)
    meta = ckpt["meta"]
    try:
        model = build_model(**model_config(meta))
        model.load_state_dict(ckpt["model"])
    except (CheckpointError, RuntimeError, ValueError) as err:
        raise CheckpointError(f"{path}: cannot rebuild the model ({err})") from err
    return model.to(device).eval(), meta


# --------------------------------------------------------------------------- resume


def resume_path(out: str | os.PathLike) -> Path:
    """Where the resume state of a run writing `out` lives: `<out>.resume.pt`."""
    out = Path(out)
    return out.with_name(out.name + ".resume.pt")


def capture_rng_state() -> dict:
    """Python, NumPy, torch CPU and CUDA generator states, as tensors and plain values."""
    version, mt_state, gauss = random.getstate()
    np_kind, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state = {
        "python": [version, list(mt_state), gauss],
        "numpy": [np_kind, torch.from_numpy(np_keys.astype(np.int64)), int(np_pos),
                  int(np_has_gauss), float(np_gauss)],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: Mapping) -> None:
    """Inverse of `capture_rng_state`."""
    version, mt_state, gauss = state["python"]
    random.setstate((version, tuple(mt_state), gauss))
    np_kind, np_keys, np_pos, np_has_gauss, np_gauss = state["numpy"]
    np.random.set_state((np_kind, np_keys.numpy().astype(np.uint32), np_pos, np_has_gauss,
                         np_gauss))
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def save_resume(path: str | os.PathLike, model: torch.nn.Module, optimizer, iteration: int,
                extra: Mapping | None = None) -> Path:
    """Atomically write everything a killed run needs to continue after `iteration` steps.
    `extra` holds the trainer's own plain values or tensors (e.g. a sampler generator)."""
    model = getattr(model, "_orig_mod", model)
    return _save(path, {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "iteration": int(iteration),
        "rng": capture_rng_state(),
        "extra": dict(extra or {}),
    })


def load_resume(path: str | os.PathLike, model: torch.nn.Module, optimizer,
                map_location="cpu", restore_rng: bool = True) -> tuple[int, dict]:
    """Load a resume state into model and optimizer (and the global RNGs); returns
    (iteration, extra). The learning rate is a function of the iteration (no scheduler)."""
    state = _load(path, map_location, ("model", "optimizer", "iteration", "rng"))
    getattr(model, "_orig_mod", model).load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if restore_rng:
        restore_rng_state(state["rng"])
    return int(state["iteration"]), dict(state.get("extra") or {})
