"""Peak memory and s/image of stage-2 pseudo labels at 1024x2048, before/after banding.

Run through `python benchmarks/pseudo.py --memory`. Each (variant, batch, labelled) runs in
a fresh process (`python benchmarks/pseudo_memory.py CHILD ...`), so that its peak RSS
(`resource.getrusage`, which only grows) is its own; the memory reported is that peak minus
the RSS once the inputs exist (quarter-resolution features, probabilities, region map), on
CPU, or `torch.cuda.max_memory_allocated` above the inputs on CUDA.

The scene is benchmarks/pseudo.py's (blocky objects on a 32x32 grid of 2048 regions), with
features at a quarter of the resolution (D = 256, 256x512, L2-normalised), as the model
gives them, and `labelled` regions with 1-3 classes.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from actseg.inference import upsample_features
from actseg.pseudo import localize_and_expand
from actseg.regions import region_adjacency
from actseg.upsampled import BandBuffer, Upsampled

HEIGHT, WIDTH, GRID, DIM, CHANNELS, CELL, OBJECTS = 1024, 2048, 32, 256, 20, 16, 300
GiB = 2**30


def make_inputs(labelled: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    grid = (np.arange(HEIGHT)[:, None] // GRID) * (WIDTH // GRID) + np.arange(WIDTH) // GRID
    num_regions = int(grid.max()) + 1
    region_map = rng.permutation(num_regions)[grid]
    low_h, low_w = HEIGHT // 4, WIDTH // 4
    cells = np.stack(np.mgrid[:low_h // 4, :low_w // 4], -1).reshape(-1, 2)
    seeds = rng.integers(0, [low_h // 4, low_w // 4], (OBJECTS, 2))
    nearest = ((cells[:, None] - seeds[None]) ** 2).sum(-1).argmin(1)
    objects = nearest.reshape(low_h // 4, low_w // 4).repeat(4, 0).repeat(4, 1)
    base = torch.from_numpy(rng.standard_normal((OBJECTS, DIM)).astype(np.float32))
    low = base[torch.from_numpy(objects)].permute(2, 0, 1) + 0.5 * torch.randn(DIM, low_h, low_w)
    low = F.normalize(low, dim=0)
    object_class = rng.integers(0, CHANNELS, OBJECTS)
    full_objects = objects.repeat(4, 0).repeat(4, 1)
    probs = torch.rand(CHANNELS, HEIGHT, WIDTH)
    probs.scatter_(0, torch.from_numpy(object_class[full_objects])[None], 1.5)
    probs /= probs.sum(0, keepdim=True)
    multihot = np.zeros((num_regions, CHANNELS), dtype=bool)
    for r in rng.choice(num_regions, labelled, replace=False):
        present = np.unique(object_class[full_objects[region_map == r]])
        multihot[r, rng.permutation(present)[:3]] = True
    return (low, probs, torch.from_numpy(region_map), torch.from_numpy(multihot),
            torch.from_numpy(region_adjacency(region_map)))


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def peak_bytes(device) -> int:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def child(variant: str, batch: int, labelled: int, device: str, out: str) -> None:
    torch.set_num_threads(1)
    device = torch.device(device)
    low, probs, region_map, multihot, adjacency = (t.to(device) for t in make_inputs(labelled))
    lows = torch.stack([low] * batch)  # a batch of the model's features
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    else:
        base = rss_bytes()
    start, cpu = time.perf_counter(), time.process_time()
    buffer = BandBuffer()
    if variant == "before":
        features = upsample_features(lows, (HEIGHT, WIDTH)).contiguous()  # as predict did
        maps = [localize_and_expand(features[j], probs, region_map, multihot, adjacency)
                for j in range(batch)]
    else:
        maps = [localize_and_expand(Upsampled(lows[j], (HEIGHT, WIDTH), buffer=buffer), probs,
                                    region_map, multihot, adjacency) for j in range(batch)]
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / batch
    cpu = (time.process_time() - cpu) / batch
    np.save(out, maps[-1].cpu().numpy())
    print(f"{seconds:.3f} {cpu:.3f} {(peak_bytes(device) - base) / GiB:.3f}")


def run_child(variant, batch, labelled, device, out) -> list[float]:
    done = subprocess.run([sys.executable, __file__, "CHILD", variant, str(batch),
                           str(labelled), device, out], check=True, capture_output=True,
                          text=True)
    return [float(v) for v in done.stdout.split()[-3:]]


def compare(args) -> None:
    print(f"image {HEIGHT}x{WIDTH}, features D={DIM} at {HEIGHT // 4}x{WIDTH // 4}, "
          f"device={args.device}, 1 thread; memory = peak above the inputs")
    print("| labelled regions | batch | before s/image (CPU s) | before peak GiB "
          "| after s/image (CPU s) | after peak GiB | pixels differing |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for labelled in args.labelled:
            for batch in args.batch:
                row = []
                for variant in ("before", "after"):
                    out = str(Path(tmp) / f"{variant}.npy")
                    row += run_child(variant, batch, labelled, args.device, out)
                before, after = (np.load(Path(tmp) / f"{v}.npy") for v in ("before", "after"))
                differ = int((before != after).sum())
                assert differ <= 1e-4 * before.size, f"{differ} pixels differ"
                print(f"| {labelled} | {batch} | {row[0]:.2f} ({row[1]:.2f}) | {row[2]:.2f} "
                      f"| {row[3]:.2f} ({row[4]:.2f}) | {row[5]:.2f} | {differ} |")
    print("pixels differing: near-ties flipped by last-bit differences of the similarities "
          "(the band splits the matmul blocks differently; |diff| < 1e-6)")


if __name__ == "__main__" and sys.argv[1:2] == ["CHILD"]:
    child(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6])
