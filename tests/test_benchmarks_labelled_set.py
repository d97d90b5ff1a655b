"""benchmarks/labelled_set.py: the labelled-set shares behind the README's claims narrative,
on a hand-made oracle table of one image with four regions (3 real classes, void = 3)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from actseg.stores import OracleTable

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def labelled_set():
    spec = importlib.util.spec_from_file_location("bench_labelled", ROOT / "benchmarks/labelled_set.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def table() -> OracleTable:
    # regions: 0 = class 0 (10 px), 1 = class 1 (6 px) + class 2 (4 px), 2 = class 2 (5 px)
    # + void (5 px), 3 = absent
    area = np.array([[10, 10, 10, 0]], np.int32)
    multihot = np.array([[0b0001, 0b0110, 0b1100, 0]], np.uint32)  # bit 3 = undefined
    return OracleTable(multihot, np.array([[0, 1, 2, 255]], np.uint8), area, area.copy(),
                       num_classes=3,
                       hist_sizes=np.array([[1, 2, 2, 0]], np.uint8),
                       hist_classes=np.array([0, 1, 2, 2, 3], np.uint8),
                       hist_counts=np.array([10, 6, 4, 5, 5], np.int32))


def test_region_class_pixels_scatters_the_sparse_histograms(labelled_set):
    pixels = labelled_set.region_class_pixels(table())
    assert pixels.shape == (1, 4, 4)
    assert pixels[0].tolist() == [[10, 0, 0, 0], [0, 6, 4, 0], [0, 0, 5, 5], [0, 0, 0, 0]]


def test_labelled_stats_by_hand(labelled_set):
    t = table()
    pixels = labelled_set.region_class_pixels(t)
    labelled = np.array([[True, True, False, False]])
    stats = labelled_set.labelled_stats(labelled, t, pixels, rare=np.array([2]))
    assert stats["multi-class regions"] == pytest.approx(0.5)  # region 1 of {0, 1}
    assert stats["pixels in multi-class"] == pytest.approx(10 / 20)
    assert stats["classes"] == 3
    assert stats["rare-class pixels"] == pytest.approx(4 / 20)
    assert stats["labelled area"] == pytest.approx(20 / 30)
    assert stats["off dominant"] == pytest.approx(4 / 20)  # region 1's class-2 pixels
    stats = labelled_set.labelled_stats(np.array([[False, False, True, False]]), t, pixels,
                                        rare=np.array([0]))
    # region 2 answers {2, undefined}: two clicks, so multi-class; void is not a real class
    assert stats["multi-class regions"] == 1.0 and stats["classes"] == 1
    assert stats["rare-class pixels"] == 0.0
    assert stats["off dominant"] == pytest.approx(5 / 10)  # a 5/5 tie: one half is off
