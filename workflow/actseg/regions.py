"""Cutting images into regions (docs/method.md §1) and the per-image geometry the oracle and the
label expansion need: 8-neighbourhood adjacency and the boundary band.

Every region method returns an (H, W) int64 map with consecutive ids `0..n-1`; superpixel
methods return fewer (or more) regions than requested, so callers take the count from the map.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from actseg.errors import ActsegError

METHODS = ("slic", "grid", "seeds")


class RegionError(ActsegError, ValueError):
    """A region method cannot run with these inputs (missing dependency, bad size)."""


def relabel_consecutive(region_map: np.ndarray) -> np.ndarray:
    """Map the ids present in `region_map` onto `0..n-1`, keeping their order."""
    _, inverse = np.unique(region_map, return_inverse=True)
    return inverse.reshape(region_map.shape).astype(np.int64)


def _requested_count(height: int, width: int, size: float) -> int:
    if size <= 0:
        raise RegionError(f"region size must be positive, got {size}")
    return max(1, int(round(height * width / float(size) ** 2)))


def slic_regions(image: np.ndarray, size: float, compactness: float = 10.0) -> np.ndarray:
    """SLIC superpixels (scikit-image) with a mean region side of about `size` px."""
    from skimage.segmentation import slic

    height, width = image.shape[:2]
    labels = slic(
        image,
        n_segments=_requested_count(height, width, size),
        compactness=compactness,
        start_label=0,
        channel_axis=-1 if image.ndim == 3 else None,
    )
    return relabel_consecutive(labels)


def grid_regions(height: int, width: int, size: int) -> np.ndarray:
    """A regular grid of `size`×`size` cells (the last row/column may be smaller), row-major ids."""
    if size < 1 or int(size) != size:
        raise RegionError(f"grid size must be a positive integer, got {size}")
    size = int(size)
    cols = -(-width // size)
    row_of = np.arange(height, dtype=np.int64) // size
    col_of = np.arange(width, dtype=np.int64) // size
    return row_of[:, None] * cols + col_of[None, :]


def seeds_regions(
    image: np.ndarray,
    size: float,
    num_levels: int = 4,
    prior: int = 2,
    histogram_bins: int = 5,
    iterations: int = 10,
) -> np.ndarray:
    """SEEDS superpixels (OpenCV contrib, the paper's choice) on the Lab image."""
    try:
        import cv2
        from cv2 import ximgproc
    except ImportError as err:
        raise RegionError(
            "SEEDS needs OpenCV's contrib modules (cv2.ximgproc): "
            "pip install opencv-contrib-python-headless  (or the `seeds` extra: "
            "pip install 'actseg[seeds]')"
        ) from err
    if image.ndim != 3 or image.shape[2] != 3:
        raise RegionError(f"SEEDS expects an (H, W, 3) RGB image, got shape {image.shape}")
    height, width = image.shape[:2]
    lab = cv2.cvtColor(np.ascontiguousarray(image, dtype=np.uint8), cv2.COLOR_RGB2Lab)
    seeds = ximgproc.createSuperpixelSEEDS(
        width, height, 3, _requested_count(height, width, size), num_levels, prior,
        histogram_bins, False,
    )
    seeds.iterate(lab, iterations)
    return relabel_consecutive(seeds.getLabels())


def make_regions(method: str, image: np.ndarray, size: float, **kwargs) -> np.ndarray:
    """Dispatch to `<method>_regions`; `kwargs` are the method's own options."""
    if method == "slic":
        return slic_regions(image, size, **kwargs)
    if method == "grid":
        return grid_regions(image.shape[0], image.shape[1], size)
    if method == "seeds":
        return seeds_regions(image, size, **kwargs)
    raise RegionError(f"region method must be one of {METHODS}, got {method!r}")


def _neighbour_pairs(region_map: np.ndarray):
    """(a, b) id arrays of every horizontal, vertical and diagonal pixel pair (8-neighbourhood)."""
    m = region_map
    yield m[:, :-1], m[:, 1:]  # right
    yield m[:-1, :], m[1:, :]  # down
    yield m[:-1, :-1], m[1:, 1:]  # down-right
    yield m[:-1, 1:], m[1:, :-1]  # down-left


def region_adjacency(region_map: np.ndarray) -> np.ndarray:
    """Unique (P, 2) int64 pairs `a < b` of regions touching in the 8-neighbourhood, sorted."""
    region_map = np.asarray(region_map, dtype=np.int64)
    if region_map.size == 0:
        return np.zeros((0, 2), dtype=np.int64)
    n = int(region_map.max()) + 1
    codes = []
    for a, b in _neighbour_pairs(region_map):
        differ = a != b
        a, b = a[differ], b[differ]
        codes.append(np.minimum(a, b) * n + np.maximum(a, b))
    codes = np.unique(np.concatenate(codes))  # sorted: by a, then b
    return np.stack([codes // n, codes % n], axis=1)


def thick_boundaries(region_map: np.ndarray) -> np.ndarray:
    """Pixels with a 4-neighbour of another id, both sides marked; image borders are not."""
    edges = np.zeros(region_map.shape, dtype=bool)
    horizontal = region_map[:, 1:] != region_map[:, :-1]
    edges[:, 1:] |= horizontal
    edges[:, :-1] |= horizontal
    vertical = region_map[1:, :] != region_map[:-1, :]
    edges[1:, :] |= vertical
    edges[:-1, :] |= vertical
    return edges


def band_radius(width: float) -> int:
    """Chessboard dilation radius of the thick boundaries for a band of half-width `width`.

    A thick-boundary pixel's centre lies 0.5 px from the border between two regions, and a
    pixel at chessboard distance d from it at least d + 0.5 px; the band holds the pixels whose
    centre is within `width` px of a border, so d <= width - 0.5. -1 means no band at all
    (width < 0.5). The paper's 5×5 kernel on 1024×2048 images is width 3 (radius 2).
    """
    width = float(width)
    if not math.isfinite(width) or width < 0:
        raise ValueError(f"trim width must be a finite number >= 0, got {width}")
    return math.floor(width - 0.5) if width >= 0.5 else -1


def boundary_band(region_map: np.ndarray, width: float = 3.0) -> np.ndarray:
    """Pixels whose centre lies within `width` px of a region border (docs/method.md §2).

    The thick boundaries dilated by a (2k+1)×(2k+1) square, k = `band_radius(width)`; width 3
    is the paper's 5×5 band at 1024×2048 (3 px on each side of every border), and a width
    scaled by the image-size ratio keeps the band's share of a region the same on smaller
    images. Image borders are not region borders.
    """
    radius = band_radius(width)
    if radius < 0:
        return np.zeros(region_map.shape, dtype=bool)
    band = thick_boundaries(region_map).view(np.uint8)
    # separable max filter == dilation with a square; zero padding keeps borders unmarked
    for axis in (0, 1):
        band = ndimage.maximum_filter1d(band, 2 * radius + 1, axis=axis, mode="constant",
                                        cval=0)
    return band.astype(bool)


# ------------------------------------------------------------------------ a whole split


def _image_regions(state: tuple, index: int) -> tuple[np.ndarray, np.ndarray]:
    """Worker: region map (smallest unsigned dtype) and adjacency of image `index`."""
    dataset, method, size, options = state
    if method == "grid":
        region_map = grid_regions(*dataset.image_size(index), size)
    else:
        region_map = make_regions(method, dataset.load_image(index), size, **options)
    dtype = np.uint16 if region_map.max() <= np.iinfo(np.uint16).max else np.uint32
    return region_map.astype(dtype), region_adjacency(region_map).astype(np.int32)


def region_count_bound(method: str, height: int, width: int, size: float) -> int:
    """An upper bound on the region count of one image (it picks the store's dtype)."""
    if method == "grid":
        return -(-height // int(size)) * -(-width // int(size))
    # superpixels stay near the requested count; ids beyond the dtype are caught on write
    return min(height * width, 4 * _requested_count(height, width, size))


def chunk_indices(count: int, chunk: int, chunks: int) -> np.ndarray:
    """Image indices of chunk `chunk` (0-based) of `chunks` contiguous, near-equal chunks."""
    if not 1 <= chunks or not 0 <= chunk < chunks:
        raise RegionError(f"chunk {chunk} of {chunks}: need 0 <= chunk < chunks")
    return np.arange(count * chunk // chunks, count * (chunk + 1) // chunks, dtype=np.int64)


class _Subset:
    """The images `indices` of `dataset` (the loaders a region worker needs)."""

    def __init__(self, dataset, indices):
        self.dataset, self.indices = dataset, [int(i) for i in indices]
        self.image_ids = [dataset.image_ids[i] for i in self.indices]

    def __len__(self) -> int:
        return len(self.indices)

    def image_size(self, index: int):
        return self.dataset.image_size(self.indices[index])

    def load_image(self, index: int):
        return self.dataset.load_image(self.indices[index])


def write_regions(out, dataset, method: str, size: float, workers: int = 1,
                  options: dict | None = None, attrs: dict | None = None,
                  chunk: tuple[int, int] | None = None) -> np.ndarray:
    """Cut every image of `dataset` into regions and stream them into `out` (regions.h5).

    `chunk` (k, n): only the k-th of n contiguous chunks of the images (`chunk_indices`), a
    partial store that `merge_regions` joins with the others. Returns the real region count
    per image written.
    """
    from actseg.parallel import map_images
    from actseg.stores import RegionsWriter

    if method not in METHODS:
        raise RegionError(f"region method must be one of {METHODS}, got {method!r}")
    options = dict(options or {})
    # the store's dtype comes from the whole split, so every chunk gets the same one
    bound_sizes = [dataset.image_size(i) for i in range(len(dataset))]
    if chunk is not None:
        k, n = chunk
        dataset = _Subset(dataset, chunk_indices(len(dataset), k, n))
        attrs = dict(attrs or {}, chunk=k, chunks=n)
    sizes = np.array([dataset.image_size(i) for i in range(len(dataset))], dtype=np.int64)
    if len(bound_sizes) == 0:
        raise RegionError("the dataset split has no images")
    if len(sizes) == 0:
        raise RegionError(f"chunk {chunk[0]} of {chunk[1]} has no images "
                          f"({len(bound_sizes)} in the split): use fewer chunks")
    bound = max(region_count_bound(method, int(h), int(w), size) for h, w in bound_sizes)
    counts = np.zeros(len(sizes), dtype=np.int64)
    state = (dataset, method, size, options)
    with RegionsWriter(out, dataset.image_ids, sizes[:, 0], sizes[:, 1], bound,
                       dict(attrs or {}, method=method, size=size, **options)) as writer:
        results = map_images(_image_regions, state, len(sizes), workers, f"regions ({method})")
        for index, (region_map, adjacency) in enumerate(results):
            writer.add(index, region_map, adjacency)
            counts[index] = int(region_map.max()) + 1
    return counts


def merge_regions(out, parts) -> np.ndarray:
    """Join the chunk stores `parts` (in chunk order) into one regions.h5 at `out`.

    The result equals the store one `write_regions` call over the whole split writes (same
    arrays, same attributes). Returns the region count per image.
    """
    from actseg.stores import RegionsStore, RegionsWriter

    stores = [RegionsStore(p) for p in parts]
    try:
        if not stores:
            raise RegionError("no chunk stores to merge")
        attrs = [{k: v for k, v in s.attrs.items() if k not in ("chunk", "chunks")}
                 for s in stores]
        order = [int(s.attrs.get("chunk", -1)) for s in stores]
        chunks = {int(s.attrs.get("chunks", -1)) for s in stores}
        if order != list(range(len(stores))) or chunks != {len(stores)}:
            raise RegionError(f"chunk stores must be chunks 0..{len(stores) - 1} of "
                              f"{len(stores)} in order, got chunks {order} of {sorted(chunks)}")
        if any(a.keys() != attrs[0].keys() or any(str(a[k]) != str(attrs[0][k]) for k in a)
               for a in attrs):
            raise RegionError("chunk stores were written with different settings")
        ids = [i for s in stores for i in s.image_ids]
        heights = np.concatenate([s.heights for s in stores])
        widths = np.concatenate([s.widths for s in stores])
        dtypes = {s.file["regions"].dtype for s in stores}
        bound = int(np.iinfo(dtypes.pop()).max) if len(dtypes) == 1 else 2**32 - 1
        counts = []
        with RegionsWriter(out, ids, heights, widths, bound, _public(attrs[0])) as writer:
            index = 0
            for store in stores:
                for i in range(len(store)):
                    writer.add(index, store.region_map(i), store.adjacency(i))
                    counts.append(int(store.n_regions[i]))
                    index += 1
        return np.array(counts, dtype=np.int64)
    finally:
        for store in stores:
            if store._file is not None:
                store._file.close()


def _public(attrs: dict) -> dict:
    """The settings attributes a writer sets itself are left out (provenance is re-added)."""
    return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in attrs.items()}
