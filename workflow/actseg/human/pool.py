"""The region table of the train split without ground truth (`pool.h5`, an oracle table
whose answers are empty): each region's area and trimmed area from the region maps alone.
With a human oracle it stands in for `oracle.h5` until people have answered; the answers of
each round are added to it (`answers_table`).
"""

from __future__ import annotations

import numpy as np

from actseg.oracle import NO_REGION
from actseg.regions import boundary_band
from actseg.stores import OracleTable, RegionsStore


def region_areas(region_map: np.ndarray, r_max: int, trim_width: float
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(area, trimmed area) of region ids 0..r_max-1 of one image."""
    keep = ~boundary_band(region_map, trim_width)
    area = np.bincount(region_map.ravel(), minlength=r_max)[:r_max]
    trimmed = np.bincount(region_map[keep], minlength=r_max)[:r_max]
    return area, trimmed


def pool_table(regions: RegionsStore, num_classes: int, trim_width: float,
               attrs: dict | None = None, has_undefined: bool = True) -> OracleTable:
    shape = (len(regions), regions.r_max)
    table = OracleTable(multihot=np.zeros(shape, np.uint32),
                        dominant=np.full(shape, NO_REGION, np.uint8),
                        area=np.zeros(shape, np.int32), trimmed_area=np.zeros(shape, np.int32),
                        num_classes=num_classes,
                        attrs=dict(attrs or {}, trim_width=float(trim_width), answers="none"),
                        has_undefined=has_undefined)
    for index in range(len(regions)):
        table.area[index], table.trimmed_area[index] = region_areas(
            regions.region_map(index), regions.r_max, trim_width)
    return table


def answers_table(pool: OracleTable, answers: np.ndarray, labelled: np.ndarray,
                  labelling: str) -> OracleTable:
    """`pool` with people's label sets (bitmasks) in the labelled regions: the oracle table
    that training and pseudo labelling read in place of oracle.h5."""
    bits = np.where(labelled, answers, 0).astype(np.uint32)
    dominant = np.full(bits.shape, NO_REGION, np.uint8)
    if labelling == "dominant":  # one bit per answer: its index is the dominant class
        dominant[labelled] = np.log2(bits[labelled]).astype(np.uint8)
    return OracleTable(bits, dominant, pool.area.copy(), pool.trimmed_area.copy(),
                       pool.num_classes, dict(pool.attrs, answers="human"),
                       has_undefined=pool.has_undefined)
