"""Seconds per full-size image for every stage, and a projection of the paper's 5-round run.

    python benchmarks/fullres.py [--images 1] [--backbone resnet50] [--device cpu|cuda]
        [--threads 1] [--iterations 80000] [--skip-train]

Generates `--images` Cityscapes-sized images (1024x2048, benchmarks/regions.py's smooth
colour fields, random train ids as ground truth) and times, per image: regions (SLIC and
SEEDS, size 32), the oracle, select (forward + PixBal scores), pseudo labels (forward with
features + banded prototype labels, 30 labelled regions) and evaluate (forward + confusion);
then one training step (768x768, batch 4, CE, AdamW) of the model. The model is randomly
initialised (times do not depend on the weights). Times are process CPU seconds on CPU
(with one thread, the uncontended wall time on a shared machine), wall seconds on CUDA.
Memory is the process's peak RSS (CPU) or
`torch.cuda.max_memory_allocated` (CUDA) at the end.

The projection multiplies the rates by the paper's Cityscapes workload (docs/method.md §10):
regions and oracle once over 2975 train images; per round, stage-1 and stage-2 training
(`--iterations` steps each), pseudo labels over the 2975 train images, evaluation of both
stages on 500 val images, and selection over the 2975-image pool (rounds 1-4; round 1's
labels are random). Five rounds.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch

from actseg.acquire import score_pool
from actseg.evaluate import confusion_matrix
from actseg.model import build_model
from actseg.oracle import label_regions
from actseg.pseudo import localize_and_expand
from actseg.regions import make_regions, region_adjacency
from actseg.stores import multihot_to_bool
from actseg.transforms import normalize_image
from actseg.upsampled import BandBuffer, Upsampled
from regions import synthetic_image  # benchmarks/regions.py

HEIGHT, WIDTH, CLASSES, TRAIN, VAL, ROUNDS = 1024, 2048, 19, 2975, 500, 5


CLOCK = time.process_time  # on CPU: one thread's seconds, robust to other load


def timed(fn, *args, **kwargs):
    start = CLOCK()
    result = fn(*args, **kwargs)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return result, CLOCK() - start


def forward(model, image, device, features=False):
    x = normalize_image(image)[None].to(device)
    with torch.no_grad(), torch.autocast(device.type, torch.bfloat16,
                                         enabled=device.type == "cuda"):
        out = model(x, return_features=features)
    return (out[0].float(), out[1].float()) if features else out.float()


def stage_times(args, model, device) -> dict[str, float]:
    """Mean seconds per image of each per-image stage."""
    rng = np.random.default_rng(0)
    totals: dict[str, float] = {}
    for n in range(args.images):
        image = synthetic_image(HEIGHT, WIDTH, seed=n)
        gt = rng.integers(0, CLASSES, (HEIGHT // 64, WIDTH // 64)).repeat(64, 0).repeat(64, 1)
        regions, seconds = {}, {}
        for method in ("slic", "seeds"):
            regions[method], seconds[f"regions {method}"] = timed(make_regions, method, image, 32)
        region_map = regions["seeds"]
        labels, seconds["oracle"] = timed(label_regions, gt, region_map, CLASSES)
        num_regions = int(region_map.max()) + 1
        maps = torch.from_numpy(region_map).to(device)

        def select():
            return score_pool("pixbal", forward(model, image, device), maps[None], num_regions)

        def pseudo():
            logits, low = forward(model, image, device, features=True)
            bits = np.zeros(num_regions, dtype=np.uint32)
            chosen = rng.choice(num_regions, 30, replace=False)
            bits[chosen] = labels.multihot[chosen]
            multihot = torch.from_numpy(multihot_to_bool(bits, CLASSES + 1))
            up = Upsampled(low[0], (HEIGHT, WIDTH), buffer=BandBuffer())
            return localize_and_expand(up, torch.softmax(logits[0], 0), maps,
                                       multihot.to(device),
                                       torch.from_numpy(region_adjacency(region_map)).to(device))

        def evaluate():
            return confusion_matrix(forward(model, image, device),
                                    torch.from_numpy(gt)[None].to(device), CLASSES)

        for name, fn in (("select", select), ("pseudo", pseudo), ("evaluate", evaluate)):
            seconds[name] = timed(fn)[1]
        for name, s in seconds.items():
            totals[name] = totals.get(name, 0.0) + s / args.images
    return totals


def train_step_seconds(model, device, steps: int = 1) -> float:
    """Seconds of one training step (768x768, batch 4, CE), best of `steps` after one."""
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randn(4, 3, 768, 768, device=device)
    y = torch.randint(0, CLASSES, (4, 768, 768), device=device)
    best = float("inf")
    for i in range(steps + 1):
        def step():
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast(device.type, torch.bfloat16, enabled=device.type == "cuda"):
                loss = torch.nn.functional.cross_entropy(model(x).float(), y)
            loss.backward()
            optimizer.step()
        seconds = timed(step)[1]
        best = seconds if i and seconds < best else best
    model.eval()
    return best


def projection(rates: dict[str, float], iterations: int) -> list[tuple[str, float, float]]:
    """(stage, count, hours) of the paper's 5-round run."""
    work = [("regions seeds", TRAIN), ("oracle", TRAIN),
            ("select", TRAIN * (ROUNDS - 1)), ("pseudo", TRAIN * ROUNDS),
            ("evaluate", VAL * 2 * ROUNDS)]
    if "train step" in rates:
        work.append(("train step", iterations * 2 * ROUNDS))
    return [(name, count, rates[name] * count / 3600) for name, count in work]


def peak_gib(device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1)
    parser.add_argument("--backbone", default="resnet50")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--iterations", type=int, default=80000, help="per stage and round")
    parser.add_argument("--skip-train", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda":
        global CLOCK
        CLOCK = time.perf_counter
    model = build_model(args.backbone, num_classes=CLASSES).to(device).eval()
    rates = stage_times(args, model, device)
    if not args.skip_train:
        rates["train step"] = train_step_seconds(model, device)
    print(f"{HEIGHT}x{WIDTH}, {args.images} image(s), {args.backbone}, device {device}, "
          f"{args.threads} thread(s), torch {torch.__version__}; peak memory "
          f"{peak_gib(device):.2f} GiB")
    clock = "wall" if device.type == "cuda" else "CPU"
    print(f"| stage | {clock} s/image (train: s/step) |")
    print("|---|---|")
    for name, seconds in rates.items():
        print(f"| {name} | {seconds:.2f} |")
    rows = projection(rates, args.iterations)
    print(f"\nprojection, paper run (5 rounds, {TRAIN} train / {VAL} val images, "
          f"{args.iterations} iterations per stage):")
    print("| stage | count | hours |")
    print("|---|---|---|")
    for name, count, hours in rows:
        print(f"| {name} | {count} | {hours:.1f} |")
    print(f"| total | | {sum(h for _, _, h in rows):.1f} |")


if __name__ == "__main__":
    main()
