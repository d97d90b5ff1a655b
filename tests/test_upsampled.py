"""Band-by-band full-resolution features: bit-identical to `upsample_features`, and the
pseudo labels computed from them identical to those from the resident full-size features."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from test_pseudo import voronoi_map

from actseg.inference import upsample_features
from actseg.pseudo import localize_and_expand
from actseg.regions import region_adjacency
from actseg.upsampled import BandBuffer, Upsampled


def low_features(seed, dim, h, w):
    torch.manual_seed(seed)
    return F.normalize(torch.randn(dim, h, w), dim=0)


@pytest.mark.parametrize("low_size,size,band_rows", [
    ((8, 16), (32, 64), 4), ((8, 16), (32, 64), 12), ((7, 13), (28, 50), 8),
    ((16, 12), (32, 48), 2), ((7, 13), (25, 50), 8), ((8, 8), (24, 24), 3),
    ((8, 8), (32, 32), None)])
@pytest.mark.parametrize("renormalize", [False, True])
def test_bands_are_bit_identical_to_the_full_upsampling(low_size, size, band_rows, renormalize):
    low = low_features(0, 16, *low_size)
    full = upsample_features(low[None], size, renormalize)[0]
    up = Upsampled(low, size, band_rows=band_rows, renormalize=renormalize)
    assert up.band_rows % up.stride == 0 or up.band_rows == size[0]
    for y0 in range(0, size[0], up.band_rows):
        y1 = min(size[0], y0 + up.band_rows)
        assert torch.equal(up.band(y0, y1), full[:, y0:y1])


def scene(seed, size, channels=6, seeds=40):
    """Regions, smooth-ish class probabilities and 1-3-class label sets on half the regions."""
    rng = np.random.default_rng(seed)
    region_map = voronoi_map(rng, *size, seeds=seeds)
    num_regions = int(region_map.max()) + 1
    logits = F.interpolate(torch.randn(1, channels, size[0] // 4, size[1] // 4,
                                       generator=torch.Generator().manual_seed(seed)),
                           size=size, mode="bilinear", align_corners=False)[0]
    probs = torch.softmax(4 * logits, 0)
    multihot = np.zeros((num_regions, channels), dtype=bool)
    for r in rng.choice(num_regions, num_regions // 2, replace=False):
        multihot[r, rng.choice(channels, rng.integers(1, 4), replace=False)] = True
    return probs, torch.from_numpy(region_map), torch.from_numpy(multihot), \
        torch.from_numpy(region_adjacency(region_map))


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("rule,expand", [("reference", True), ("clean", True),
                                         ("reference", False)])
def test_banded_labels_equal_resident_labels(seed, rule, expand, one_thread):
    """Bit-identical at one thread (as the workflow's jobs run): with two, the matmuls of a
    band and of the whole image may split their sums differently under load."""
    buffer = BandBuffer()  # shared by the two images: reused memory, same results
    for size, band_rows in (((48, 64), 8), ((64, 40), 4)):
        low = low_features(seed, 16, size[0] // 4, size[1] // 4)
        probs, region_map, multihot, adjacency = scene(seed, size)
        resident = localize_and_expand(upsample_features(low[None], size)[0], probs,
                                       region_map, multihot, adjacency, rule, expand)
        banded = localize_and_expand(Upsampled(low, size, band_rows, buffer), probs,
                                     region_map, multihot, adjacency, rule, expand)
        assert (resident != 255).any()
        assert torch.equal(banded, resident)


def test_upsampled_rejects_a_flat_map():
    with pytest.raises(ValueError, match=r"\(D, h, w\)"):
        Upsampled(torch.zeros(4, 4), (16, 16))


@pytest.mark.parametrize("band_rows", [4, 8, 64])
def test_pixels_are_the_full_upsampling_at_those_pixels(band_rows):
    low = low_features(1, 8, 16, 12)
    full = upsample_features(low[None], (64, 48))[0].reshape(8, -1)
    flat = torch.tensor([0, 5, 47, 48, 1000, 1001, 3071, 2000])
    assert torch.equal(Upsampled(low, (64, 48), band_rows).pixels(flat), full[:, flat].T)


def test_asking_again_for_the_same_band_reuses_it_until_the_buffer_is_used():
    torch.manual_seed(0)
    buffer = BandBuffer()
    first = Upsampled(F.normalize(torch.randn(6, 8, 10), dim=0), (32, 40), buffer=buffer)
    band = first.band(0, 32)
    assert first.band(0, 32) is band  # no recomputation
    other = Upsampled(F.normalize(torch.randn(6, 8, 10), dim=0), (32, 40), buffer=buffer)
    other.band(0, 32)  # overwrites the shared buffer
    again = first.band(0, 32)
    assert again is not band
    assert torch.equal(again, upsample_features(first.low[None], (32, 40))[0])
