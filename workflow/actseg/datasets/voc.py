"""PASCAL VOC 2012 segmentation.

Layout under `root` (the `VOC2012` folder):
    ImageSets/Segmentation/{split}.txt   one image id per line
    JPEGImages/{id}.jpg
    SegmentationClass/{id}.png           palette PNG; the indices are the class ids
Indices 0..20 are the 21 classes (0 = background), 255 the void border; 21..254 are errors.
With `labels="optional"`, a split none of whose images has a label file opens without
ground truth.
"""

from __future__ import annotations

from pathlib import Path

from actseg.datasets.common import (
    DatasetError,
    SegmentationDataset,
    build_lookup,
    check_labels_mode,
    pair_files,
    require_dir,
)

CLASS_NAMES = [
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat",
    "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant",
    "sheep", "sofa", "train", "tvmonitor",
]


def read_split_ids(list_file: Path) -> list[str]:
    """Image ids listed in an ImageSets file (blank lines ignored, duplicates rejected)."""
    if not list_file.is_file():
        raise DatasetError(f"{list_file}: split list does not exist")
    try:
        lines = list_file.read_text().split("\n")
    except (OSError, UnicodeDecodeError) as err:
        raise DatasetError(f"{list_file}: unreadable split list ({err})") from None
    ids = [line.strip() for line in lines if line.strip()]
    if not ids:
        raise DatasetError(f"{list_file}: split list is empty")
    if len(set(ids)) != len(ids):
        raise DatasetError(f"{list_file}: split list repeats image ids")
    return ids


def _existing(folder: Path, ids: list[str], suffix: str) -> dict[str, Path]:
    paths = {image_id: folder / f"{image_id}{suffix}" for image_id in ids}
    return {image_id: path for image_id, path in paths.items() if path.is_file()}


class VOCDataset(SegmentationDataset):
    """One split of PASCAL VOC 2012 segmentation; see the module docstring."""

    class_names = CLASS_NAMES
    lookup = build_lookup({i: i for i in range(len(CLASS_NAMES))}, valid_ids=[255])
    has_undefined = False  # 21 classes with background, no u (the authors' VOC)

    def __init__(self, root: str | Path, split: str, labels: str = "required") -> None:
        check_labels_mode(labels)
        root = require_dir(Path(root), "dataset root")
        ids = read_split_ids(root / "ImageSets" / "Segmentation" / f"{split}.txt")
        image_dir = require_dir(root / "JPEGImages", "image folder")
        label_dir = root / "SegmentationClass"
        if labels == "required" or label_dir.exists():
            require_dir(label_dir, "ground-truth folder")
        images = _existing(image_dir, ids, ".jpg")
        found = _existing(label_dir, ids, ".png")
        if labels == "optional" and not found:
            missing = [i for i in ids if i not in images]
            if missing:
                raise DatasetError(f"{image_dir / (missing[0] + '.jpg')}: image listed in the "
                                   f"{split!r} split does not exist")
            super().__init__(root, split, ids, [images[k] for k in ids], None)
            return
        labels = found
        unlisted = [i for i in ids if i not in images and i not in labels]
        if unlisted:
            raise DatasetError(f"{image_dir / (unlisted[0] + '.jpg')}: image listed in the "
                               f"{split!r} split does not exist, nor does its ground truth")
        ids = pair_files(images, labels, "image", "ground truth (SegmentationClass/*.png)")
        super().__init__(root, split, ids, [images[k] for k in ids], [labels[k] for k in ids])
