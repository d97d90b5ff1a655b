"""Vectorised prototype pseudo labels vs a straightforward per-region version, one big image;
with --memory, full-resolution feature memory before and after banding.

    python benchmarks/pseudo.py [--rule reference|clean] [--device cpu|cuda] [--threads 1]
    python benchmarks/pseudo.py --memory [--batch 1 2] [--labelled 60 600] [--device ...]

--memory (benchmarks/pseudo_memory.py) runs each variant in a fresh process and prints
s/image and the peak memory above the inputs: "before" upsamples a batch's quarter-resolution
features whole (`upsample_features`, as the pseudo stage did), "after" hands
`actseg.upsampled.Upsampled` to `localize_and_expand` (one band at a time, a buffer reused
across images). Both must give the same maps.

A 1024x2048 image cut into a 32x32 grid (2048 regions, ids shuffled), 60 labelled regions
with 1-3 of 20 classes, 256-d features. The per-region version is what the reference code
does (docs/method.md §6), one labelled region at a time in numpy: a full-image mask, features
gathered through it, then a 3x3 dilation of the mask, the ids under it, and a full-image
`isin` mask for the neighbour pixels. Both versions must give the same map; the script
asserts it and prints the wall-clock ratio (target >= 20x).

On one CPU thread both versions must read the ~0.5 GB of features of the labelled regions
and their neighbours; the vectorised one spends most of its time there (copying 64-byte
runs chunk by chunk), so its ratio is bounded by the machine's memory bandwidth.

Features are multiples of 1/64 in [-1/8, 1/8], so every inner product is exact in float32
whatever the summation order: the two versions can be compared bit for bit.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from scipy.ndimage import binary_dilation

from actseg.pseudo import IGNORE, localize_and_expand
from actseg.regions import region_adjacency

HEIGHT, WIDTH, GRID, DIM, CHANNELS, LABELLED = 1024, 2048, 32, 256, 20, 60
CELL, OBJECTS = 16, 300  # object cells of the synthetic scene


def make_inputs(seed: int = 0):
    """A synthetic scene: blocky Voronoi "objects" (16-px cells) with a class and a base
    feature each, so neighbouring regions of the same object resemble each other and
    expansion has something to find; a region's label set is its objects' classes."""
    rng = np.random.default_rng(seed)
    rows, cols = np.arange(HEIGHT) // GRID, np.arange(WIDTH) // GRID
    grid = rows[:, None] * (WIDTH // GRID) + cols[None, :]
    num_regions = int(grid.max()) + 1
    region_map = rng.permutation(num_regions)[grid]
    cells = np.stack(np.mgrid[:HEIGHT // CELL, :WIDTH // CELL], -1).reshape(-1, 2)
    seeds = rng.integers(0, [HEIGHT // CELL, WIDTH // CELL], (OBJECTS, 2))
    nearest = ((cells[:, None] - seeds[None]) ** 2).sum(-1).argmin(1)
    objects = nearest.reshape(HEIGHT // CELL, WIDTH // CELL).repeat(CELL, 0).repeat(CELL, 1)
    object_class = rng.integers(0, CHANNELS, OBJECTS)
    base = rng.integers(-6, 7, (OBJECTS, DIM), dtype=np.int8)
    features = np.empty((DIM, HEIGHT, WIDTH), dtype=np.float32)
    for d in range(DIM):  # channel by channel: keeps the int temporaries small
        noise = rng.integers(-2, 3, (HEIGHT, WIDTH), dtype=np.int8)
        features[d] = (base[objects, d] + noise) / np.float32(64)
    probs = rng.random((CHANNELS, HEIGHT, WIDTH), dtype=np.float32)
    np.put_along_axis(probs, object_class[objects][None], 1.5, axis=0)
    probs /= probs.sum(0, keepdims=True)
    multihot = np.zeros((num_regions, CHANNELS), dtype=bool)
    for r in rng.choice(num_regions, LABELLED, replace=False):
        present = np.unique(object_class[objects[region_map == r]])
        multihot[r, rng.permutation(present)[:3]] = True  # 1-3 classes
    return features, probs, region_map, multihot, region_adjacency(region_map)


def per_region(features, probs, region_map, multihot, rule="reference"):
    """One labelled region at a time, full-image masks, as the reference code does."""
    out = np.full(region_map.shape, IGNORE, dtype=np.uint8)
    labelled = np.flatnonzero(multihot.any(1))
    protos = {}
    for r in labelled:
        mask = region_map == r
        classes = np.flatnonzero(multihot[r])
        feats = features[:, mask]  # (D, n), raster order
        mu = feats[:, probs[:, mask][classes].argmax(1)].T  # first max = lowest pixel
        sims = mu @ feats
        chosen, sigma = sims.argmax(0), sims.max(0)
        out[mask] = classes[chosen]
        theta = np.array([np.sort(sigma[chosen == j])[((chosen == j).sum() - 1) // 2]
                          if (chosen == j).any() else 1.0 for j in range(len(classes))])
        protos[r] = (classes, mu, theta)
    grown = np.full(region_map.shape, IGNORE, dtype=np.uint8)
    best_sim = np.full(region_map.shape, -np.inf, dtype=np.float32)
    best_theta = np.zeros(region_map.shape, dtype=np.float64)
    for r in labelled:  # increasing id: later sources overwrite (reference)
        classes, mu, theta = protos[r]
        touched = np.unique(region_map[binary_dilation(region_map == r, np.ones((3, 3)))])
        targets = np.isin(region_map, touched[~multihot[touched].any(1)])
        sims = mu @ features[:, targets]
        top = sims.argmax(0)
        if rule == "reference":
            accept = (sims > theta[:, None]).any(0)
            grown[targets] = np.where(accept, classes[top], grown[targets])
        else:  # clean: keep the most similar prototype so far (ties: lower source id)
            top_sim = sims.max(0)
            better = top_sim > best_sim[targets]
            grown[targets] = np.where(better, classes[top], grown[targets])
            best_theta[targets] = np.where(better, theta[top], best_theta[targets])
            best_sim[targets] = np.where(better, top_sim, best_sim[targets])
    if rule == "clean":
        grown[~(best_sim > best_theta)] = IGNORE
    unlabelled = ~multihot.any(1)[region_map]
    out[unlabelled] = grown[unlabelled]
    return out


def timed(fn, repeats: int):
    best, result = np.inf, None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rule", default="reference", choices=("reference", "clean"))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3, help="best of N, vectorised")
    parser.add_argument("--slow-repeats", type=int, default=2, help="best of N, per-region")
    parser.add_argument("--memory", action="store_true", help="before/after banding")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--labelled", type=int, nargs="+", default=[LABELLED])
    args = parser.parse_args()
    if args.memory:
        from pseudo_memory import compare
        return compare(args)
    torch.set_num_threads(args.threads)
    features, probs, region_map, multihot, adjacency = make_inputs()
    device = torch.device(args.device)
    tensors = [torch.from_numpy(a).to(device) for a in (features, probs, region_map,
                                                         multihot, adjacency)]

    def vectorised():
        out = localize_and_expand(*tensors, rule=args.rule, expand=True)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return out.cpu().numpy()

    vectorised()  # warm-up (allocator, kernels)
    fast_s, fast = timed(vectorised, args.repeats)
    slow_s, slow = timed(lambda: per_region(features, probs, region_map, multihot, args.rule),
                         args.slow_repeats)
    np.testing.assert_array_equal(fast, slow)
    labelled = multihot.any(1)[region_map]
    print(f"image {HEIGHT}x{WIDTH}, {int(region_map.max()) + 1} regions, {LABELLED} labelled, "
          f"D={DIM}, rule={args.rule}, device={device}, threads={args.threads}")
    print(f"labelled pixels {int(labelled.sum())}, expanded pixels "
          f"{int(((fast != IGNORE) & ~labelled).sum())}; maps equal")
    print(f"per-region {slow_s:.3f} s (best of {args.slow_repeats}), vectorised {fast_s:.3f} s "
          f"(best of {args.repeats}), "
          f"ratio {slow_s / fast_s:.1f}x (target >= 20x)")


if __name__ == "__main__":
    main()
