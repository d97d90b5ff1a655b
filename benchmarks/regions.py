"""Seconds per Cityscapes-sized image for each region method (plus adjacency and band).

    python benchmarks/regions.py [--height 1024 --width 2048 --size 32 --threads 1]

Measured in this run on one synthetic image (smooth colour fields with mild texture).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import ndimage

from actseg.regions import METHODS, boundary_band, make_regions, region_adjacency


def synthetic_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    smooth = ndimage.gaussian_filter(rng.random((height, width, 3)), (12, 12, 0))
    smooth = (smooth - smooth.min()) / np.ptp(smooth) * 200 + 20
    return np.clip(smooth + rng.normal(0, 4, smooth.shape), 0, 255).astype(np.uint8)


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--height", type=int, default=1024)
    parser.add_argument("--width", type=int, default=2048)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="OpenCV threads (SEEDS)")
    args = parser.parse_args()
    try:
        import cv2

        cv2.setNumThreads(args.threads)
    except ImportError:
        pass

    image = synthetic_image(args.height, args.width)
    requested = round(args.height * args.width / args.size**2)
    print(f"{args.height}x{args.width} image, size {args.size} -> {requested} regions requested")
    print(f"{'method':8s} {'regions':>8s} {'s/image':>8s} {'adjacency s':>12s} {'band s':>8s}")
    for method in METHODS:
        try:
            regions, seconds = timed(make_regions, method, image, args.size)
        except Exception as err:  # SEEDS without opencv-contrib: report and go on
            print(f"{method:8s} unavailable: {err}")
            continue
        _, adjacency_s = timed(region_adjacency, regions)
        _, band_s = timed(boundary_band, regions, 3.0)
        print(f"{method:8s} {regions.max() + 1:8d} {seconds:8.3f} {adjacency_s:12.3f} "
              f"{band_s:8.3f}")


if __name__ == "__main__":
    main()
