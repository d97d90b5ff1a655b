"""benchmarks/proportions.py: the README's proportions table, read from the oracle tables
alone, on a hand-made table of two images (3 real classes, void = 3)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from actseg.stores import OracleTable, write_oracle

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def proportions():
    spec = importlib.util.spec_from_file_location("bench_proportions",
                                                  ROOT / "benchmarks/proportions.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def table() -> OracleTable:
    # image 0: region 0 = class 0 (10 px), 1 = class 1 (6) + class 2 (4), 2 = absent
    # image 1: region 0 = class 2 (3) + void (7), 1 = class 0 (2) + 1 (3) + 2 (5), 2 = absent
    area = np.array([[10, 10, 0], [10, 10, 0]], np.int32)
    trimmed = np.array([[4, 0, 0], [5, 6, 0]], np.int32)
    multihot = np.array([[0b0001, 0b0110, 0], [0b1100, 0b0111, 0]], np.uint32)
    dominant = np.array([[0, 1, 255], [3, 2, 255]], np.uint8)
    return OracleTable(multihot, dominant, area, trimmed, num_classes=3,
                       hist_sizes=np.array([[1, 2, 0], [2, 3, 0]], np.uint8),
                       hist_classes=np.array([0, 1, 2, 2, 3, 0, 1, 2], np.uint8),
                       hist_counts=np.array([10, 6, 4, 3, 7, 2, 3, 5], np.int32))


def test_dominant_pixels_are_each_regions_largest_histogram_count(proportions):
    assert proportions.dominant_pixels(table(), 2).tolist() == [[10, 6, 0], [7, 5, 0]]
    assert proportions.dominant_pixels(table(), 1).tolist() == [[10, 6, 0]]


def test_row_by_hand(proportions, tmp_path):
    write_oracle(tmp_path / "oracle.h5", table())
    cells = proportions.row("sp", str(tmp_path), None).strip("| ").split(" | ")
    # 2 regions per image of 10 px; core 15 of 40 px; one region of four trimmed away whole;
    # clicks 1, 2, 2 (void's undefined click counts), 3; Dom noise 1 - 28 / 40
    assert cells == ["sp", "2", "10.0", "37.5 %", "25.0 %", "25.0 %", "50.0 %", "25.0 %",
                     "30.0 %"]
    first = proportions.row("sp", str(tmp_path), 1).strip("| ").split(" | ")
    assert first[-1] == "20.0 %" and first[4] == "50.0 %"


def test_an_oracle_without_histograms_is_refused_by_name(proportions, tmp_path):
    t = table()
    write_oracle(tmp_path / "oracle.h5", OracleTable(t.multihot, t.dominant, t.area,
                                                     t.trimmed_area, num_classes=3))
    with pytest.raises(SystemExit, match="oracle.h5 has no class histograms"):
        proportions.row("sp", str(tmp_path), None)
