"""Dataset readers on fake Cityscapes and VOC trees: id mapping, sizes, and every error case."""

from __future__ import annotations

import pickle
import shutil
import re

import numpy as np
import pytest
from fakes import (
    cityscapes_train_ids,
    make_fake_cityscapes,
    make_fake_voc,
    truncate_file,
    write_voc_label,
)
from PIL import Image

from actseg.datasets import DatasetError, class_frequencies, open_dataset


@pytest.fixture
def cityscapes(tmp_path):
    root = tmp_path / "cityscapes"
    return root, make_fake_cityscapes(root, n_train=3, n_val=2, size=(32, 64))


@pytest.fixture
def voc(tmp_path):
    root = tmp_path / "VOC2012"
    return root, make_fake_voc(root)


def named(path) -> str:
    """A pytest `match` pattern requiring the file's path in the message."""
    return re.escape(str(path))


# ---------------------------------------------------------------------------------------
# Cityscapes


@pytest.mark.parametrize("kind", ["cityscapes", "synthetic"])
def test_cityscapes_reads_sorted_pairs_and_maps_ids(cityscapes, kind):
    root, written = cityscapes
    ds = open_dataset(kind, root, "train")
    assert ds.num_classes == 19 and len(ds.class_names) == 19
    assert ds.class_names[0] == "road" and ds.class_names[18] == "bicycle"
    assert ds.image_ids == sorted(written["train"]) and len(ds) == 3
    for i, image_id in enumerate(ds.image_ids):
        rgb, label_ids = written["train"][image_id]
        assert ds.image_path(i).name == f"{image_id}_leftImg8bit.png"
        assert ds.label_path(i).name == f"{image_id}_gtFine_labelIds.png"
        assert ds.image_size(i) == (32, 64)
        image = ds.load_image(i)
        assert image.dtype == np.uint8 and image.shape == (32, 64, 3)
        np.testing.assert_array_equal(image, rgb)
        label = ds.load_label(i)
        assert label.dtype == np.uint8
        np.testing.assert_array_equal(label, cityscapes_train_ids(label_ids))


def test_cityscapes_every_official_id_maps_as_documented(cityscapes):
    root, written = cityscapes
    ds = open_dataset("cityscapes", root, "val")
    first = ds.image_ids.index(sorted(written["val"])[0])
    raw = written["val"][ds.image_ids[first]][1].flat[:34]
    mapped = ds.load_label(first).flat[:34]
    assert list(raw) == list(range(34))
    expected = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10,
                24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18}
    for label_id in range(34):
        assert mapped[label_id] == expected.get(label_id, 255), label_id
    # void ids: unlabeled, ego vehicle, rectification border, out of roi, static, dynamic,
    # ground, parking, rail track, guard rail, bridge, tunnel, polegroup, caravan, trailer
    for void_id in (0, 1, 2, 3, 4, 5, 6, 9, 10, 14, 15, 16, 18, 29, 30):
        assert mapped[void_id] == 255


def test_cityscapes_ids_outside_the_known_set_are_named(cityscapes):
    root, written = cityscapes
    ds = open_dataset("cityscapes", root, "train")
    path = ds.label_path(1)
    labels = np.array(Image.open(path))
    labels[0, :3] = [34, 200, 254]
    Image.fromarray(labels).save(path)
    with pytest.raises(DatasetError, match=named(path)) as err:
        ds.load_label(1)
    assert "34, 200, 254" in str(err.value)


def test_cityscapes_missing_root_and_split(tmp_path, cityscapes):
    root, _ = cityscapes
    with pytest.raises(DatasetError, match=named(tmp_path / "nowhere")):
        open_dataset("cityscapes", tmp_path / "nowhere", "train")
    with pytest.raises(DatasetError, match=named(root / "leftImg8bit" / "test")):
        open_dataset("cityscapes", root, "test")
    for path in (root / "gtFine" / "val").rglob("*.png"):
        path.unlink()
    for city in (root / "gtFine" / "val").iterdir():
        city.rmdir()
    (root / "gtFine" / "val").rmdir()
    with pytest.raises(DatasetError, match=named(root / "gtFine" / "val")):
        open_dataset("cityscapes", root, "val")


def test_cityscapes_empty_split(tmp_path):
    (tmp_path / "leftImg8bit" / "train" / "x").mkdir(parents=True)
    (tmp_path / "gtFine" / "train").mkdir(parents=True)
    with pytest.raises(DatasetError, match="no .*_leftImg8bit.png images"):
        open_dataset("cityscapes", tmp_path, "train")


def test_cityscapes_image_without_ground_truth_and_back(cityscapes):
    root, _ = cityscapes
    ds = open_dataset("cityscapes", root, "train")
    image, label = ds.image_path(0), ds.label_path(0)
    moved = label.with_name("elsewhere.bin")
    label.rename(moved)
    with pytest.raises(DatasetError, match=named(image) + ".*has no ground truth"):
        open_dataset("cityscapes", root, "train")
    moved.rename(label)
    image.unlink()
    with pytest.raises(DatasetError, match=named(label) + ".*has no image"):
        open_dataset("cityscapes", root, "train")


def test_cityscapes_size_mismatch_named(cityscapes):
    root, _ = cityscapes
    ds = open_dataset("cityscapes", root, "train")
    path = ds.label_path(2)
    Image.fromarray(np.full((16, 64), 7, np.uint8)).save(path)
    with pytest.raises(DatasetError, match=named(path) + ".*does not match"):
        ds.load_label(2)
    with pytest.raises(DatasetError, match=named(path) + ".*does not match"):
        ds.load_image(2)


@pytest.mark.parametrize("which", ["image", "label"])
def test_truncated_png_is_named(cityscapes, which):
    root, _ = cityscapes
    ds = open_dataset("cityscapes", root, "train")
    path = ds.image_path(1) if which == "image" else ds.label_path(1)
    truncate_file(path, keep=0.6)
    load = ds.load_image if which == "image" else ds.load_label
    with pytest.raises(DatasetError, match=named(path) + ".*corrupt"):
        load(1)


def test_garbage_file_is_named_even_for_image_size(cityscapes):
    root, _ = cityscapes
    ds = open_dataset("cityscapes", root, "train")
    ds.image_path(0).write_bytes(b"not a png at all")
    with pytest.raises(DatasetError, match=named(ds.image_path(0))):
        ds.image_size(0)
    with pytest.raises(DatasetError, match=named(ds.image_path(0))):
        ds.load_image(0)


def test_colour_label_file_rejected(cityscapes):
    root, _ = cityscapes
    ds = open_dataset("cityscapes", root, "train")
    Image.fromarray(np.zeros((32, 64, 3), np.uint8)).save(ds.label_path(0))
    with pytest.raises(DatasetError, match=named(ds.label_path(0)) + ".*mode 'RGB'"):
        ds.load_label(0)


def test_unknown_kind():
    with pytest.raises(DatasetError, match="unknown dataset kind 'kitti'"):
        open_dataset("kitti", ".", "train")


def test_dataset_pickles_for_worker_processes(cityscapes):
    root, _ = cityscapes
    ds = open_dataset("cityscapes", root, "train")
    clone = pickle.loads(pickle.dumps(ds))
    assert clone.image_ids == ds.image_ids
    np.testing.assert_array_equal(clone.load_label(0), ds.load_label(0))


def test_class_frequencies_match_brute_force(cityscapes):
    root, written = cityscapes
    ds = open_dataset("cityscapes", root, "train")
    pixels, images = class_frequencies(ds)
    expected_pixels = np.zeros(20, np.int64)
    expected_images = np.zeros(20, np.int64)
    for _, label_ids in written["train"].values():
        train = cityscapes_train_ids(label_ids)
        for c in range(20):
            count = int(np.sum(train == (c if c < 19 else 255)))
            expected_pixels[c] += count
            expected_images[c] += count > 0
    np.testing.assert_array_equal(pixels, expected_pixels)
    np.testing.assert_array_equal(images, expected_images)


# ---------------------------------------------------------------------------------------
# PASCAL VOC 2012


def test_voc_reads_palette_indices_and_keeps_border(voc):
    root, written = voc
    ds = open_dataset("voc", root, "train")
    assert ds.num_classes == 21 and ds.class_names[0] == "background"
    assert ds.class_names[20] == "tvmonitor"
    assert ds.image_ids == sorted(written["train"])  # the list file is not sorted
    for i, image_id in enumerate(ds.image_ids):
        rgb, indices = written["train"][image_id]
        label = ds.load_label(i)
        np.testing.assert_array_equal(label, indices)  # indices, not palette colours
        assert (label == 255).any() and label.max() == 255
        image = ds.load_image(i)
        assert image.shape == (24, 40, 3) and image.dtype == np.uint8
        assert np.abs(image.astype(int) - rgb).mean() < 8  # JPEG is lossy
        assert ds.image_size(i) == (24, 40)
    with Image.open(ds.label_path(0)) as raw:
        assert raw.mode == "P"


def test_voc_invalid_class_index_named(voc):
    root, written = voc
    ds = open_dataset("voc", root, "val")
    indices = written["val"][ds.image_ids[0]][1].copy()
    indices[3, 3] = 21
    write_voc_label(ds.label_path(0), indices)
    with pytest.raises(DatasetError, match=named(ds.label_path(0)) + ".*outside the known set: 21"):
        ds.load_label(0)


def test_voc_missing_pieces_named(voc):
    root, _ = voc
    with pytest.raises(DatasetError, match=named(root / "ImageSets/Segmentation/trainval.txt")):
        open_dataset("voc", root, "trainval")
    (root / "SegmentationClass" / "2007_000032.png").unlink()
    with pytest.raises(DatasetError, match=named(root / "JPEGImages/2007_000032.jpg")
                       + ".*has no ground truth"):
        open_dataset("voc", root, "train")
    (root / "JPEGImages" / "2007_000033.jpg").unlink()
    with pytest.raises(DatasetError, match=named(root / "SegmentationClass/2007_000033.png")
                       + ".*has no image"):
        open_dataset("voc", root, "val")
    (root / "SegmentationClass" / "2007_000033.png").unlink()
    with pytest.raises(DatasetError, match=named(root / "JPEGImages/2007_000033.jpg")
                       + ".*does not exist"):
        open_dataset("voc", root, "val")


def test_voc_missing_root_folders_and_empty_list(voc, tmp_path):
    root, _ = voc
    with pytest.raises(DatasetError, match=named(tmp_path / "VOCdevkit")):
        open_dataset("voc", tmp_path / "VOCdevkit", "train")
    (root / "ImageSets/Segmentation/val.txt").write_text("\n\n")
    val_list = root / "ImageSets/Segmentation/val.txt"
    with pytest.raises(DatasetError, match=named(val_list) + ".*empty"):
        open_dataset("voc", root, "val")
    for path in (root / "JPEGImages").iterdir():
        path.unlink()
    (root / "JPEGImages").rmdir()
    with pytest.raises(DatasetError, match=named(root / "JPEGImages")):
        open_dataset("voc", root, "train")


def test_voc_corrupt_jpeg_named(voc):
    root, _ = voc
    ds = open_dataset("voc", root, "train")
    truncate_file(ds.image_path(1), keep=0.3)
    with pytest.raises(DatasetError, match=named(ds.image_path(1)) + ".*corrupt"):
        ds.load_image(1)


def test_cityscapes_split_without_ground_truth_opens_with_labels_optional(cityscapes):
    root, _ = cityscapes
    labelled = open_dataset("cityscapes", root, "train", labels="optional")
    assert labelled.has_labels
    image = labelled.load_image(0)
    shutil.rmtree(root / "gtFine" / "train")
    with pytest.raises(DatasetError, match=named(root / "gtFine" / "train")):
        open_dataset("cityscapes", root, "train")
    ds = open_dataset("cityscapes", root, "train", labels="optional")
    assert not ds.has_labels and ds.image_ids == labelled.image_ids
    np.testing.assert_array_equal(ds.load_image(0), image)
    ds.verify()
    with pytest.raises(DatasetError, match="'train' split has no ground truth"):
        ds.load_label(0)
    (root / "gtFine" / "train").mkdir()  # an empty folder is no ground truth either
    assert not open_dataset("cityscapes", root, "train", labels="optional").has_labels
    with pytest.raises(ValueError, match="labels must be one of"):
        open_dataset("cityscapes", root, "train", labels="maybe")


def test_cityscapes_partial_ground_truth_is_still_an_error(cityscapes):
    root, _ = cityscapes
    ds = open_dataset("cityscapes", root, "train")
    ds.label_path(0).unlink()
    with pytest.raises(DatasetError, match=named(ds.image_path(0)) + ".*has no ground truth"):
        open_dataset("cityscapes", root, "train", labels="optional")


def test_voc_split_without_ground_truth_opens_with_labels_optional(voc):
    root, _ = voc
    labelled = open_dataset("voc", root, "train")
    for image_id in labelled.image_ids:
        (root / "SegmentationClass" / f"{image_id}.png").unlink()
    ds = open_dataset("voc", root, "train", labels="optional")
    assert not ds.has_labels and ds.image_ids == labelled.image_ids
    with pytest.raises(DatasetError, match="no ground truth"):
        ds.load_label(0)
