"""The image patch of a question (supplement Fig. 1): a square crop mostly centred on the
region, enlarged with nearest-neighbour pixels to the display size, the region marked by a
thick, translucent red boundary. Everything is whole-array numpy / scipy.ndimage work.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

CITYSCAPES_WIDTH = 2048  # `survey.patch_side` is given at this image width
BOUNDARY_RGB = (255, 0, 0)
BOUNDARY_ALPHA = 0.6  # translucent: the pixels under the line stay visible
SQUARE = np.ones((3, 3), bool)  # chessboard distance: a band of equal width in every direction


def patch_side(side_at_cityscapes: int, height: int, width: int) -> int:
    """The crop side for an image of (height, width): scaled by width / 2048, at least 1 and
    at most the image's shorter side."""
    side = round(side_at_cityscapes * width / CITYSCAPES_WIDTH)
    return int(min(max(side, 1), height, width))


def crop_window(mask: np.ndarray, side: int) -> tuple[int, int]:
    """(top, left) of the `side`-square centred on the bounding box of `mask`, shifted inside
    the image where the region lies near an edge ("mostly centred")."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    centre_y, centre_x = (rows[0] + rows[-1] + 1) // 2, (cols[0] + cols[-1] + 1) // 2
    top = int(np.clip(centre_y - side // 2, 0, mask.shape[0] - side))
    left = int(np.clip(centre_x - side // 2, 0, mask.shape[1] - side))
    return top, left


def enlarge(array: np.ndarray, factor: int) -> np.ndarray:
    """Each pixel becomes a `factor`×`factor` block (nearest neighbour)."""
    return np.repeat(np.repeat(array, factor, axis=0), factor, axis=1)


def boundary_band(mask: np.ndarray, half_width: int) -> np.ndarray:
    """Pixels within `half_width` (chessboard distance) of the region's border, on both
    sides. The array's edge is not a border: a region cut by the crop stays open there."""
    grown = ndimage.binary_dilation(mask, SQUARE, iterations=half_width)
    shrunk = ndimage.binary_erosion(mask, SQUARE, iterations=half_width, border_value=1)
    return grown & ~shrunk


def mark(image: np.ndarray, band: np.ndarray, rgb=BOUNDARY_RGB,
         alpha: float = BOUNDARY_ALPHA) -> np.ndarray:
    """`image` (H, W, 3) uint8 with `band` blended towards `rgb`."""
    out = image.astype(np.float32)
    out[band] = (1 - alpha) * out[band] + alpha * np.asarray(rgb, np.float32)
    return np.rint(out).astype(np.uint8)


def render_patch(image: np.ndarray, mask: np.ndarray, side: int, display_side: int
                 ) -> np.ndarray:
    """The question's picture: the `side`-square crop around `mask` in `image`, enlarged by
    the whole factor nearest to `display_side / side`, with the region's boundary marked
    (line width about display_side / 60)."""
    top, left = crop_window(mask, side)
    window = (slice(top, top + side), slice(left, left + side))
    factor = max(1, round(display_side / side))
    big_mask = enlarge(mask[window], factor)
    band = boundary_band(big_mask, max(1, round(side * factor / 120)))
    return mark(enlarge(image[window], factor), band)
