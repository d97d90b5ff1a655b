"""The regions a survey asks about: grouped by their number of classes and drawn with a seed.

A region's class set is the oracle's trimmed multi-class set (`oracle.h5` `multihot`, the
answer the simulated oracle gives); its group is the set's size, 1, 2 or 3. As in the paper,
regions with pixels of the undefined class (void) are left out: those whose trimmed set or
dominant class is undefined by the table alone (and those whose dominant class, counted
over all pixels, is missing from the trimmed set), and, while walking a group's shuffled
candidates, those with any void pixel at all (the trim may hide void in the border band),
checked against the ground truth of the few images the walk reaches.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from actseg import IGNORE_INDEX
from actseg.stores import OracleTable, popcount
from actseg.survey.forms import CLASS_COUNTS, SurveyError


@dataclass(frozen=True)
class SampledRegion:
    image: int  # image index (position in the sorted train split)
    region: int  # region id in that image
    classes: tuple[int, ...]  # the true class set (trimmed, as the oracle answers)
    dominant: int  # the dominant class over the whole region


def class_counts(table: OracleTable) -> tuple[np.ndarray, np.ndarray]:
    """(N, R_max) number of real classes of each region's trimmed set, and whether the region
    is eligible: present, with neither its trimmed set nor its dominant class undefined, and
    its dominant class (over all its pixels) one of the trimmed set's, so that the dominant
    and the multi-class form agree on what the region holds."""
    c = table.num_classes
    real = table.multihot & np.uint32((1 << c) - 1)
    undefined = (table.multihot >> np.uint32(c)) & np.uint32(1)
    dominant_in_set = (real >> np.minimum(table.dominant, c).astype(np.uint32)) & np.uint32(1)
    eligible = (table.area > 0) & (undefined == 0) & (table.dominant < c) & (dominant_in_set > 0)
    return popcount(real).astype(np.int64), eligible


class VoidCheck:
    """Whether a region has a void pixel anywhere: one bincount per image, cached."""

    def __init__(self, dataset, regions_store):
        self.dataset, self.store = dataset, regions_store
        self._cache: dict[int, np.ndarray] = {}

    def __call__(self, image: int, region: int) -> bool:
        if image not in self._cache:
            void = self.dataset.load_label(image) == IGNORE_INDEX
            region_map = self.store.region_map(image)
            self._cache[image] = np.bincount(region_map.ravel(), weights=void.ravel()) > 0
        return bool(self._cache[image][region])


def _bits(mask: int, num_classes: int) -> tuple[int, ...]:
    return tuple(c for c in range(num_classes) if mask >> c & 1)


def draw_group(table: OracleTable, n_classes: int, count: int, touches_void,
               rng: np.random.Generator) -> list[SampledRegion]:
    """`count` regions with `n_classes` classes, in the order of a seeded shuffle."""
    counts, eligible = class_counts(table)
    candidates = np.argwhere(eligible & (counts == n_classes))
    drawn: list[SampledRegion] = []
    for image, region in candidates[rng.permutation(len(candidates))]:
        if len(drawn) == count:
            break
        if touches_void(int(image), int(region)):
            continue
        drawn.append(SampledRegion(int(image), int(region),
                                   _bits(int(table.multihot[image, region]), table.num_classes),
                                   int(table.dominant[image, region])))
    if len(drawn) < count:
        raise SurveyError(f"only {len(drawn)} regions with {n_classes} class(es) and no "
                          f"undefined pixel, fewer than the {count} asked for (lower "
                          "survey.regions_per_group or use more images)")
    return drawn


def draw_regions(table: OracleTable, count: int, seed: int, touches_void
                 ) -> dict[int, list[SampledRegion]]:
    """{number of classes: its drawn regions} for 1, 2 and 3 classes; one seeded stream."""
    rng = np.random.default_rng(seed)
    return {k: draw_group(table, k, count, touches_void, rng) for k in CLASS_COUNTS}
