"""Joint image/label augmentation: shapes, alignment under scale/crop/flip, fills, determinism."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from actseg.transforms import (IMAGENET_MEAN, IMAGENET_STD, TrainAugment, _bilinear_window,
                               nearest_indices, normalize_image)

MEAN = np.array(IMAGENET_MEAN) * 255
STD = np.array(IMAGENET_STD) * 255


def resize_label(label: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of a whole (H, W) map with the augmentation's indices."""
    rows = nearest_indices(label.shape[0], size[0])
    cols = nearest_indices(label.shape[1], size[1])
    return label[rows[:, None], cols[None, :]]


def resize_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a whole (h, w, 3) image with the augmentation's window kernel."""
    image = np.asarray(image, dtype=np.float32)
    return _bilinear_window(image, size, np.arange(size[0]), np.arange(size[1]))


def _unnormalize(image: torch.Tensor) -> np.ndarray:
    """(3, h, w) normalised tensor -> (h, w, 3) values in the input's 0..255 scale."""
    return image.permute(1, 2, 0).double().numpy() * STD + MEAN


def test_normalize_image_matches_formula():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    out = normalize_image(image)
    assert out.shape == (3, 5, 7) and out.dtype == torch.float32
    expected = (image / 255.0 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    np.testing.assert_allclose(out.permute(1, 2, 0).numpy(), expected, atol=1e-5)


@pytest.mark.parametrize("src,dst", [(37, 53), (53, 37), (8, 8), (5, 17), (64, 31), (1, 4)])
def test_resize_image_matches_torch_bilinear(src, dst):
    rng = np.random.default_rng(src * dst)
    image = rng.uniform(0, 255, size=(src, src + 3, 3)).astype(np.float32)
    ours = resize_image(image, (dst, dst + 5))
    ref = F.interpolate(torch.from_numpy(image).permute(2, 0, 1)[None], size=(dst, dst + 5),
                        mode="bilinear", align_corners=False)[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(ours, ref, atol=1e-3)


def test_nearest_indices_centre_aligned():
    # Downscale by 2: output pixel i covers source pixels 2i, 2i+1; its centre lands on 2i+1.
    assert nearest_indices(8, 4).tolist() == [1, 3, 5, 7]
    assert nearest_indices(3, 6).tolist() == [0, 0, 1, 1, 2, 2]
    assert nearest_indices(5, 5).tolist() == [0, 1, 2, 3, 4]


def test_resize_label_keeps_large_ids_exactly():
    label = np.array([[70000, 3], [-1, 2**40]], dtype=np.int64)
    out = resize_label(label, (4, 4))
    assert set(np.unique(out).tolist()) == {70000, 3, -1, 2**40}
    assert out[0, 0] == 70000 and out[3, 3] == 2**40


def _pattern(height, width):
    """An image whose channels hold (row, col, 7) and a label map coding row*1000 + col."""
    rows = np.arange(height)[:, None].repeat(width, 1)
    cols = np.arange(width)[None, :].repeat(height, 0)
    image = np.stack([rows, cols, np.full_like(rows, 7)], axis=2).astype(np.float32)
    return image, (rows * 1000 + cols).astype(np.int64)


@pytest.mark.parametrize("seed", range(12))
def test_labels_stay_aligned_with_image_under_random_scale(seed):
    """Bilinear resampling is exact on a linear ramp, so the image channels give each output
    pixel's source coordinate; the nearest label's source must lie within half a pixel."""
    image, label = _pattern(37, 53)
    aug = TrainAugment(crop_size=(30, 40), scale_range=(0.5, 2.0), flip=True)
    out_image, (out_label,) = aug(image, [(label, -1)], torch.Generator().manual_seed(seed))
    assert out_image.shape == (3, 30, 40) and out_label.shape == (30, 40)
    assert out_image.dtype == torch.float32 and out_label.dtype == torch.int64
    valid = (out_label >= 0).numpy()
    assert valid.any()
    raw = _unnormalize(out_image)
    rows, cols = out_label.numpy()[valid] // 1000, out_label.numpy()[valid] % 1000
    assert np.abs(rows - raw[..., 0][valid]).max() <= 0.5 + 1e-3
    assert np.abs(cols - raw[..., 1][valid]).max() <= 0.5 + 1e-3
    np.testing.assert_allclose(raw[..., 2][valid], 7, atol=1e-3)
    # Padding (label -1) is 0 after normalisation, i.e. the mean colour.
    assert np.all(out_image.numpy()[:, ~valid] == 0)


@pytest.mark.parametrize("seed", range(8))
def test_crop_and_flip_track_coordinates(seed):
    """Scale 1: the output is an exact window (maybe mirrored) of the input, the same window
    for the image and every label map."""
    image, label = _pattern(20, 30)
    aug = TrainAugment(crop_size=(12, 16), scale_range=(1.0, 1.0))
    out_image, (out_label, second) = aug(image, [(label, -1), (label.copy(), 255)],
                                         torch.Generator().manual_seed(seed))
    raw = np.rint(_unnormalize(out_image)).astype(np.int64)
    rows, cols = torch.from_numpy(raw[..., 0]), torch.from_numpy(raw[..., 1])
    assert torch.equal(rows * 1000 + cols, out_label)
    assert torch.equal(out_label, second)
    assert torch.equal(rows[:, 0], rows[0, 0] + torch.arange(12))
    step = int(cols[0, 1] - cols[0, 0])
    assert step in (1, -1)
    assert torch.equal(cols[0], cols[0, 0] + step * torch.arange(16))


def test_flip_happens_for_some_seeds_and_not_others():
    image, label = _pattern(10, 10)
    aug = TrainAugment(crop_size=(10, 10), scale_range=(1.0, 1.0))
    steps = set()
    for seed in range(20):
        _, (out,) = aug(image, [(label, -1)], torch.Generator().manual_seed(seed))
        steps.add(int(out[0, 1] - out[0, 0]))
    assert steps == {1, -1}


def test_padding_uses_fill_values():
    image = np.full((6, 8, 3), 200, dtype=np.uint8)
    region = np.full((6, 8), 7, dtype=np.int64)
    classes = np.full((6, 8), 3, dtype=np.uint8)
    aug = TrainAugment(crop_size=(16, 20), scale_range=(1.0, 1.0), flip=False)
    out, (r, c) = aug(image, [(region, -1), (classes, 255)], torch.Generator().manual_seed(0))
    assert out.shape == (3, 16, 20)
    # Everything fits: no crop offset, content at the top-left, padding bottom/right.
    np.testing.assert_allclose(_unnormalize(out)[:6, :8], 200, atol=1e-3)
    assert torch.all(out[:, 6:] == 0) and torch.all(out[:, :, 8:] == 0)
    assert torch.all(r[:6, :8] == 7) and torch.all(r[6:] == -1) and torch.all(r[:, 8:] == -1)
    assert torch.all(c[:6, :8] == 3) and torch.all(c[6:] == 255) and torch.all(c[:, 8:] == 255)


def test_scale_range_respected():
    image, label = _pattern(40, 40)
    aug = TrainAugment(crop_size=(200, 200), scale_range=(0.5, 2.0), flip=False)
    sizes = set()
    for seed in range(10):
        _, (lab,) = aug(image, [(label, -1)], torch.Generator().manual_seed(seed))
        valid = lab >= 0
        h, w = int(valid.any(1).sum()), int(valid.any(0).sum())
        assert 20 <= h <= 80 and h == w
        sizes.add(h)
    assert len(sizes) > 5


def test_window_equals_full_resize_then_crop():
    """Computing only the crop window equals scaling the whole image and cutting it out."""
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, size=(24, 36, 3), dtype=np.uint8)
    label = rng.integers(0, 50, size=(24, 36))
    aug = TrainAugment(crop_size=(20, 28), scale_range=(1.3, 1.3), flip=False)
    out, (lab,) = aug(image, [(label, -1)], torch.Generator().manual_seed(4))
    full = resize_image(image.astype(np.float32), (31, 47))
    full_label = resize_label(label, (31, 47))
    raw = _unnormalize(out)
    hits = [(t, l) for t in range(12) for l in range(20)
            if np.array_equal(full_label[t:t + 20, l:l + 28], lab.numpy())
            and np.allclose(full[t:t + 20, l:l + 28], raw, atol=1e-3)]
    assert hits


def test_deterministic_given_generator_and_differs_across_seeds():
    image, label = _pattern(24, 24)
    aug = TrainAugment(crop_size=(16, 16), scale_range=(0.5, 2.0))
    a = aug(image, [(label, -1)], torch.Generator().manual_seed(5))
    b = aug(image, [(label, -1)], torch.Generator().manual_seed(5))
    c = aug(image, [(label, -1)], torch.Generator().manual_seed(6))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1][0], b[1][0])
    assert not torch.equal(a[1][0], c[1][0])


def test_bad_inputs():
    with pytest.raises(ValueError, match="scale_range"):
        TrainAugment(crop_size=(4, 4), scale_range=(2.0, 1.0))
    aug = TrainAugment(crop_size=(4, 4))
    with pytest.raises(ValueError, match="does not match"):
        aug(np.zeros((5, 5, 3)), [(np.zeros((4, 5), dtype=np.int64), -1)],
            torch.Generator().manual_seed(0))
