"""Oracle simulation (docs/method.md §2): the answers a human would give about each region.

For one image, `label_regions` gives every region its multi-class label set (classes present
after the boundary trim, plus *undefined* when void is present and the dataset has that
class), its dominant class (over the whole region, void counted as index C), the class
histogram of the whole region (sparse: the non-zero (class, count) pairs, void = index C),
its area and its trimmed area, with two bincounts and no loop over regions. The dominant
answer under each `dominant.void` / `dominant.rule` setting is derived from the histogram
(`actseg.stores.OracleTable.dominant_classes`). Click costs for both labelling types are
`actseg.stores.OracleTable.cost`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from actseg import IGNORE_INDEX
from actseg.errors import ActsegError
from actseg.parallel import map_images
from actseg.regions import boundary_band
from actseg.stores import OracleTable, RegionsStore

NO_REGION = 255  # dominant class of an id without pixels


class OracleError(ActsegError, ValueError):
    """Ground truth and regions do not fit together; the message names the file."""


@dataclass
class RegionLabels:
    """Oracle answers for region ids `0..regions.max()` of one image."""

    multihot: np.ndarray  # (R,) uint32, bit c = class c present, bit C = undefined (void)
    dominant: np.ndarray  # (R,) uint8, C = undefined, 255 = no pixels
    area: np.ndarray  # (R,) int32 pixels
    trimmed_area: np.ndarray  # (R,) int32 pixels outside the boundary band
    # the whole region's class histogram, sparse: region r holds hist_sizes[r] consecutive
    # (class, count) pairs, classes ascending, void = C (whether or not the dataset has u)
    hist_sizes: np.ndarray  # (R,) uint8
    hist_classes: np.ndarray  # (M,) uint8
    hist_counts: np.ndarray  # (M,) int32


def _class_index(gt: np.ndarray, num_classes: int) -> np.ndarray:
    """Train ids 0..C-1 stay, void 255 becomes C (undefined); anything else is an error."""
    gt = np.asarray(gt)
    bad = (gt != IGNORE_INDEX) & ((gt < 0) | (gt >= num_classes))
    if bad.any():
        raise ValueError(f"ground truth has ids outside 0..{num_classes - 1} and 255: "
                         f"{np.unique(gt[bad])[:10].tolist()}")
    return np.where(gt == IGNORE_INDEX, num_classes, gt).astype(np.int64)


def _histograms(region_ids: np.ndarray, classes: np.ndarray, n: int, channels: int) -> np.ndarray:
    """(n, channels) pixel counts of every (region, class) pair, one bincount."""
    flat = np.bincount(region_ids * channels + classes, minlength=n * channels)
    return flat.reshape(n, channels)


def label_regions(gt: np.ndarray, regions: np.ndarray, num_classes: int,
                  trim_width: float = 3.0, has_undefined: bool = True) -> RegionLabels:
    """Multi-hot, dominant, histogram, area and trimmed area of each region id
    `0..regions.max()`.

    `gt` (H, W) train ids, 255 = void; `regions` (H, W) non-negative integer ids. Without an
    undefined class (`has_undefined` False, VOC) the multi-hot answer has no bit C: void
    pixels are not part of any answer.
    """
    if gt.shape != regions.shape or gt.ndim != 2:
        raise ValueError(f"gt {gt.shape} and regions {regions.shape} must be the same (H, W)")
    if not 1 <= num_classes <= 31:
        raise ValueError(f"num_classes must be in 1..31 (uint32 bitmask), got {num_classes}")
    regions = np.asarray(regions, dtype=np.int64)
    if regions.size and regions.min() < 0:
        raise ValueError("region ids must be non-negative")
    channels = num_classes + 1
    n = int(regions.max()) + 1 if regions.size else 0
    classes = _class_index(gt, num_classes)
    keep = ~boundary_band(regions, trim_width)

    full = _histograms(regions.ravel(), classes.ravel(), n, channels)
    trimmed = _histograms(regions[keep], classes[keep], n, channels)
    area = full.sum(axis=1)
    trimmed_area = trimmed.sum(axis=1)
    # a region the band swallows whole falls back to all its pixels
    votes = np.where((trimmed_area > 0)[:, None], trimmed, full)
    bits = np.left_shift(np.uint32(1), np.arange(channels, dtype=np.uint32))
    if not has_undefined:
        bits[num_classes] = 0  # void is no answer
    multihot = np.bitwise_or.reduce(np.where(votes > 0, bits, np.uint32(0)), axis=1)
    # argmax takes the first maximum: ties go to the lowest class index
    dominant = np.where(area > 0, full.argmax(axis=1), NO_REGION)
    present = full > 0  # row-major nonzero: regions ascending, classes ascending within
    _, hist_classes = np.nonzero(present)
    return RegionLabels(
        multihot=multihot.astype(np.uint32),
        dominant=dominant.astype(np.uint8),
        area=area.astype(np.int32),
        trimmed_area=trimmed_area.astype(np.int32),
        hist_sizes=present.sum(axis=1).astype(np.uint8),
        hist_classes=hist_classes.astype(np.uint8),
        hist_counts=full[present].astype(np.int32),
    )


def _image_labels(state: tuple, index: int) -> RegionLabels:
    """Worker: the oracle answers of image `index` for ids 0..max id of its region map."""
    dataset, store, trim_width = state
    gt = dataset.load_label(index)
    region_map = store.region_map(index)
    if gt.shape != region_map.shape:
        raise OracleError(f"{dataset.label_path(index)}: label {gt.shape} does not match its "
                          f"region map {region_map.shape} in {store.path}")
    try:
        return label_regions(gt, region_map, dataset.num_classes, trim_width,
                             getattr(dataset, "has_undefined", True))
    except ValueError as err:
        raise OracleError(f"{dataset.label_path(index)}: {err}") from err


def build_oracle_table(dataset, regions_store: RegionsStore, trim_width: float = 3.0,
                       workers: int = 1, attrs: dict | None = None) -> OracleTable:
    """(N, R_max) oracle answers for every image of `dataset` (absent ids: 0 / 255 / 0)."""
    ids = list(dataset.image_ids)
    if ids != list(regions_store.image_ids):
        raise OracleError(f"{regions_store.path}: image ids do not match the dataset split "
                         f"({len(regions_store.image_ids)} stored, {len(ids)} in the dataset)")
    shape = (len(ids), regions_store.r_max)
    table = OracleTable(
        multihot=np.zeros(shape, np.uint32), dominant=np.full(shape, NO_REGION, np.uint8),
        area=np.zeros(shape, np.int32), trimmed_area=np.zeros(shape, np.int32),
        num_classes=dataset.num_classes, attrs=dict(attrs or {}, trim_width=float(trim_width)),
        has_undefined=getattr(dataset, "has_undefined", True),
        hist_sizes=np.zeros(shape, np.uint8),
    )
    state = (dataset, regions_store, trim_width)
    classes, counts = [], []
    for index, labels in enumerate(map_images(_image_labels, state, len(ids), workers, "oracle")):
        r = len(labels.area)
        table.multihot[index, :r] = labels.multihot
        table.dominant[index, :r] = labels.dominant
        table.area[index, :r] = labels.area
        table.trimmed_area[index, :r] = labels.trimmed_area
        table.hist_sizes[index, :r] = labels.hist_sizes
        classes.append(labels.hist_classes)
        counts.append(labels.hist_counts)
    table.hist_classes = np.concatenate(classes) if classes else np.zeros(0, np.uint8)
    table.hist_counts = np.concatenate(counts) if counts else np.zeros(0, np.int32)
    return table
