"""Dataset readers: `open_dataset(kind, root, split)`.

Kinds: "synthetic" (the embedded city, a Cityscapes-layout tree written by
`python -m actseg synth`), "cityscapes" and "voc". Every reader yields sorted image ids,
RGB uint8 images and uint8 train-id label maps with 255 = void; bad input raises
`DatasetError` naming the file or folder. `labels="optional"` opens a split that has no
ground truth at all (the human oracle's training pool); reading a label of it raises.
"""

from __future__ import annotations

from pathlib import Path

from actseg.datasets.common import DatasetError, SegmentationDataset, class_frequencies

KINDS = ("synthetic", "cityscapes", "voc")
# whether each kind has the undefined class u (SegmentationDataset.has_undefined), for
# code that decides before opening a dataset (the jobs' settings)
HAS_UNDEFINED = {"synthetic": True, "cityscapes": True, "voc": False}

__all__ = ["HAS_UNDEFINED", "KINDS", "DatasetError", "SegmentationDataset",
           "class_frequencies", "open_dataset"]


def open_dataset(kind: str, root: str | Path, split: str,
                 labels: str = "required") -> SegmentationDataset:
    """The `split` of the dataset of type `kind` stored under `root`; `labels` "required"
    (every image has its label file) or "optional" (all of them, or none)."""
    if kind in ("synthetic", "cityscapes"):
        from actseg.datasets.cityscapes import CityscapesDataset

        return CityscapesDataset(root, split, labels)
    if kind == "voc":
        from actseg.datasets.voc import VOCDataset

        return VOCDataset(root, split, labels)
    raise DatasetError(f"unknown dataset kind {kind!r}; expected one of {', '.join(KINDS)}")
