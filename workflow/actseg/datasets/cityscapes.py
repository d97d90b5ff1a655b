"""Cityscapes (and the synthetic city, which uses its layout and label ids).

Layout under `root`:
    leftImg8bit/{split}/{city}/{city}_{seq}_{frame}_leftImg8bit.png
    gtFine/{split}/{city}/{city}_{seq}_{frame}_gtFine_labelIds.png
Image id = `{city}_{seq}_{frame}`. Label files hold the official label ids 0..33 (the
license plate, id -1, is never drawn into labelIds files); the 19 evaluated classes map to
train ids 0..18, every other valid id to 255, anything else is an error. With
`labels="optional"`, a split without any label file (no `gtFine/{split}` folder, or an empty
one) opens without ground truth; a split with some label files must have all of them.
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

IMAGE_SUFFIX = "_leftImg8bit.png"
LABEL_SUFFIX = "_gtFine_labelIds.png"

# Official label ids of the 34 Cityscapes labels (id -> name).
LABEL_NAMES = {
    0: "unlabeled", 1: "ego vehicle", 2: "rectification border", 3: "out of roi",
    4: "static", 5: "dynamic", 6: "ground", 7: "road", 8: "sidewalk", 9: "parking",
    10: "rail track", 11: "building", 12: "wall", 13: "fence", 14: "guard rail",
    15: "bridge", 16: "tunnel", 17: "pole", 18: "polegroup", 19: "traffic light",
    20: "traffic sign", 21: "vegetation", 22: "terrain", 23: "sky", 24: "person",
    25: "rider", 26: "car", 27: "truck", 28: "bus", 29: "caravan", 30: "trailer",
    31: "train", 32: "motorcycle", 33: "bicycle",
}
LABEL_IDS = {name: label_id for label_id, name in LABEL_NAMES.items()}

# The 19 evaluated classes in train-id order.
CLASS_NAMES = [
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light",
    "traffic sign", "vegetation", "terrain", "sky", "person", "rider", "car", "truck",
    "bus", "train", "motorcycle", "bicycle",
]
LABEL_TO_TRAIN = {LABEL_IDS[name]: train_id for train_id, name in enumerate(CLASS_NAMES)}


def _index_tree(folder: Path, suffix: str) -> dict[str, Path]:
    """Image id -> file for every `{city}/*{suffix}` under `folder`."""
    return {
        path.name[: -len(suffix)]: path
        for path in folder.glob(f"*/*{suffix}")
        if path.is_file()
    }


class CityscapesDataset(SegmentationDataset):
    """One split of a Cityscapes-layout tree; see the module docstring."""

    class_names = CLASS_NAMES
    lookup = build_lookup(LABEL_TO_TRAIN, valid_ids=LABEL_NAMES.keys())

    def __init__(self, root: str | Path, split: str, labels: str = "required") -> None:
        check_labels_mode(labels)
        root = require_dir(Path(root), "dataset root")
        image_dir = require_dir(root / "leftImg8bit" / split, f"image folder of split {split!r}")
        label_dir = root / "gtFine" / split
        if labels == "required" or label_dir.exists():
            require_dir(label_dir, f"ground-truth folder of split {split!r}")
        images = _index_tree(image_dir, IMAGE_SUFFIX)
        found = _index_tree(label_dir, LABEL_SUFFIX) if label_dir.is_dir() else {}
        if not images:
            raise DatasetError(f"{image_dir}: no *{IMAGE_SUFFIX} images in any city folder")
        if labels == "optional" and not found:
            ids = sorted(images)
            super().__init__(root, split, ids, [images[k] for k in ids], None)
            return
        labels = found
        ids = pair_files(images, labels, "image", f"ground truth (*{LABEL_SUFFIX})")
        super().__init__(root, split, ids, [images[k] for k in ids], [labels[k] for k in ids])
