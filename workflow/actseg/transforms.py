"""Joint augmentation of an image and its label maps (docs/method.md §4).

Random scale s ∈ [s0, s1] (bilinear for the image, nearest for labels), pad to the crop size
at the bottom/right (image with the mean colour, i.e. 0 after normalisation; labels with
their ignore value), random crop, horizontal flip, ImageNet normalisation. Every random draw
comes from the `torch.Generator` passed in, so a sample is a pure function of its inputs and
the generator's seed.

Only the pixels inside the crop are computed: the crop window is drawn in the coordinates of
the scaled (and padded) image and the image is resampled there directly, which is the same
as scaling the whole image and cutting the window out. The arithmetic is numpy (single
threaded, no fused multiply-adds), so the output is bit-identical whatever the number of
torch threads or DataLoader workers; torch's own bilinear kernel is not (its vectorised
paths change with the thread split).

Label maps may be region maps (int64, fill -1) or class maps (fill 255); each comes with its
own fill value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_MEAN_255 = np.array(IMAGENET_MEAN, dtype=np.float32) * 255.0
_STD_255 = np.array(IMAGENET_STD, dtype=np.float32) * 255.0


def _normalize_hwc(image: np.ndarray) -> np.ndarray:
    """(h, w, 3) uint8 or float RGB in 0..255 -> float32 (x - mean) / std."""
    normalised = image.astype(np.float32)  # a copy: the caller's array stays as it is
    normalised -= _MEAN_255
    normalised /= _STD_255
    return normalised


def normalize_image(image: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 RGB -> (3, H, W) float32, ImageNet mean/std normalised."""
    chw = _normalize_hwc(np.asarray(image)).transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(chw))


def nearest_indices(src: int, dst: int) -> np.ndarray:
    """Source index of each of `dst` output positions, pixel centres aligned.

    `floor((i + 0.5) * src / dst)` is the nearest neighbour of output pixel i under the
    centre-aligned geometry of bilinear resizing with `align_corners=False`, so labels stay
    registered with the image.
    """
    idx = np.floor((np.arange(dst, dtype=np.float64) + 0.5) * (src / dst)).astype(np.int64)
    return np.clip(idx, 0, src - 1)


def bilinear_taps(src: int, dst: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i0, i1, w) per output position: value = (1 - w)·x[i0] + w·x[i1].

    The geometry of `torch.nn.functional.interpolate(mode="bilinear", align_corners=False)`:
    source coordinate (i + 0.5)·src/dst − 0.5, clamped at 0, neighbours clamped to the edge.
    """
    coord = (np.arange(dst, dtype=np.float64) + 0.5) * (src / dst) - 0.5
    coord = np.maximum(coord, 0.0)
    i0 = np.minimum(np.floor(coord).astype(np.int64), src - 1)
    i1 = np.minimum(i0 + 1, src - 1)
    return i0, i1, (coord - i0).astype(np.float32)


def _bilinear_window(image: np.ndarray, scaled: tuple[int, int], rows: np.ndarray,
                     cols: np.ndarray) -> np.ndarray:
    """Rows `rows` and columns `cols` of `image` (h, w, 3) bilinearly resized to `scaled`,
    as float32. Only the source window the taps reach is converted and read, so the cost
    follows the crop, not the image."""
    r0, r1, wr = (a[rows] for a in bilinear_taps(image.shape[0], scaled[0]))
    c0, c1, wc = (a[cols] for a in bilinear_taps(image.shape[1], scaled[1]))
    top, left = int(r0.min()), int(c0.min())
    source = image[top:int(r1.max()) + 1, left:int(c1.max()) + 1].astype(np.float32)
    r0, r1, c0, c1 = r0 - top, r1 - top, c0 - left, c1 - left
    wr = wr[:, None, None]
    tmp = source[r0] * (1.0 - wr) + source[r1] * wr  # (len(rows), window width, 3)
    wc = wc[None, :, None]
    return tmp[:, c0] * (1.0 - wc) + tmp[:, c1] * wc


@dataclass(frozen=True)
class TrainAugment:
    """Random scale, pad, crop and flip of an image with its label maps.

    `crop_size` (h, w); `scale_range` (s0, s1) draws s uniformly; `flip` enables horizontal
    flips with probability 1/2. Call with an (H, W, 3) uint8 RGB image, a list of
    (label (H, W) integer array, fill) pairs and a generator; returns
    (image (3, h, w) float32 normalised, [labels (h, w) int64]) as tensors of `crop_size`.
    """

    crop_size: tuple[int, int]
    scale_range: tuple[float, float] = (0.5, 2.0)
    flip: bool = True

    def __post_init__(self):
        s0, s1 = self.scale_range
        if not 0 < s0 <= s1:
            raise ValueError(f"scale_range must satisfy 0 < s0 <= s1, got {self.scale_range}")
        if min(self.crop_size) <= 0:
            raise ValueError(f"crop_size must be positive, got {self.crop_size}")

    def __call__(self, image: np.ndarray, labels: list[tuple[np.ndarray, int]],
                 generator: torch.Generator) -> tuple[torch.Tensor, list[torch.Tensor]]:
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"image must be (H, W, 3), got {image.shape}")
        height, width = image.shape[:2]
        labels = [(np.asarray(label), fill) for label, fill in labels]
        for label, _ in labels:
            if label.shape != (height, width):
                raise ValueError(f"label map {label.shape} does not match image "
                                 f"{(height, width)}")
        # All draws up front, in a fixed order, so the stream does not depend on image size.
        draws = torch.rand(4, generator=generator, dtype=torch.float64).tolist()
        s0, s1 = self.scale_range
        scale = s0 + (s1 - s0) * draws[0]
        scaled = (max(1, round(height * scale)), max(1, round(width * scale)))
        crop_h, crop_w = self.crop_size
        top = int(draws[1] * (max(scaled[0], crop_h) - crop_h + 1))
        left = int(draws[2] * (max(scaled[1], crop_w) - crop_w + 1))
        # Window rows/cols inside the scaled image; the rest of the window is padding.
        rows = np.arange(top, min(top + crop_h, scaled[0]))
        cols = np.arange(left, min(left + crop_w, scaled[1]))

        out_image = np.zeros((crop_h, crop_w, 3), dtype=np.float32)  # 0 = mean colour
        window = _bilinear_window(image, scaled, rows, cols)
        out_image[:len(rows), :len(cols)] = _normalize_hwc(window)
        src_rows = nearest_indices(height, scaled[0])[rows]
        src_cols = nearest_indices(width, scaled[1])[cols]
        out_labels = []
        for label, fill in labels:
            out = np.full((crop_h, crop_w), fill, dtype=np.int64)
            out[:len(rows), :len(cols)] = label[src_rows[:, None], src_cols[None, :]]
            out_labels.append(out)
        if self.flip and draws[3] < 0.5:
            out_image = out_image[:, ::-1]
            out_labels = [label[:, ::-1] for label in out_labels]
        chw = np.ascontiguousarray(out_image.transpose(2, 0, 1))
        return (torch.from_numpy(chw),
                [torch.from_numpy(np.ascontiguousarray(label)) for label in out_labels])
