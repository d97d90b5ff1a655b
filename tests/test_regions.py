"""Region methods, adjacency and the boundary band (docs/method.md §1-2)."""

from __future__ import annotations

import builtins

import numpy as np
import pytest
from scipy import ndimage

from actseg.regions import (
    RegionError,
    band_radius,
    boundary_band,
    chunk_indices,
    grid_regions,
    make_regions,
    merge_regions,
    region_adjacency,
    relabel_consecutive,
    seeds_regions,
    slic_regions,
    write_regions,
)
from actseg.stores import RegionsStore
from fakes import ArrayDataset


def smooth_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth random RGB image (SLIC and SEEDS find structure in it)."""
    rng = np.random.default_rng(seed)
    img = ndimage.gaussian_filter(rng.random((height, width, 3)), (3, 3, 0))
    img = (img - img.min()) / (img.max() - img.min())
    return (img * 255).astype(np.uint8)


# ------------------------------------------------------------------------------ grid


def test_grid_exact_non_divisible():
    expected = np.array([
        [0, 0, 0, 1, 1, 1, 2],
        [0, 0, 0, 1, 1, 1, 2],
        [0, 0, 0, 1, 1, 1, 2],
        [3, 3, 3, 4, 4, 4, 5],
        [3, 3, 3, 4, 4, 4, 5],
    ])
    assert grid_regions(5, 7, 3).tolist() == expected.tolist()


def test_grid_exact_divisible_and_oversized():
    grid = grid_regions(4, 6, 2)
    assert grid.tolist() == [[0, 0, 1, 1, 2, 2], [0, 0, 1, 1, 2, 2],
                             [3, 3, 4, 4, 5, 5], [3, 3, 4, 4, 5, 5]]
    assert (grid_regions(4, 6, 10) == 0).all()
    with pytest.raises(RegionError, match="positive integer"):
        grid_regions(4, 6, 0)


# ------------------------------------------------------------------------------ superpixels


def assert_consecutive(region_map: np.ndarray) -> int:
    n = int(region_map.max()) + 1
    assert np.array_equal(np.unique(region_map), np.arange(n))
    return n


def test_relabel_consecutive_keeps_order():
    assert relabel_consecutive(np.array([[7, 3], [3, 9]])).tolist() == [[1, 0], [0, 2]]


def test_slic_ids_are_consecutive_and_deterministic():
    img = smooth_image(48, 64)
    regions = slic_regions(img, 8)
    n = assert_consecutive(regions)
    assert 0.3 * 48 <= n <= 2 * 48  # requested 48*64/64 = 48; fewer is allowed
    assert np.array_equal(regions, slic_regions(img, 8))
    assert regions.shape == (48, 64) and regions.dtype == np.int64


def test_seeds_runs_with_consecutive_ids():
    pytest.importorskip("cv2.ximgproc", reason="SEEDS needs opencv-contrib (cv2.ximgproc)")
    img = smooth_image(64, 96)
    regions = seeds_regions(img, 8)
    n = assert_consecutive(regions)
    assert 0.5 * 96 <= n <= 96
    assert np.array_equal(regions, seeds_regions(img, 8))
    assert np.array_equal(make_regions("seeds", img, 8), regions)


def test_seeds_without_opencv_contrib_says_what_to_install(monkeypatch):
    real_import = builtins.__import__

    def no_cv2(name, *args, **kwargs):
        if name.startswith("cv2"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_cv2)
    with pytest.raises(RegionError, match="opencv-contrib-python-headless"):
        seeds_regions(smooth_image(16, 16), 4)


def test_make_regions_dispatch_and_unknown_method():
    img = smooth_image(10, 12)
    assert np.array_equal(make_regions("grid", img, 4), grid_regions(10, 12, 4))
    assert np.array_equal(make_regions("slic", img, 4, compactness=5.0),
                          slic_regions(img, 4, compactness=5.0))
    with pytest.raises(RegionError, match="slic"):
        make_regions("watershed", img, 4)


# ------------------------------------------------------------------------------ adjacency


def test_adjacency_known_map_with_diagonal_only_contact():
    regions = np.array([
        [0, 5, 5, 5],
        [5, 1, 5, 6],
        [5, 5, 5, 6],
    ])
    # 0 and 1 touch only diagonally; 1 and 6 do not touch; ids 2-4 are absent
    assert region_adjacency(regions).tolist() == [[0, 1], [0, 5], [1, 5], [5, 6]]


def test_adjacency_anti_diagonal_and_single_region():
    regions = np.array([[0, 1], [1, 2]])
    # 0-2 touch along the main diagonal only; 1-1 anti-diagonal is the same region
    assert region_adjacency(regions).tolist() == [[0, 1], [0, 2], [1, 2]]
    assert region_adjacency(np.array([[0, 1], [2, 3]])).tolist() == [
        [0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]]
    assert region_adjacency(np.zeros((3, 3), int)).shape == (0, 2)


def brute_adjacency(regions: np.ndarray) -> list[list[int]]:
    h, w = regions.shape
    pairs = set()
    for y in range(h):
        for x in range(w):
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    yy, xx = y + dy, x + dx
                    if 0 <= yy < h and 0 <= xx < w and regions[yy, xx] != regions[y, x]:
                        a, b = sorted((int(regions[y, x]), int(regions[yy, xx])))
                        pairs.add((a, b))
    return [list(p) for p in sorted(pairs)]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_adjacency_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    regions = rng.integers(0, 9, (9, 11))
    assert region_adjacency(regions).tolist() == brute_adjacency(regions)


# ------------------------------------------------------------------------------ band


def test_boundary_band_width_and_image_borders():
    regions = np.zeros((6, 20), dtype=np.int64)
    regions[:, 10:] = 1
    band3 = boundary_band(regions, 3.0)  # the paper's 5x5 kernel
    assert band3.dtype == bool
    assert np.flatnonzero(band3[0]).tolist() == list(range(7, 13))  # 3 px on each side
    assert (band3 == band3[0]).all()  # every row; no band along the image border
    assert np.flatnonzero(boundary_band(regions, 1.0)[0]).tolist() == [9, 10]  # thick boundary
    assert np.flatnonzero(boundary_band(regions, 2.0)[0]).tolist() == [8, 9, 10, 11]
    assert not boundary_band(regions, 0).any()
    assert not boundary_band(np.zeros((6, 20), int), 3.0).any()


@pytest.mark.parametrize("width, radius", [(0, -1), (0.49, -1), (0.5, 0), (0.75, 0),
                                           (1.49, 0), (1.5, 1), (3.0, 2), (3.4, 2), (3.5, 3)])
def test_band_radius_counts_pixel_centres_within_the_width(width, radius):
    assert band_radius(width) == radius


@pytest.mark.parametrize("width", [0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0])
def test_boundary_band_is_the_pixels_whose_centre_lies_within_the_width(width):
    """Brute force on a vertical border at x = 10 (between columns 9 and 10): column c's
    centre lies |c + 0.5 - 10| px from it."""
    regions = np.zeros((4, 20), dtype=np.int64)
    regions[:, 10:] = 1
    expected = [c for c in range(20) if abs(c + 0.5 - 10) <= width]
    assert np.flatnonzero(boundary_band(regions, width)[0]).tolist() == expected


def test_scaled_width_keeps_the_papers_band_share_of_a_region():
    """The paper's band (width 3 on sp32) and the quarter-size band (0.75 on sp8) cover
    the same share of a grid cell up to the pixel grid: 1 - 26²/32² vs 1 - 6²/8²."""
    from actseg.regions import grid_regions

    full = boundary_band(grid_regions(128, 128, 32), 3.0)[32:64, 32:64].mean()
    quarter = boundary_band(grid_regions(32, 32, 8), 0.75)[8:16, 8:16].mean()
    assert full == pytest.approx(1 - 26**2 / 32**2)
    assert quarter == pytest.approx(1 - 6**2 / 8**2)


def test_boundary_band_corner_region_and_diagonal_only_contact():
    regions = np.zeros((9, 9), dtype=np.int64)
    regions[:2, :2] = 1  # a corner block: boundary only on its inner sides
    band = boundary_band(regions, 1.0)
    expected = np.zeros((9, 9), bool)
    expected[:3, :3] = True
    expected[0, 0] = False  # both 4-neighbours in its own region
    expected[2, 2] = False  # only diagonal to region 1: not a 4-neighbour boundary
    assert band.tolist() == expected.tolist()
    grown = np.zeros((9, 9), bool)
    grown[:4, :4] = True
    grown[3, 3] = False  # Chebyshev distance 2 from the nearest boundary pixel
    assert boundary_band(regions, 2.0).tolist() == grown.tolist()


@pytest.mark.parametrize("kernel", [1, 3, 5, 7])
def test_boundary_band_matches_skimage_thick_boundaries_dilated(kernel):
    from skimage.segmentation import find_boundaries

    regions = np.random.default_rng(kernel).integers(0, 4, (6, 9)).repeat(4, 0).repeat(3, 1)
    expected = ndimage.binary_dilation(find_boundaries(regions, mode="thick"),
                                       structure=np.ones((kernel, kernel), bool))
    assert np.array_equal(boundary_band(regions, (kernel + 1) / 2), expected)


@pytest.mark.parametrize("width", [-1, float("nan"), float("inf")])
def test_boundary_band_rejects_negative_or_non_finite_width(width):
    with pytest.raises(ValueError, match="trim width"):
        boundary_band(np.zeros((3, 3), int), width)


# ------------------------------------------------------------------------------ a whole split


def image_split(shapes=((40, 56), (32, 48), (40, 56))) -> ArrayDataset:
    """Smooth images of two sizes."""
    return ArrayDataset([smooth_image(h, w, seed=i) for i, (h, w) in enumerate(shapes)])


@pytest.mark.parametrize("method", ["slic", "grid", "seeds"])
def test_write_regions_stores_real_counts_and_adjacency(tmp_path, method):
    if method == "seeds":
        pytest.importorskip("cv2.ximgproc", reason="SEEDS needs opencv-contrib (cv2.ximgproc)")
    split = image_split()
    out = tmp_path / "regions.h5"
    counts = write_regions(out, split, method, 8, workers=2, attrs={"dataset": "fake"})
    store = RegionsStore(out)
    assert store.image_ids == split.image_ids
    assert store.n_regions.tolist() == counts.tolist()
    assert store.attrs["method"] == method and store.attrs["size"] == 8
    for i in range(len(split)):
        region_map = store.region_map(i)
        assert region_map.shape == split.image_size(i)
        assert assert_consecutive(region_map) == store.n_regions[i]
        assert np.array_equal(store.adjacency(i), region_adjacency(region_map))
        expected = make_regions(method, split.load_image(i), 8)
        assert np.array_equal(region_map, expected)  # same map on 1 or 2 workers
    if method == "grid":
        assert store.n_regions.tolist() == [35, 24, 35]


def test_regions_cli_names_a_missing_dataset_root(tmp_path, capsys):
    from actseg.cli import main

    code = main(["regions", "--dataset", "cityscapes", "--root", str(tmp_path / "nowhere"),
                 "--method", "grid", "--size", "4", "--out", str(tmp_path / "regions.h5")])
    assert code == 1
    assert "nowhere" in capsys.readouterr().err
    assert not (tmp_path / "regions.h5").exists()


# ------------------------------------------------------------- regions in chunk jobs (region_jobs)


@pytest.mark.parametrize("count,chunks", [(7, 3), (3, 3), (2975, 16), (1, 1)])
def test_chunks_partition_the_split_in_order(count, chunks):
    parts = [chunk_indices(count, k, chunks) for k in range(chunks)]
    assert np.array_equal(np.concatenate(parts), np.arange(count))
    assert max(map(len, parts)) - min(map(len, parts)) <= 1


def store_arrays(path) -> dict:
    import h5py

    with h5py.File(path) as f:
        return {k: f[k][()] for k in f}, {k: f.attrs[k] for k in f.attrs}


@pytest.mark.parametrize("method", ["slic", "grid"])
def test_merged_chunks_equal_the_one_job_store(tmp_path, method):
    split = image_split(((40, 56), (32, 48), (40, 56), (24, 40), (40, 56)))
    whole = tmp_path / "whole.h5"
    write_regions(whole, split, method, 8, attrs={"dataset": "fake"})
    parts = [tmp_path / f"{k}.h5" for k in range(3)]
    for k, part in enumerate(parts):
        write_regions(part, split, method, 8, attrs={"dataset": "fake"}, chunk=(k, 3))
        assert RegionsStore(part).image_ids == [split.image_ids[i]
                                                for i in chunk_indices(5, k, 3)]
    merged = tmp_path / "merged.h5"
    counts = merge_regions(merged, parts)
    assert counts.tolist() == RegionsStore(whole).n_regions.tolist()
    (a, attrs_a), (b, attrs_b) = store_arrays(whole), store_arrays(merged)
    assert a.keys() == b.keys()
    for key in a:
        assert np.array_equal(a[key], b[key]), key
        assert a[key].dtype == b[key].dtype, key
    assert {k: str(v) for k, v in attrs_a.items()} == {k: str(v) for k, v in attrs_b.items()}


def test_merge_rejects_missing_or_shuffled_chunks(tmp_path):
    split = image_split()
    parts = [tmp_path / f"{k}.h5" for k in range(3)]
    for k, part in enumerate(parts):
        write_regions(part, split, "grid", 8, chunk=(k, 3))
    with pytest.raises(RegionError, match="chunks 0..1 of 2"):
        merge_regions(tmp_path / "m.h5", parts[:2])
    with pytest.raises(RegionError, match="in order"):
        merge_regions(tmp_path / "m.h5", [parts[1], parts[0], parts[2]])
    other = tmp_path / "other.h5"
    write_regions(other, split, "grid", 4, chunk=(2, 3))
    with pytest.raises(RegionError, match="different settings"):
        merge_regions(tmp_path / "m.h5", [parts[0], parts[1], other])
    assert not (tmp_path / "m.h5").exists()
    with pytest.raises(RegionError, match="no images"):
        write_regions(tmp_path / "empty.h5", split, "grid", 8, chunk=(0, 4))


def test_regions_cli_chunks_and_merge(tmp_path):
    """`actseg regions --chunk K/N` jobs merged with --merge give the one-job store."""
    from actseg.cli import main

    root = tmp_path / "city"
    assert main(["synth", "--out", str(root), "--settings",
                 '{"height": 32, "n_train": 5, "n_val": 1, "seed": 0, "width": 64}']) == 0
    common = ["regions", "--dataset", "synthetic", "--root", str(root), "--method", "slic",
              "--size", "8"]
    assert main([*common, "--out", str(tmp_path / "whole.h5")]) == 0
    parts = [str(tmp_path / f"{k}-of-2.h5") for k in (1, 2)]
    for k, part in enumerate(parts, 1):
        assert main([*common, "--chunk", f"{k}/2", "--out", part]) == 0
    assert main(["regions", "--merge", *parts, "--out", str(tmp_path / "merged.h5")]) == 0
    (a, _), (b, _) = store_arrays(tmp_path / "whole.h5"), store_arrays(tmp_path / "merged.h5")
    assert all(np.array_equal(a[k], b[k]) for k in a) and a.keys() == b.keys()
    assert main(["regions", "--merge", parts[1], parts[0], "--out",
                 str(tmp_path / "bad.h5")]) == 1


@pytest.mark.slow
def test_workflow_region_jobs_write_the_one_job_store(tmp_path):
    """region_jobs: 3 runs 3 regions_chunk jobs and a merge; the store is the one-job store."""
    from workflow_runs import REPO, snakemake

    stores = {}
    for jobs in (1, 3):
        work = tmp_path / f"jobs{jobs}"
        work.mkdir()
        done = snakemake(work, "results/regions/tiny-slic8/regions.h5", "--cores", "2",
                         "--configfile", str(REPO / "config.yaml"),
                         str(REPO / "workflow/configs/tiny.yaml"), "--config",
                         f"region_jobs={jobs}", "regions={method: slic, size: 8}")
        assert done.returncode == 0, done.stderr[-3000:]
        stores[jobs] = store_arrays(work / "results/regions/tiny-slic8/regions.h5")[0]
        if jobs == 3:
            assert done.stderr.count("rule regions_chunk:") == 3
            assert not (work / "results/regions/tiny-slic8/chunks/1-of-3.h5").exists()  # temp
    assert stores[1].keys() == stores[3].keys()
    assert all(np.array_equal(stores[1][k], stores[3][k]) for k in stores[1])
