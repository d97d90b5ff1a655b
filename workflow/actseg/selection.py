"""Which checkpoint a training run hands downstream (`train.checkpoint`, docs/method.md §4).

- ``final``: the model after the last iteration (the default; no validation runs, so the
  training loop costs nothing extra).
- ``best_val``: validate every `train.validate_every` iterations on the validation split and
  keep the best (the authors' code: every 5k of 80k iterations, 16 validations, strict
  improvement, on the split that is also its test set - optimistic).
- ``best_heldout``: the same on `train.heldout_images` training images held out of training
  (a fixed draw, the same for every experiment and round), scored against their ground truth.

`BestCheckpoint` does the bookkeeping: the best weights live in `<out>.best.pt` and its
score and iteration in the resume file, so a killed run resumes with its best so far.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from actseg.checkpoint import load_checkpoint, save_checkpoint

CHOICES = ("final", "best_heldout", "best_val")
HELDOUT_SEED = 0  # the held-out draw is a property of the dataset, not of the experiment


def heldout_images(num_images: int, count: int, seed: int = HELDOUT_SEED) -> np.ndarray:
    """Sorted indices of `count` training images (a seeded draw, capped at half the split)."""
    count = min(int(count), num_images // 2)
    order = np.random.default_rng(seed).permutation(num_images)
    return np.sort(order[:count])


def best_path(out: str | os.PathLike) -> Path:
    return Path(f"{out}.best.pt")


class BestCheckpoint:
    """Scores the model every `every` iterations with `score` (higher is better) and keeps
    the weights of the first strictly best one; NaN scores never win."""

    def __init__(self, score: Callable[[torch.nn.Module], float], every: int,
                 out: str | os.PathLike, state: dict | None = None):
        if every < 1:
            raise ValueError(f"validate_every must be >= 1, got {every}")
        self.score, self.every, self.path = score, int(every), best_path(out)
        state = state or {}
        self.best_score = float(state.get("score", -math.inf))
        self.best_iteration = state.get("iteration")
        self.history: list = list(state.get("history", []))

    def due(self, done: int, iterations: int) -> bool:
        """At every multiple of `every`; at the end too if none fell inside the run."""
        return done % self.every == 0 or (done == iterations and self.every > iterations)

    def observe(self, model: torch.nn.Module, done: int) -> float:
        value = float(self.score(model))
        self.history.append([int(done), value])
        if value > self.best_score:  # NaN compares False
            self.best_score, self.best_iteration = value, int(done)
            save_checkpoint(self.path, model, {"iteration": int(done), "score": value})
        return value

    def state(self) -> dict:
        return {"score": self.best_score, "iteration": self.best_iteration,
                "history": self.history}

    def restore(self, model: torch.nn.Module) -> dict:
        """Load the best weights into `model` (the last ones if nothing scored); returns
        what the checkpoint's meta records about the choice."""
        if self.best_iteration is not None:
            state = load_checkpoint(self.path)["model"]
            getattr(model, "_orig_mod", model).load_state_dict(state)
        return {"selected_iteration": self.best_iteration,
                "selected_score": None if self.best_iteration is None else self.best_score,
                "validation": self.history}

    def cleanup(self) -> None:
        self.path.unlink(missing_ok=True)
