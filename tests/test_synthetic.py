"""The embedded synthetic city: determinism, class coverage, layout, CLI, atomic writing."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fakes import CITYSCAPES_LABEL_TO_TRAIN, cityscapes_train_ids

from actseg.cli import main
from actseg.datasets import DatasetError, class_frequencies, open_dataset
from actseg.synth import generator as synthetic
from actseg.synth import Difficulty, generate, synthesize

SMALL = dict(height=64, width=128)


def tree_bytes(root) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    """A modest tree: 18 train images (two cycles of the forced rare classes), 4 val."""
    root = tmp_path_factory.mktemp("synth") / "city"
    generate(root, seed=3, n_train=18, n_val=4, workers=1, **SMALL)
    return root


def test_same_seed_same_arrays_other_seed_or_index_differs():
    image, label = synthesize(5, "train", 2, **SMALL)
    again_image, again_label = synthesize(5, "train", 2, **SMALL)
    np.testing.assert_array_equal(image, again_image)
    np.testing.assert_array_equal(label, again_label)
    assert image.shape == (64, 128, 3) and image.dtype == np.uint8
    assert label.shape == (64, 128) and label.dtype == np.uint8
    assert not np.array_equal(synthesize(6, "train", 2, **SMALL)[0], image)
    assert not np.array_equal(synthesize(5, "train", 3, **SMALL)[0], image)
    assert not np.array_equal(synthesize(5, "val", 2, **SMALL)[0], image)


def test_parallel_generation_is_bit_identical_to_serial(tmp_path, city):
    parallel = tmp_path / "parallel"
    generate(parallel, seed=3, n_train=18, n_val=4, workers=2, **SMALL)
    assert tree_bytes(parallel) == tree_bytes(city)
    other = tmp_path / "other"
    generate(other, seed=4, n_train=18, n_val=4, workers=2, **SMALL)
    serial_files, other_files = tree_bytes(city), tree_bytes(other)
    assert serial_files.keys() == other_files.keys()
    differing = [k for k in serial_files
                 if k.endswith(".png") and serial_files[k] != other_files[k]]
    assert len(differing) == 2 * (18 + 4)


def test_layout_ids_and_manifest(city):
    train = open_dataset("synthetic", city, "train")
    val = open_dataset("synthetic", city, "val")
    assert len(train) == 18 and len(val) == 4
    assert train.image_ids[0] == "synthcity00_000000_000019"
    assert val.image_ids[0] == "synthcity01_000000_000019"  # val cities follow train's
    assert train.image_size(0) == (64, 128)
    assert train.load_image(0).shape == (64, 128, 3)
    manifest = json.loads((city / "manifest.json").read_text())
    assert manifest["settings"]["seed"] == 3 and manifest["images"] == {"train": 18, "val": 4}
    assert manifest["settings"]["difficulty"] == {"noise": 0.015, "blur": 0.7, "texture": 1.0,
                                                  "colour_overlap": 0.1, "lighting": 0.5}
    assert "python -m actseg synth" in (city / "README").read_text()
    assert not [p for p in city.parent.iterdir() if p.name.startswith(".")]  # no temp left


def test_real_cityscapes_ids_with_void_and_all_19_classes(city):
    train = open_dataset("synthetic", city, "train")
    raw_ids = set()
    present = np.zeros(256, bool)
    for i in range(len(train)):
        from PIL import Image

        raw = np.asarray(Image.open(train.label_path(i)))
        raw_ids |= set(np.unique(raw).tolist())
        label = train.load_label(i)
        np.testing.assert_array_equal(label, cityscapes_train_ids(raw))
        present[np.unique(label)] = True
    assert raw_ids <= set(range(34))
    assert {1, 4} <= raw_ids  # ego vehicle, static clutter
    assert raw_ids & {3, 5, 6, 9, 10}  # out of roi, dynamic, ground, parking, rail track
    missing = [train.class_names[c] for c in range(19) if not present[c]]
    assert not missing, f"classes absent from 18 train images: {missing}"
    assert set(CITYSCAPES_LABEL_TO_TRAIN) <= raw_ids


def test_imbalance_is_cityscapes_like(city):
    pixels, images = class_frequencies(open_dataset("synthetic", city, "train"))
    share = pixels[:19] / pixels[:19].sum()
    names = open_dataset("synthetic", city, "train").class_names
    common = [names.index(n) for n in ("road", "building", "vegetation", "sky")]
    rare = [names.index(n) for n in ("rider", "motorcycle", "traffic light")]
    assert share[common].min() > 0.03
    assert share[rare].max() < 0.01
    assert share[names.index("road")] > 10 * share[names.index("person")]


def test_colour_alone_does_not_classify_pixels(city):
    """A colour-histogram Bayes classifier fit on 12 images scores a low mIoU on 6 others."""
    ds = open_dataset("synthetic", city, "train")
    bins = 16

    def quantised(i):
        levels = (ds.load_image(i) // (256 // bins)).astype(np.int64)
        return levels @ np.array([bins * bins, bins, 1])

    counts = np.zeros((bins ** 3, 20))
    for i in range(12):
        label = ds.load_label(i).astype(np.int64)
        label[label == 255] = 19
        np.add.at(counts, (quantised(i).ravel(), label.ravel()), 1)
    predict = counts[:, :19].argmax(1)
    confusion = np.zeros((19, 19), np.int64)
    for i in range(12, 18):
        label = ds.load_label(i).ravel()
        keep = label < 19
        np.add.at(confusion, (label[keep], predict[quantised(i).ravel()[keep]]), 1)
    union = confusion.sum(0) + confusion.sum(1) - np.diag(confusion)
    iou = np.diag(confusion)[union > 0] / union[union > 0]
    assert iou.mean() < 0.35, f"colour alone reaches mIoU {iou.mean():.2f}"


def test_difficulty_knobs_change_the_images_not_the_labels():
    plain_image, plain_label = synthesize(1, "train", 0, **SMALL)
    noisy_image, noisy_label = synthesize(1, "train", 0, difficulty=Difficulty(noise=0.2), **SMALL)
    np.testing.assert_array_equal(plain_label, noisy_label)
    diff = noisy_image.astype(float) - plain_image
    assert diff.std() > 20  # noise of 0.2 * 255 after clipping


def test_cli_generates_reuses_and_refuses(tmp_path, capsys):
    out = tmp_path / "data" / "city"
    args = ["synth", "--out", str(out), "--seed", "1", "--n-train", "3", "--n-val", "2",
            "--height", "48", "--width", "96", "--workers", "2"]
    assert main(args) == 0
    ds = open_dataset("synthetic", out, "train")
    assert len(ds) == 3 and ds.image_size(0) == (48, 96)
    stamp = (out / "manifest.json").stat().st_mtime_ns
    assert main(args) == 0  # same settings: left as it is
    assert (out / "manifest.json").stat().st_mtime_ns == stamp
    other = [a if a != "1" else "2" for a in args]
    assert main(other) == 1
    assert "already holds a synthetic city with other settings" in capsys.readouterr().err
    assert main(other + ["--force"]) == 0
    assert json.loads((out / "manifest.json").read_text())["settings"]["seed"] == 2
    assert [p.name for p in out.parent.iterdir()] == ["city"]  # old tree and temp removed


def test_cli_rejects_bad_arguments(tmp_path, capsys):
    out = tmp_path / "city"
    assert main(["synth", "--out", str(out), "--n-train", "0"]) == 1
    assert "n_train (--n-train) must be an integer >= 1" in capsys.readouterr().err
    assert main(["synth", "--out", str(out), "--noise", "-1"]) == 1
    assert "noise (--noise) must be a finite number >= 0" in capsys.readouterr().err
    assert main(["synth", "--out", str(out), "--workers", "0"]) == 1
    assert not out.exists()


def test_failed_generation_leaves_nothing(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(synthetic, "_write_manifest", broken)
    with pytest.raises(RuntimeError):
        generate(tmp_path / "city", n_train=2, n_val=1, height=32, width=64)
    assert list(tmp_path.iterdir()) == []


def test_non_folder_output_refused(tmp_path):
    (tmp_path / "city").write_text("x")
    with pytest.raises(DatasetError, match="is not a folder"):
        generate(tmp_path / "city", n_train=2, n_val=1, height=32, width=64)
