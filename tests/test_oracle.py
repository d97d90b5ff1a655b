"""The oracle (docs/method.md §2) on hand-made maps and against a brute-force per-region loop."""

from __future__ import annotations

import numpy as np
import pytest

from actseg.oracle import OracleError, build_oracle_table, label_regions
from actseg.regions import write_regions
from actseg.stores import RegionsStore

VOID = 255


def bits(*classes: int) -> int:
    return sum(1 << c for c in classes)


def two_halves(height: int = 10, width: int = 20) -> np.ndarray:
    """Region 0 = columns < width/2, region 1 = the rest (band = columns 7..12 for k=5)."""
    regions = np.zeros((height, width), dtype=np.int64)
    regions[:, width // 2:] = 1
    return regions


def test_class_only_inside_band_is_excluded_but_one_pixel_outside_counts():
    regions = two_halves()
    gt = np.zeros_like(regions, dtype=np.uint8)
    gt[:, 8] = 3  # inside the band (columns 7..12)
    gt[4, 6] = 4  # one pixel just outside the band
    gt[:, 10:] = 1
    out = label_regions(gt, regions, num_classes=5)
    assert out.multihot.tolist() == [bits(0, 4), bits(1)]
    assert out.area.tolist() == [100, 100]
    assert out.trimmed_area.tolist() == [70, 70]  # 7 of 10 columns survive on each side
    assert out.dominant.tolist() == [0, 1]
    assert out.multihot.dtype == np.uint32 and out.dominant.dtype == np.uint8
    assert out.area.dtype == np.int32 and out.trimmed_area.dtype == np.int32


def test_trim_width_zero_keeps_band_classes():
    regions = two_halves()
    gt = np.zeros_like(regions, dtype=np.uint8)
    gt[:, 8] = 3
    out = label_regions(gt, regions, num_classes=5, trim_width=0)
    assert out.multihot[0] == bits(0, 3)
    assert out.trimmed_area[0] == out.area[0] == 100


def test_fully_eroded_region_falls_back_to_all_its_pixels():
    regions = np.zeros((12, 12), dtype=np.int64)
    regions[5:8, 5:8] = 1  # a 3x3 region the 6-px band swallows whole
    gt = np.zeros((12, 12), dtype=np.uint8)
    gt[5:8, 5:8] = 2
    gt[6, 6] = 5
    out = label_regions(gt, regions, num_classes=6)
    assert out.trimmed_area[1] == 0 and out.area[1] == 9
    assert out.multihot[1] == bits(2, 5)
    assert out.dominant[1] == 2
    # region 0 keeps only its trimmed pixels: class 0 alone
    assert out.multihot[0] == bits(0)
    assert 0 < out.trimmed_area[0] < out.area[0] == 144 - 9


def test_void_sets_the_undefined_bit_and_void_majority_maps_to_undefined():
    regions = two_halves()
    gt = np.full(regions.shape, VOID, dtype=np.uint8)
    gt[:, :4] = 2  # region 0: 40 px class 2, 60 px void, both outside the band
    gt[:, 10:] = 1
    gt[0, 19] = VOID  # region 1: one void pixel outside the band
    c = 4
    out = label_regions(gt, regions, num_classes=c)
    assert out.multihot.tolist() == [bits(2, c), bits(1, c)]
    assert out.dominant.tolist() == [c, 1]


def test_void_only_inside_the_band_does_not_set_undefined():
    regions = two_halves()
    gt = np.zeros(regions.shape, dtype=np.uint8)
    gt[:, 9] = VOID
    out = label_regions(gt, regions, num_classes=3)
    assert out.multihot[0] == bits(0)


def test_absent_ids_get_no_region_values():
    regions = two_halves() * 3  # ids 0 and 3; 1 and 2 absent
    gt = np.ones(regions.shape, dtype=np.uint8)
    out = label_regions(gt, regions, num_classes=3)
    assert len(out.area) == 4
    assert out.multihot.tolist() == [bits(1), 0, 0, bits(1)]
    assert out.dominant.tolist() == [1, 255, 255, 1]
    assert out.area.tolist() == [100, 0, 0, 100]
    assert out.trimmed_area.tolist() == [70, 0, 0, 70]


def test_dominant_tie_goes_to_lowest_class_and_class_beats_void_on_tie():
    regions = np.zeros((2, 4), dtype=np.int64)
    regions[1] = 1
    gt = np.array([[3, 3, 1, 1], [VOID, VOID, 2, 2]], dtype=np.uint8)
    out = label_regions(gt, regions, num_classes=4, trim_width=0)
    assert out.dominant.tolist() == [1, 2]


def test_bad_inputs_are_rejected():
    regions = two_halves()
    with pytest.raises(ValueError, match="outside"):
        label_regions(np.full(regions.shape, 7, np.uint8), regions, num_classes=5)
    with pytest.raises(ValueError, match="same"):
        label_regions(np.zeros((3, 3), np.uint8), regions, num_classes=5)
    with pytest.raises(ValueError, match="non-negative"):
        label_regions(np.zeros((10, 20), np.uint8), regions - 1, num_classes=5)


# ------------------------------------------------------------------ brute force reference


def brute_band(regions: np.ndarray, kernel: int) -> np.ndarray:
    """Per-pixel loops: thick 4-neighbour boundaries, then a square of half-width k//2."""
    h, w = regions.shape
    edge = np.zeros((h, w), bool)
    for y in range(h):
        for x in range(w):
            for dy, dx in ((0, 1), (1, 0), (0, -1), (-1, 0)):
                yy, xx = y + dy, x + dx
                if 0 <= yy < h and 0 <= xx < w and regions[yy, xx] != regions[y, x]:
                    edge[y, x] = True
    band = np.zeros((h, w), bool)
    if kernel == 0:
        return band
    lo, hi = kernel // 2, kernel - 1 - kernel // 2
    for y in range(h):
        for x in range(w):
            band[y, x] = edge[max(0, y - lo):y + hi + 1, max(0, x - lo):x + hi + 1].any()
    return band


def brute_labels(gt, regions, num_classes, kernel):
    band = brute_band(regions, kernel)
    n = regions.max() + 1
    out = {k: [] for k in ("multihot", "dominant", "area", "trimmed_area")}
    for r in range(n):
        inside = regions == r
        kept = inside & ~band
        pixels = gt[kept] if kept.any() else gt[inside]
        classes = {num_classes if v == VOID else int(v) for v in pixels}
        out["multihot"].append(sum(1 << c for c in classes))
        counts = [int(((gt == c) & inside).sum()) for c in range(num_classes)]
        counts.append(int(((gt == VOID) & inside).sum()))
        out["dominant"].append(int(np.argmax(counts)) if inside.any() else 255)
        out["area"].append(int(inside.sum()))
        out["trimmed_area"].append(int(kept.sum()))
    return out


def random_case(rng, h=24, w=31, seeds=14, num_classes=6):
    """Voronoi-like regions with random (gappy) ids and blobby gt with void."""
    ys, xs = rng.integers(0, h, seeds), rng.integers(0, w, seeds)
    yy, xx = np.mgrid[:h, :w]
    nearest = np.argmin((yy[..., None] - ys) ** 2 + (xx[..., None] - xs) ** 2, axis=-1)
    ids = rng.permutation(seeds + 4)[:seeds]  # some ids never used
    regions = ids[nearest]
    coarse = rng.integers(0, num_classes + 1, (h // 3 + 1, w // 3 + 1))
    gt = np.kron(coarse, np.ones((3, 3), int))[:h, :w]
    gt[rng.random((h, w)) < 0.05] = rng.integers(0, num_classes + 1)
    gt = np.where(gt == num_classes, VOID, gt).astype(np.uint8)
    return gt, regions


@pytest.mark.parametrize("width, kernel", [(0, 0), (0.75, 1), (2.0, 3), (3.0, 5)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_brute_force_on_random_maps(seed, width, kernel):
    rng = np.random.default_rng(seed)
    gt, regions = random_case(rng)
    fast = label_regions(gt, regions, num_classes=6, trim_width=width)
    slow = brute_labels(gt, regions, 6, kernel)
    for name, expected in slow.items():
        assert getattr(fast, name).tolist() == expected, name


# --------------------------------------------------------------------------- a whole split


class FakeSplit:
    """Duck-typed dataset: a few tiny images with labels (the open_dataset contract)."""

    num_classes = 4

    def __init__(self, seed: int = 0, shapes=((12, 16), (10, 14), (12, 16))):
        rng = np.random.default_rng(seed)
        self.image_ids = [f"img{i}" for i in range(len(shapes))]
        self.labels = [rng.choice([0, 1, 2, 3, VOID], size=s).astype(np.uint8) for s in shapes]

    def __len__(self):
        return len(self.labels)

    def image_size(self, i):
        return self.labels[i].shape

    def load_image(self, i):
        return np.repeat(self.labels[i][..., None], 3, axis=2)

    def load_label(self, i):
        return self.labels[i]

    def label_path(self, i):
        return f"fake/{self.image_ids[i]}.png"


@pytest.mark.parametrize("workers", [1, 2])
def test_build_oracle_table_pads_to_r_max_and_matches_per_image(tmp_path, workers):
    split = FakeSplit()
    write_regions(tmp_path / "regions.h5", split, "grid", 5)
    store = RegionsStore(tmp_path / "regions.h5")
    table = build_oracle_table(split, store, trim_width=2, workers=workers)
    assert table.multihot.shape == (3, store.r_max) == (3, 12)
    assert table.num_classes == 4 and table.attrs["trim_width"] == 2
    for i in range(3):
        one = label_regions(split.labels[i], store.region_map(i), 4, trim_width=2)
        r = len(one.area)
        assert table.multihot[i, :r].tolist() == one.multihot.tolist()
        assert table.dominant[i, :r].tolist() == one.dominant.tolist()
        assert table.area[i, :r].tolist() == one.area.tolist()
        assert table.trimmed_area[i, :r].tolist() == one.trimmed_area.tolist()
        assert (table.multihot[i, r:] == 0).all() and (table.area[i, r:] == 0).all()
        assert (table.dominant[i, r:] == 255).all()
    # image 1 (10x14, grid 5) has 2x3 = 6 regions, padded up to 12
    assert (table.area[1] > 0).sum() == 6
    cost = table.cost("multiclass")
    assert cost[1, :6].tolist() == [bin(int(b)).count("1") for b in table.multihot[1, :6]]
    assert table.cost("dominant")[1].tolist() == [1] * 6 + [0] * 6


def test_build_oracle_table_rejects_a_store_of_another_split(tmp_path):
    write_regions(tmp_path / "regions.h5", FakeSplit(shapes=((8, 8),)), "grid", 4)
    with pytest.raises(OracleError, match="image ids"):
        build_oracle_table(FakeSplit(), RegionsStore(tmp_path / "regions.h5"))


# --------------------------------------------------------------------------- the CLIs


def fake_cityscapes(root, shapes=((24, 32), (24, 32), (20, 28))):
    """A tiny Cityscapes-layout train split: road (7), car (26) and void (0, 4) label ids."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate(shapes):
        city = "aachen" if i < 2 else "bremen"
        stem = f"{city}_{i:06d}_000019"
        label = np.full((h, w), 7, np.uint8)
        label[h // 3:, w // 2:] = 26
        label[-3:, :] = 0
        label[rng.random((h, w)) < 0.03] = 4
        image = (label[..., None] * 9 + rng.integers(0, 20, (h, w, 3))).astype(np.uint8)
        for sub, suffix, data in (("leftImg8bit", "leftImg8bit", image),
                                  ("gtFine", "gtFine_labelIds", label)):
            folder = root / sub / "train" / city
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(data).save(folder / f"{stem}_{suffix}.png")
    return root


def test_regions_then_oracle_cli_on_a_fake_cityscapes_tree(tmp_path):
    from actseg.cli import main
    from actseg.datasets import open_dataset
    from actseg.stores import read_oracle

    root = fake_cityscapes(tmp_path / "cs")
    common = ["--dataset", "cityscapes", "--root", str(root), "--split", "train"]
    assert main(["regions", *common, "--method", "slic", "--size", "6", "--compactness", "20",
                 "--workers", "2", "--out", str(tmp_path / "regions.h5")]) == 0
    assert main(["oracle", *common, "--regions", str(tmp_path / "regions.h5"),
                 "--trim-width", "2", "--workers", "2",
                 "--out", str(tmp_path / "oracle.h5")]) == 0
    store = RegionsStore(tmp_path / "regions.h5")
    assert store.attrs["method"] == "slic" and store.attrs["compactness"] == 20.0
    assert store.attrs["dataset"] == "cityscapes" and store.attrs["split"] == "train"
    dataset = open_dataset("cityscapes", root, "train")
    assert store.image_ids == dataset.image_ids
    table = read_oracle(tmp_path / "oracle.h5")
    assert table.multihot.shape == (3, store.r_max) and table.num_classes == 19
    assert table.attrs["trim_width"] == 2 and table.attrs["region_method"] == "slic"
    for i in range(3):
        one = label_regions(dataset.load_label(i), store.region_map(i), 19, trim_width=2)
        assert store.n_regions[i] == len(one.area) == (one.area > 0).sum()
        assert table.multihot[i, :len(one.area)].tolist() == one.multihot.tolist()
        assert table.dominant[i, :len(one.area)].tolist() == one.dominant.tolist()
    # road = train id 0, car = 13, void (ids 0 and 4) = undefined bit 19
    assert np.bitwise_or.reduce(table.multihot.ravel()) == bits(0, 13, 19)


def test_oracle_cli_names_a_missing_regions_store(tmp_path, capsys):
    from actseg.cli import main

    root = fake_cityscapes(tmp_path / "cs", shapes=((8, 8),))
    code = main(["oracle", "--dataset", "cityscapes", "--root", str(root), "--regions",
                 str(tmp_path / "missing.h5"), "--out", str(tmp_path / "oracle.h5")])
    assert code == 1
    assert "missing.h5: no such store" in capsys.readouterr().err
    assert not (tmp_path / "oracle.h5").exists()
