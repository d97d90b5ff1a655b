"""A procedural pretraining domain: dense texture segmentation of random shapes.

The paper starts both stages from ImageNet weights; nothing can be downloaded here, so the
default backbone is pretrained on this domain instead (`actseg pretrain`). Every image is a
random layout (a few large cells, then ellipses, rotated boxes, triangles, bars and blobs on
top), each piece filled with one of `FAMILIES` of procedural textures in two random colours.
The label of a pixel is the pair (texture family, kind of piece) of the piece that covers
it, so colour carries no information and the network must learn texture and, to tell the
kinds apart, the outline of the whole piece around the pixel (context, as for objects).
Nothing here uses the synthetic city, its class renderers or any dataset's labels.

Every image is a pure function of its seed (numpy `default_rng`), so a pretraining run is
reproducible and its data stream does not depend on DataLoader workers.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage
from torch.utils.data import Dataset

from actseg.transforms import normalize_image

FAMILIES = ("flat", "stripes", "checker", "dots", "rings", "grain", "clouds", "blotches",
            "hatch", "gradient", "waves", "bricks")
SHAPES = ("ellipse", "box", "triangle", "bar", "blob")
KINDS = ("cell", *SHAPES)  # the kind of piece: a background cell or one of the shapes
CLASS_NAMES = tuple(f"{family}-{kind}" for family in FAMILIES for kind in KINDS)


def _coords(size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:size[0], 0:size[1]].astype(np.float32)
    return ys, xs


def _rotated(ys, xs, rng) -> tuple[np.ndarray, np.ndarray]:
    theta = rng.uniform(0, np.pi)
    c, s = np.cos(theta), np.sin(theta)
    return xs * c + ys * s, -xs * s + ys * c


def _smooth_noise(size, rng, sigma: float) -> np.ndarray:
    field = ndimage.gaussian_filter(rng.standard_normal(size).astype(np.float32), sigma)
    field -= field.mean()
    return field / (field.std() + 1e-6)


def texture(family: str, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """(H, W) float32 pattern in [0, 1] of one texture family, random scale and orientation."""
    return np.asarray(_pattern(family, size, rng), dtype=np.float32)


def _pattern(family: str, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    ys, xs = _coords(size)
    u, v = _rotated(ys, xs, rng)
    period = rng.uniform(3.0, 12.0)
    phase = rng.uniform(0, 2 * np.pi)
    k = 2 * np.pi / period
    if family == "flat":
        return np.full(size, rng.uniform(0, 1), np.float32)
    if family == "stripes":
        return (np.sin(k * u + phase) > rng.uniform(-0.5, 0.5)).astype(np.float32)
    if family == "checker":
        return ((np.sin(k * u + phase) * np.sin(k * v)) > 0).astype(np.float32)
    if family == "dots":
        radius = rng.uniform(0.35, 0.7)
        return ((np.cos(k * u + phase) + np.cos(k * v)) > 2 - 2 * radius).astype(np.float32)
    if family == "rings":
        cy, cx = rng.uniform(0, size[0]), rng.uniform(0, size[1])
        return (np.sin(k * np.hypot(ys - cy, xs - cx) + phase) > 0).astype(np.float32)
    if family == "grain":
        return rng.uniform(0, 1, size).astype(np.float32)
    if family == "clouds":
        return 1 / (1 + np.exp(-1.5 * _smooth_noise(size, rng, rng.uniform(3, 8))))
    if family == "blotches":
        return (_smooth_noise(size, rng, rng.uniform(1.5, 3)) > 0.3).astype(np.float32)
    if family == "hatch":
        u2, v2 = _rotated(ys, xs, rng)
        return ((np.sin(k * u + phase) > 0.6) | (np.sin(k * v2) > 0.6)).astype(np.float32)
    if family == "gradient":
        span = max(size) * rng.uniform(0.5, 2.0)
        return np.clip((u - u.min()) / span, 0, 1).astype(np.float32)
    if family == "waves":
        return 0.5 + 0.5 * np.sin(k * u + 3 * np.sin(k * 0.4 * v) + phase)
    if family == "bricks":
        row = np.floor(k * v / np.pi)
        shifted = u + (row % 2) * period
        mortar = (np.abs(np.sin(k * v)) < 0.25) | (np.abs(np.sin(k * shifted / 2)) < 0.12)
        return mortar.astype(np.float32)
    raise ValueError(f"unknown texture family {family!r}")


def shape_mask(shape: str, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """(H, W) bool mask of one random shape of kind `shape`."""
    ys, xs = _coords(size)
    cy, cx = rng.uniform(0, size[0]), rng.uniform(0, size[1])
    u, v = _rotated(ys - cy, xs - cx, rng)
    scale = min(size) * rng.uniform(0.08, 0.35)
    if shape == "ellipse":
        return (u / scale) ** 2 + (v / (scale * rng.uniform(0.3, 1.0))) ** 2 < 1
    if shape == "box":
        return (np.abs(u) < scale) & (np.abs(v) < scale * rng.uniform(0.3, 1.0))
    if shape == "triangle":
        return (v > -scale / 2) & (np.abs(u) < (scale - v) * 0.6)
    if shape == "bar":
        return (np.abs(u) < scale * 2) & (np.abs(v) < rng.uniform(1.0, 4.0))
    if shape == "blob":  # an irregular smooth outline around the centre
        wobble = _smooth_noise(size, rng, scale / 3)
        return (u / scale) ** 2 + (v / scale) ** 2 < 1 + 0.6 * wobble
    raise ValueError(f"unknown shape {shape!r}")


def _cells(size, rng, count: int) -> np.ndarray:
    """A Voronoi partition of the image into `count` cells."""
    ys, xs = _coords(size)
    centres = rng.uniform(0, 1, (count, 2)) * np.array(size, np.float32)
    dist = (ys[None] - centres[:, 0, None, None]) ** 2 + (xs[None] - centres[:, 1, None, None]) ** 2
    return dist.argmin(axis=0)


def _paint(canvas, labels, mask, size, rng, kind: int) -> None:
    family = int(rng.integers(len(FAMILIES)))
    pattern = texture(FAMILIES[family], size, rng)[..., None]
    low, high = rng.uniform(0, 1, (2, 3)).astype(np.float32)
    colours = low * (1 - pattern) + high * pattern
    canvas[mask] = colours[mask]
    labels[mask] = family * len(KINDS) + kind


def pretext_sample(seed: int, size: tuple[int, int] = (128, 128)
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(image (H, W, 3) uint8, label (H, W) int64 class = family × len(KINDS) + kind)."""
    rng = np.random.default_rng(seed)
    canvas = np.zeros((*size, 3), np.float32)
    labels = np.zeros(size, np.int64)
    cells = _cells(size, rng, int(rng.integers(2, 6)))
    for cell in range(int(cells.max()) + 1):
        _paint(canvas, labels, cells == cell, size, rng, 0)
    for _ in range(int(rng.integers(3, 10))):
        kind = 1 + int(rng.integers(len(SHAPES)))
        _paint(canvas, labels, shape_mask(KINDS[kind], size, rng), size, rng, kind)
    canvas = ndimage.gaussian_filter(canvas, (rng.uniform(0, 1.0),) * 2 + (0,))
    canvas = canvas * rng.uniform(0.6, 1.2) + rng.normal(0, 0.03, canvas.shape)
    image = np.clip(canvas * 255 + 0.5, 0, 255).astype(np.uint8)
    return image, labels


class PretextDataset(Dataset):
    """Endless pretext samples for `actseg.train.train`: the key's sample seed picks the
    image, so no two draws repeat; `__len__` is only the sampler's epoch length."""

    num_classes = len(CLASS_NAMES)
    class_names = CLASS_NAMES

    def __init__(self, size: tuple[int, int] = (128, 128), epoch_length: int = 1000,
                 seed: int = 0):
        self.size = tuple(size)
        self.epoch_length = epoch_length
        self.seed = seed

    def __len__(self) -> int:
        return self.epoch_length

    def __getitem__(self, key: tuple[int, int]):
        _, sample_seed = key
        image, label = pretext_sample(int(sample_seed) ^ self.seed, self.size)
        return normalize_image(image), torch.from_numpy(label)
