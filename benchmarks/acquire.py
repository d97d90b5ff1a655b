"""Streaming pool scorer vs a per-region Python loop on one Cityscapes-sized image.

    python benchmarks/acquire.py [--method pixbal] [--device cpu] [--threads 1]

Scores 1024x2048 logits with 20 channels (19 classes + undefined) and 2048 regions (a 32x32
grid, region ids shuffled) both ways, asserts the scores agree, and prints the wall-clock
ratio (target >= 20x) and the peak memory of the streaming pass. Both sides start from the
same logits; the loop computes the per-pixel softmax and top-2 vectorised (as the reference
implementation does) and then loops over the regions.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch

from actseg.acquire import PoolScorer

HEIGHT, WIDTH, CHANNELS, GRID = 1024, 2048, 20, 32


def make_inputs(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, int]:
    gen = torch.Generator().manual_seed(seed)
    logits = torch.empty(1, CHANNELS, HEIGHT, WIDTH).uniform_(-1, 1, generator=gen)  # cosine
    logits[:, CHANNELS - 1, : HEIGHT // 8] += 1.0  # a band the model calls undefined (banned)
    rows = torch.arange(HEIGHT) // GRID
    cols = torch.arange(WIDTH) // GRID
    grid = rows[:, None] * (WIDTH // GRID) + cols[None, :]
    num_regions = int(grid.max()) + 1
    shuffle = torch.randperm(num_regions, generator=gen)
    return logits, shuffle[grid][None], num_regions


def loop_scores(method: str, logits: torch.Tensor, regions: torch.Tensor, num_regions: int,
                tau: float, kappa: float) -> np.ndarray:
    """One region at a time, straight from docs/method.md §7 (float64 per region).

    Per-pixel quantities the plain way (softmax, topk), as the reference implementation does.
    """
    q = torch.softmax(logits / tau, dim=1)
    top = torch.topk(q, 2, dim=1)
    u, top1 = top.values[:, 1] / top.values[:, 0], top.indices[:, 0]
    pbar = q.double().mean(dim=(0, 2, 3)).numpy()
    nu = (1.0 + kappa * pbar) ** -2
    u, top1, regions = u[0].numpy(), top1[0].numpy(), regions[0].numpy()
    scores = np.full(num_regions, -np.inf)
    majority = np.zeros(num_regions, dtype=np.int64)
    for r in range(num_regions):
        mask = regions == r
        if not mask.any():
            continue
        u_r, c_r = u[mask].astype(np.float64), top1[mask]
        majority[r] = np.bincount(c_r, minlength=CHANNELS).argmax()
        scores[r] = (nu[c_r] * u_r).mean() if method == "pixbal" else u_r.mean()
    present = np.isfinite(scores)
    if method == "classbal":
        pi = np.bincount(majority[present], minlength=CHANNELS) / present.sum()
        scores[present] *= np.exp(-pi[majority[present]])
    scores[present & (majority == CHANNELS - 1)] = 0.0
    return scores[None]


def stream_scores(method, logits, regions, num_regions, tau, kappa) -> np.ndarray:
    """The scorer on inputs already on the model's device, as `predict` hands them over."""
    scorer = PoolScorer(method, 1, num_regions, CHANNELS, tau=tau, kappa=kappa)
    scorer.update([0], logits, regions)
    return scorer.finalize()


def timed(repeat: int, fn, *args):
    """(result, best wall-clock time of `repeat` runs): the minimum filters out the noise of
    a shared machine."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn(*args)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return out, best


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="pixbal", choices=["bvsb", "classbal", "pixbal"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tau", type=float, default=0.1)
    parser.add_argument("--kappa", type=float, default=6.0)
    parser.add_argument("--repeat", type=int, default=5, help="runs per side; the best counts")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    logits, regions, num_regions = make_inputs()
    rss_inputs = peak_rss_mib()
    on_device = (args.method, logits.to(device), regions.to(device), num_regions, args.tau,
                 args.kappa)
    if device.type == "cuda":  # warm-up: CUDA context and kernels
        stream_scores(*on_device)
        torch.cuda.reset_peak_memory_stats()
    fast, t_fast = timed(args.repeat, stream_scores, *on_device)
    rss_stream = peak_rss_mib()
    slow, t_slow = timed(args.repeat, loop_scores, args.method, logits, regions, num_regions,
                         args.tau, args.kappa)
    assert np.array_equal(np.isinf(fast), np.isinf(slow)), "absent regions differ"
    np.testing.assert_allclose(fast, slow, rtol=1e-5, atol=1e-9)
    banned = int((fast == 0).sum())
    print(f"{args.method}: {HEIGHT}x{WIDTH} logits, {CHANNELS} channels, {num_regions} regions "
          f"({banned} banned), device {device}, {args.threads} CPU thread(s)")
    print(f"best of {args.repeat}: streaming scorer {t_fast:.3f} s, per-region loop "
          f"{t_slow:.3f} s, "
          f"ratio {t_slow / t_fast:.1f}x (target >= 20x)")
    print(f"peak RSS: {rss_inputs:.0f} MiB once the inputs exist (torch itself + "
          f"{logits.numel() * 4 / 2**20:.0f} MiB of logits), {rss_stream:.0f} MiB after the "
          f"streaming runs: +{rss_stream - rss_inputs:.0f} MiB for the scorer")
    if device.type == "cuda":
        print(f"peak CUDA memory of the streaming pass: "
              f"{torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")
    print("scores agree (allclose rtol 1e-5)")


if __name__ == "__main__":
    main()
