"""Torch datasets for the three kinds of training: stage 1, stage 2 and fully supervised.

Each dataset is indexed by a `(position, sample_seed)` pair that `actseg.train`'s sampler
yields: `position` selects the training example and `sample_seed` seeds a fresh
`torch.Generator` for its augmentation. A sample is therefore a pure function of the pair, so
results do not depend on the number of DataLoader workers, and a resumed run only needs the
sampler position.

Items are tuples `(image (3, h, w) float32, *targets)`; `actseg.train` hands the targets to
the objective. HDF5 stores are opened lazily (the `actseg.stores` readers re-open after a
fork); `__init__` reads only the small per-region tables.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from actseg import IGNORE_INDEX
from actseg.stores import (DominantRule, LabelState, OracleTable, PseudoStore, RegionsStore,
                           multihot_to_bool)
from actseg.transforms import TrainAugment

UNLABELLED_REGION = -1
CACHE_BYTES = 2 << 30  # decoded arrays kept in memory per dataset (small datasets: all)


class ArrayCache:
    """Decoded arrays by key, up to `budget` bytes: a small training set is decoded (PNG,
    gzip HDF5) once instead of once per draw; a large one fills the budget and the rest is
    read as before. Values are never modified, so caching cannot change a result."""

    def __init__(self, budget: int = CACHE_BYTES):
        self.budget = budget
        self.used = 0
        self.arrays: dict = {}

    def get(self, key, load):
        array = self.arrays.get(key)
        if array is None:
            array = load()
            if self.used + array.nbytes <= self.budget:
                self.arrays[key] = array
                self.used += array.nbytes
        return array


class _AugmentedDataset(Dataset):
    """Shared plumbing: `examples` maps a position to a dataset image index."""

    def __init__(self, dataset, examples: np.ndarray, augment: TrainAugment):
        self.dataset = dataset
        self.examples = np.asarray(examples, dtype=np.int64)
        self.augment = augment
        self.cache = ArrayCache()
        if len(self.examples) == 0:
            raise ValueError("no training examples (no image carries a label)")

    def __len__(self) -> int:
        return len(self.examples)

    def _image(self, index: int) -> np.ndarray:
        # uint8; TrainAugment normalises the crop
        return self.cache.get(("image", index), lambda: self.dataset.load_image(index))

    def __getitem__(self, key: tuple[int, int]):
        position, sample_seed = key
        generator = torch.Generator().manual_seed(int(sample_seed))
        return self.sample(int(position), generator)

    def sample(self, position: int, generator: torch.Generator):
        raise NotImplementedError


class Stage1Dataset(_AugmentedDataset):
    """Images with >= 1 labelled region; targets (region_map, region_multihot).

    - `region_map` (h, w) int64: region id for pixels of labelled regions, -1 elsewhere
      (unlabelled regions and padding, and void pixels under dominant.void ignore).
    - `region_multihot` (R_max, K) bool, K = C+1 (C without an undefined class): the
      oracle's answer (`labelling`; `dominant` the rule of dominant answers) for labelled
      regions, all False for unlabelled ones and for regions answered "nothing".
    """

    def __init__(self, dataset, regions: RegionsStore, oracle: OracleTable, labels: LabelState,
                 labelling: str, augment: TrainAugment, dominant: DominantRule | None = None):
        labelled = labels.labelled
        if labelled.shape != oracle.multihot.shape or labelled.shape[0] != len(regions):
            raise ValueError(f"store shapes disagree: labels {labelled.shape}, oracle "
                             f"{oracle.multihot.shape}, regions ({len(regions)}, {regions.r_max})")
        if len(regions) != len(dataset):
            raise ValueError(f"regions store has {len(regions)} images, dataset {len(dataset)}")
        bits = np.where(labelled, oracle.label_sets(labelling, dominant), 0).astype(np.uint32)
        # a bought region without an answer (its dominant answer was void) trains nothing
        labelled = labelled & (bits != 0)
        super().__init__(dataset, np.flatnonzero(labelled.any(axis=1)), augment)
        self.regions = regions
        self.labelled = labelled
        # dominant.void ignore: the void pixels of an answered region stay unlabelled too
        self.void_unlabelled = (labelling == "dominant" and dominant is not None
                                and dominant.void == "ignore")
        if self.void_unlabelled and not dataset.has_labels:
            raise ValueError("dominant.void ignore leaves void pixels unlabelled and needs "
                             "the train split's ground truth, which it lacks")
        self.num_channels = oracle.num_channels
        self.label_bits = bits  # (N, R_max) small table; expanded to bool per sample

    def _labelled_regions(self, index: int) -> np.ndarray:
        """The image's region map with its unlabelled regions set to UNLABELLED_REGION
        (fixed for a training, so cached as it is)."""
        region_map = self.regions.region_map(index)
        labelled = self.labelled[index][region_map]
        if self.void_unlabelled:
            labelled &= self.dataset.load_label(index) != IGNORE_INDEX
        return np.where(labelled, region_map, UNLABELLED_REGION)

    def sample(self, position, generator):
        index = int(self.examples[position])
        region_map = self.cache.get(("labelled regions", index),
                                    lambda: self._labelled_regions(index))
        image, (region_map,) = self.augment(self._image(index),
                                            [(region_map, UNLABELLED_REGION)], generator)
        multihot = torch.from_numpy(multihot_to_bool(self.label_bits[index], self.num_channels))
        return image, region_map, multihot


class PixelLabelDataset(_AugmentedDataset):
    """Dense class maps (255 = ignore); target `label` (h, w) int64. Base of the two below."""

    def label(self, position: int) -> np.ndarray:
        raise NotImplementedError

    def sample(self, position, generator):
        index = int(self.examples[position])
        label = self.cache.get(("label", index), lambda: self.label(position))
        image, (label,) = self.augment(self._image(index), [(label, IGNORE_INDEX)], generator)
        return image, label


class Stage2Dataset(PixelLabelDataset):
    """The images of a pseudo-label store with their pseudo labels."""

    def __init__(self, dataset, pseudo: PseudoStore, augment: TrainAugment):
        if len(pseudo) and int(pseudo.image_index.max()) >= len(dataset):
            raise ValueError(f"{pseudo.path}: image index {int(pseudo.image_index.max())} "
                             f"outside the dataset ({len(dataset)} images)")
        super().__init__(dataset, pseudo.image_index, augment)
        self.pseudo = pseudo

    def label(self, position):
        return self.pseudo.label(position)


class FullySupervisedDataset(PixelLabelDataset):
    """Every image with its pixel ground truth (the fully supervised bound)."""

    def __init__(self, dataset, augment: TrainAugment):
        super().__init__(dataset, np.arange(len(dataset)), augment)

    def label(self, position):
        return self.dataset.load_label(int(self.examples[position]))



class ExampleSubset(Dataset):
    """The examples of a training set at `positions`, keyed like it by (position, seed)."""

    def __init__(self, trainset: _AugmentedDataset, positions: np.ndarray):
        self.trainset, self.positions = trainset, np.asarray(positions, dtype=np.int64)
        self.examples = trainset.examples[self.positions]

    def __len__(self) -> int:
        return len(self.positions)

    def __getitem__(self, key):
        position, sample_seed = key
        return self.trainset[(int(self.positions[int(position)]), sample_seed)]


def without_images(trainset: _AugmentedDataset, images: np.ndarray) -> ExampleSubset:
    """`trainset` without the examples of dataset images `images` (train.checkpoint
    best_heldout)."""
    positions = np.flatnonzero(~np.isin(trainset.examples, images))
    if len(positions) == 0:
        raise ValueError("every training image is held out (train.heldout_images)")
    return ExampleSubset(trainset, positions)
