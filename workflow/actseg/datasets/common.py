"""What every dataset reader shares: the error type, safe image/label decoding, id mapping.

A reader is a `SegmentationDataset`: sorted image ids plus one image path and one label path
per id. Pixels are decoded only on demand, so a dataset object is cheap to build and to send
to worker processes.
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from actseg import IGNORE_INDEX
from actseg.errors import ActsegError


class DatasetError(ActsegError):
    """A dataset is missing, incomplete or corrupt; the message names the file or folder."""


# What PIL raises on a truncated or malformed file (SyntaxError for bad PNG chunks).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, zlib.error, Image.DecompressionBombError)


def require_dir(path: Path, what: str) -> Path:
    """Return `path` if it is a folder, else raise naming it."""
    if not path.is_dir():
        state = "is not a folder" if path.exists() else "does not exist"
        raise DatasetError(f"{path}: {what} {state}")
    return path


def read_image_rgb(path: str | os.PathLike) -> np.ndarray:
    """Decode an image file to (H, W, 3) uint8 RGB; DatasetError naming it if unreadable."""
    try:
        with Image.open(path) as img:
            img.load()
            return np.asarray(img.convert("RGB"), dtype=np.uint8)
    except FileNotFoundError:
        raise DatasetError(f"{path}: image file does not exist") from None
    except _DECODE_ERRORS as err:
        raise DatasetError(f"{path}: unreadable or corrupt image ({err})") from None


def read_label_indices(path: str | os.PathLike) -> np.ndarray:
    """Decode a single-channel label PNG to its stored integers (palette indices, not colours).

    Greyscale (L) and palette (P) files give their 8-bit values; 16/32-bit greyscale files
    give their values as they are (an id above 255 is then reported as invalid by the caller).
    """
    try:
        with Image.open(path) as img:
            img.load()
            if img.mode not in ("L", "P", "I", "I;16", "I;16B", "I;16L"):
                raise DatasetError(
                    f"{path}: label image has mode {img.mode!r}; expected a single-channel "
                    "id map (greyscale or palette PNG)"
                )
            return np.asarray(img)
    except FileNotFoundError:
        raise DatasetError(f"{path}: label file does not exist") from None
    except _DECODE_ERRORS as err:
        raise DatasetError(f"{path}: unreadable or corrupt label image ({err})") from None


def read_size(path: str | os.PathLike) -> tuple[int, int]:
    """(H, W) of an image from its header only."""
    try:
        with Image.open(path) as img:
            return img.height, img.width
    except FileNotFoundError:
        raise DatasetError(f"{path}: file does not exist") from None
    except _DECODE_ERRORS as err:
        raise DatasetError(f"{path}: unreadable or corrupt image header ({err})") from None


def verify_file(path: str | os.PathLike) -> None:
    """Check an image file's structure and checksums without decoding it (cheap)."""
    try:
        with Image.open(path) as img:
            img.verify()
    except FileNotFoundError:
        raise DatasetError(f"{path}: file does not exist") from None
    except _DECODE_ERRORS as err:
        raise DatasetError(f"{path}: unreadable or corrupt image ({err})") from None


def build_lookup(mapping: dict[int, int], valid_ids: Sequence[int]) -> np.ndarray:
    """256-entry table: stored id -> train id; other valid ids -> 255; invalid ids -> -1."""
    table = np.full(256, -1, dtype=np.int16)
    table[np.asarray(list(valid_ids), dtype=np.int64)] = IGNORE_INDEX
    for stored, train in mapping.items():
        table[stored] = train
    return table


def apply_lookup(raw: np.ndarray, table: np.ndarray, path: str | os.PathLike) -> np.ndarray:
    """Map stored ids through `table` (vectorised); raise naming `path` on unknown ids."""
    if raw.ndim != 2:
        raise DatasetError(f"{path}: label image has shape {raw.shape}; expected (H, W)")
    wide = raw.astype(np.int64, copy=False)
    out_of_range = (wide < 0) | (wide > 255)
    mapped = table[np.clip(wide, 0, 255)]
    bad = out_of_range | (mapped < 0)
    if bad.any():
        ids = np.unique(wide[bad])
        shown = ", ".join(str(int(v)) for v in ids[:10]) + (" ..." if ids.size > 10 else "")
        raise DatasetError(
            f"{path}: label ids outside the known set: {shown} ({int(bad.sum())} pixels)"
        )
    return mapped.astype(np.uint8)


class SegmentationDataset:
    """Image/label pairs of one split; subclasses set `class_names` and the id lookup table.

    `image_ids` are sorted and unique; index `i` everywhere means `image_ids[i]`. A split
    opened with `labels="optional"` and no label file at all (a pool labelled by people,
    `oracle.source: human`) has `label_paths` None: `has_labels` is False, images load
    unchecked against labels, and `load_label` raises a DatasetError saying so.
    """

    class_names: list[str] = []
    lookup: np.ndarray = np.zeros(256, dtype=np.int16)
    # whether the method's undefined class u (channel C, the oracle's "void present" bit)
    # exists on this dataset: Cityscapes and the synthetic city yes, VOC no (its 255 border
    # stays ignored everywhere), as in the authors' code (docs/method.md, notation)
    has_undefined: bool = True

    def __init__(self, root: Path, split: str, image_ids: list[str],
                 image_paths: list[Path], label_paths: list[Path] | None) -> None:
        order = sorted(range(len(image_ids)), key=image_ids.__getitem__)
        self.root = Path(root)
        self.split = split
        self.image_ids = [image_ids[i] for i in order]
        self._image_paths = [Path(image_paths[i]) for i in order]
        self._label_paths = (None if label_paths is None
                             else [Path(label_paths[i]) for i in order])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def num_outputs(self) -> int:
        """Network outputs: the C classes, plus u where the dataset has it."""
        return self.num_classes + int(self.has_undefined)

    def __len__(self) -> int:
        return len(self.image_ids)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(root={str(self.root)!r}, split={self.split!r}, "
                f"n={len(self)})")

    def image_path(self, i: int) -> Path:
        return self._image_paths[i]

    @property
    def has_labels(self) -> bool:
        return self._label_paths is not None

    def label_path(self, i: int) -> Path:
        self._require_labels()
        return self._label_paths[i]

    def _require_labels(self) -> None:
        if self._label_paths is None:
            raise DatasetError(f"{self.root}: the {self.split!r} split has no ground truth "
                               "(no label files); only the human oracle (oracle.source: "
                               "human) works without it")

    def image_size(self, i: int) -> tuple[int, int]:
        """(H, W) of image `i`, read from the file header."""
        return read_size(self._image_paths[i])

    def load_image(self, i: int) -> np.ndarray:
        """(H, W, 3) uint8 RGB; checked against the label's size."""
        image = read_image_rgb(self._image_paths[i])
        if self._label_paths is not None:
            self._check_size(i, image.shape[:2], read_size(self._label_paths[i]))
        return image

    def load_label(self, i: int) -> np.ndarray:
        """(H, W) uint8 train ids 0..C-1, 255 = void; checked against the image's size."""
        self._require_labels()
        raw = read_label_indices(self._label_paths[i])
        self._check_size(i, read_size(self._image_paths[i]), raw.shape[:2])
        return apply_lookup(raw, self.lookup, self._label_paths[i])

    def verify(self) -> None:
        """Check every image and label file of the split (structure, checksums, sizes)
        without decoding them; DatasetError naming the first bad file."""
        for i in range(len(self)):
            verify_file(self._image_paths[i])
            if self._label_paths is None:
                continue
            verify_file(self._label_paths[i])
            self._check_size(i, read_size(self._image_paths[i]), read_size(self._label_paths[i]))

    def _check_size(self, i: int, image_hw: tuple[int, ...], label_hw: tuple[int, ...]) -> None:
        if tuple(image_hw) != tuple(label_hw):
            raise DatasetError(
                f"{self._label_paths[i]}: label size {tuple(label_hw)} (H, W) does not match "
                f"image {self._image_paths[i]} of size {tuple(image_hw)}"
            )


LABELS = ("required", "optional")


def check_labels_mode(labels: str) -> None:
    if labels not in LABELS:
        raise ValueError(f"labels must be one of {LABELS}, got {labels!r}")


def pair_files(images: dict[str, Path], labels: dict[str, Path],
               image_what: str, label_what: str) -> list[str]:
    """Ids present in both maps; raise naming the first file that lacks its partner."""
    for have, lack, what, partner in ((images, labels, image_what, label_what),
                                      (labels, images, label_what, image_what)):
        orphans = sorted(have.keys() - lack.keys())
        if orphans:
            more = f" (and {len(orphans) - 1} more)" if len(orphans) > 1 else ""
            raise DatasetError(f"{have[orphans[0]]}: {what} has no {partner}{more}")
    return sorted(images)


def class_frequencies(dataset: SegmentationDataset,
                      workers: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Pixel counts per train id (C + 1 entries, last = void) and images containing each class.

    Returns `(pixels, images)`: `pixels[c]` pixels of class c over the split (`pixels[C]` void),
    `images[c]` the number of images in which class c occurs.
    """
    from actseg.parallel import map_images

    num_classes = dataset.num_classes
    pixels = np.zeros(num_classes + 1, dtype=np.int64)
    images = np.zeros(num_classes + 1, dtype=np.int64)
    for counts in map_images(_label_histogram, dataset, len(dataset), workers, desc="frequencies"):
        per_class = np.append(counts[:num_classes], counts[num_classes:].sum())
        pixels += per_class
        images += per_class > 0
    return pixels, images


def _label_histogram(dataset: SegmentationDataset, i: int) -> np.ndarray:
    return np.bincount(dataset.load_label(i).ravel(), minlength=256)


def format_frequency_table(class_names: Sequence[str], pixels: np.ndarray,
                           images: np.ndarray, n_images: int) -> str:
    """A plain-text table: class, % of all pixels, % of labelled pixels, % of images."""
    total = max(int(pixels.sum()), 1)
    labelled = max(int(pixels[:-1].sum()), 1)
    rows = [f"{'class':<15} {'% pixels':>9} {'% labelled':>11} {'% images':>9}"]
    for name, count, seen in zip(list(class_names) + ["void (255)"], pixels, images):
        share = "" if name.startswith("void") else f"{100 * count / labelled:11.3f}"
        rows.append(f"{name:<15} {100 * count / total:9.3f} {share:>11} "
                    f"{100 * seen / max(n_images, 1):9.1f}")
    return "\n".join(rows)
