"""Survey patches on inputs small enough to check by hand: the crop window, the boundary
band, the enlargement and the blend."""

from __future__ import annotations

import numpy as np

from actseg.survey.patches import (boundary_band, crop_window, enlarge, mark, patch_side,
                                   render_patch)


def test_patch_side_scales_with_image_width_and_fits_the_image():
    assert patch_side(360, 1024, 2048) == 360  # Cityscapes
    assert patch_side(360, 256, 512) == 90  # the embedded city, 1/4 per side
    assert patch_side(360, 32, 64) == 11
    assert patch_side(360, 20, 4096) == 20  # never more than the shorter side
    assert patch_side(1, 8, 16) == 1


def test_crop_window_centres_on_the_bounding_box_and_stays_inside():
    mask = np.zeros((10, 12), bool)
    mask[4:6, 5:8] = True  # bbox rows 4..5, cols 5..7: centre (5, 6)
    assert crop_window(mask, 4) == (3, 4)
    mask[:] = False
    mask[0, 0] = True  # top-left corner: shifted inside
    assert crop_window(mask, 4) == (0, 0)
    mask[:] = False
    mask[9, 11] = True  # bottom-right corner
    assert crop_window(mask, 4) == (6, 8)


def test_boundary_band_straddles_the_border():
    mask = np.zeros((7, 7), bool)
    mask[2:5, 2:5] = True
    expected = np.zeros((7, 7), bool)
    expected[1:6, 1:6] = True  # one pixel out ...
    expected[3, 3] = False  # ... and one in: only the centre is deeper inside
    np.testing.assert_array_equal(boundary_band(mask, 1), expected)


def test_boundary_band_leaves_the_crop_edge_open():
    """A region cut by the crop continues outside it: no line along the patch's edge."""
    mask = np.zeros((5, 5), bool)
    mask[:, :2] = True  # the left two columns, running off the top, left and bottom edges
    expected = np.zeros((5, 5), bool)
    expected[:, 1:3] = True
    np.testing.assert_array_equal(boundary_band(mask, 1), expected)


def test_enlarge_and_mark():
    np.testing.assert_array_equal(enlarge(np.array([[1, 2]]), 2), [[1, 1, 2, 2], [1, 1, 2, 2]])
    image = np.full((1, 2, 3), 100, np.uint8)
    band = np.array([[True, False]])
    out = mark(image, band, rgb=(200, 0, 100), alpha=0.5)
    np.testing.assert_array_equal(out[0, 0], [150, 50, 100])
    np.testing.assert_array_equal(out[0, 1], [100, 100, 100])


def test_render_patch_crops_enlarges_and_marks():
    image = np.zeros((6, 8, 3), np.uint8)
    image[..., 1] = np.arange(8)[None, :]  # green channel = column, to find the crop
    mask = np.zeros((6, 8), bool)
    mask[2:4, 5:7] = True
    patch = render_patch(image, mask, side=4, display_side=8)  # factor 2, half width 1
    assert patch.shape == (8, 8, 3)
    left = crop_window(mask, 4)[1]
    assert left == 4
    np.testing.assert_array_equal(patch[0, ::2, 1], [4, 5, 6, 7])  # unmarked corner row
    red = patch[..., 0] > 0
    big = enlarge(mask[1:5, 4:8], 2)
    np.testing.assert_array_equal(red, boundary_band(big, 1))
