"""Checkpoint selection (train.checkpoint): bookkeeping by hand, and inside the loop."""

from __future__ import annotations

import math

import numpy as np
import torch

from actseg.selection import BestCheckpoint, best_path, heldout_images
from actseg.trainsets import ExampleSubset, without_images


class Scripted:
    """A score function that returns prepared values in order."""

    def __init__(self, values):
        self.values, self.calls = list(values), 0

    def __call__(self, model):
        self.calls += 1
        return self.values.pop(0)


def test_best_keeps_first_strict_maximum_and_ignores_nan(tmp_path):
    model = torch.nn.Linear(1, 1, bias=False)
    best = BestCheckpoint(Scripted([0.3, 0.5, math.nan, 0.5, 0.4]), 2, tmp_path / "m.pt")
    for done, weight in zip([2, 4, 6, 8, 10], [1.0, 2.0, 3.0, 4.0, 5.0]):
        model.weight.data.fill_(weight)
        best.observe(model, done)
    assert best.best_iteration == 4 and best.best_score == 0.5  # the tie at 8 loses
    meta = best.restore(model)
    assert model.weight.item() == 2.0 and meta["selected_iteration"] == 4
    assert [row[0] for row in meta["validation"]] == [2, 4, 6, 8, 10]
    best.cleanup()
    assert not best_path(tmp_path / "m.pt").exists()


def test_due_at_multiples_and_at_the_end_if_none_fell_inside(tmp_path):
    best = BestCheckpoint(Scripted([]), 5, tmp_path / "m.pt")
    assert [d for d in range(1, 17) if best.due(d, 16)] == [5, 10, 15]
    late = BestCheckpoint(Scripted([]), 50, tmp_path / "m.pt")
    assert [d for d in range(1, 17) if late.due(d, 16)] == [16]


def test_state_round_trips(tmp_path):
    model = torch.nn.Linear(1, 1, bias=False)
    best = BestCheckpoint(Scripted([0.7]), 1, tmp_path / "m.pt")
    best.observe(model, 1)
    again = BestCheckpoint(Scripted([]), 1, tmp_path / "m.pt", best.state())
    assert again.best_score == 0.7 and again.best_iteration == 1


def test_heldout_draw_is_fixed_sorted_and_capped():
    a = heldout_images(100, 10)
    assert len(a) == 10 and list(a) == sorted(set(a)) and np.array_equal(a, heldout_images(100, 10))
    assert len(heldout_images(6, 10)) == 3


class Keyed(torch.utils.data.Dataset):
    def __init__(self, examples):
        self.examples = np.asarray(examples)

    def __len__(self):
        return len(self.examples)

    def __getitem__(self, key):
        return ("position", key[0], "seed", key[1])


def test_without_images_maps_positions_to_the_kept_examples():
    subset = without_images(Keyed([7, 3, 9, 4]), np.array([3, 4]))
    assert isinstance(subset, ExampleSubset) and list(subset.examples) == [7, 9]
    assert subset[(1, 11)] == ("position", 2, "seed", 11)
