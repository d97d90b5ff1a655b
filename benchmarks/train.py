"""Training-loop throughput: the whole loop against its optimisation step alone, one run.

Measures, on a real dataset and the default model:
1. the step alone: forward + loss + backward + AdamW on one fixed, already collated batch;
2. the loop: `actseg.train.train` end to end (reading, augmenting and collating every
   batch, logging, checkpoints), with the same objective and settings;
and prints images/s of both, the loop's share of the step's rate (target >= 90 %), and the
CPU load of the loop (process CPU time / wall time; 200 % = both cores busy).

With `--regions` and `--oracle` the objective is the stage-1 loss on a random labelling of
`--labelled` of the regions (the multi-class oracle's answers); without them it is the
fully supervised pixel CE.

    python -m actseg synth --out /tmp/city --n-train 300 --n-val 100 --height 256 --width 512
    python -m actseg regions --dataset synthetic --root /tmp/city --method slic --size 8 \
        --compactness 20 --out /tmp/r8/regions.h5
    python -m actseg oracle --dataset synthetic --root /tmp/city --regions /tmp/r8/regions.h5 \
        --trim-width 0.75 --out /tmp/r8/oracle.h5
    python benchmarks/train.py --root /tmp/city --regions /tmp/r8/regions.h5 \
        --oracle /tmp/r8/oracle.h5 --threads 2
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import default_collate

from actseg.datasets import open_dataset
from actseg.inference import resolve_switch
from actseg.model import build_model
from actseg.stores import LabelState, RegionsStore, read_oracle
from actseg.train import (InfiniteBatchSampler, PartialLabelObjective, PixelLabelObjective,
                          TrainSettings, _step, build_optimizer, train)
from actseg.trainsets import FullySupervisedDataset, Stage1Dataset
from actseg.transforms import TrainAugment


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", required=True, help="dataset root (synthetic city)")
    p.add_argument("--dataset", default="synthetic")
    p.add_argument("--regions", help="regions.h5 (stage-1 objective)")
    p.add_argument("--oracle", help="oracle.h5 (stage-1 objective)")
    p.add_argument("--labelled", type=float, default=0.05, help="share of regions labelled")
    p.add_argument("--backbone", default="small")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--crop-size", type=int, nargs=2, default=(192, 192))
    p.add_argument("--scale-range", type=float, nargs=2, default=(0.5, 2.0))
    p.add_argument("--iterations", type=int, default=60)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--num-workers", type=int, default=0,
                   help="DataLoader worker processes of the loop (train.num_workers)")
    return p.parse_args()


def make_trainset(args, dataset, augment):
    if not (args.regions and args.oracle):
        return FullySupervisedDataset(dataset, augment), PixelLabelObjective()
    oracle = read_oracle(args.oracle)
    rng = np.random.default_rng(0)
    labelled = (rng.random(oracle.area.shape) < args.labelled) & (oracle.area > 0)
    state = LabelState(labelled.astype(np.int8), np.zeros(labelled.shape, np.float32), 1,
                       "multiclass", "random", [0], [int(labelled.sum())])
    trainset = Stage1Dataset(dataset, RegionsStore(args.regions), oracle, state, "multiclass",
                             augment)
    return trainset, PartialLabelObjective()


def settings_for(args) -> TrainSettings:
    return TrainSettings(iterations=args.iterations, batch_size=args.batch_size, lr=2e-3,
                         checkpoint_every=100, log_every=10, device=args.device,
                         num_workers=args.num_workers)


def precision(args) -> tuple[bool, bool]:
    """(bf16 autocast, channels_last) as the loop resolves them (`train.amp` = auto)."""
    settings, device = settings_for(args), torch.device(args.device)
    return (resolve_switch(settings.amp, device, cpu_auto=True),
            resolve_switch(settings.channels_last, device, cpu_auto=True))


def step_rate(trainset, objective, num_classes: int, args) -> float:
    """Images/s of the optimisation step alone on one collated batch (after 3 warm-ups)."""
    torch.manual_seed(0)
    device = torch.device(args.device)
    use_amp, use_cl = precision(args)
    model = build_model(args.backbone, num_classes).to(args.device).train()
    if use_cl:
        model.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(model, settings_for(args))
    keys = next(iter(InfiniteBatchSampler(len(trainset), args.batch_size, seed=0)))
    image, *targets = default_collate([trainset[key] for key in keys])
    steps = max(5, args.iterations // 2)
    for i in range(steps + 3):
        if i == 3:
            start = time.perf_counter()
        _step(model, optimizer, objective, image, targets, device, use_amp, use_cl, i + 1)
    return steps * args.batch_size / (time.perf_counter() - start)


def loop_rate(trainset, objective, num_classes: int, args) -> tuple[float, float]:
    """(images/s, CPU load) of `actseg.train.train` over `args.iterations` iterations; the
    load counts the DataLoader workers' CPU time too (they are this process's children)."""
    torch.manual_seed(0)
    model = build_model(args.backbone, num_classes)
    with tempfile.TemporaryDirectory() as tmp:
        wall, cpu = time.perf_counter(), _cpu_seconds()
        train(model, trainset, objective, settings_for(args), Path(tmp) / "m.pt",
              Path(tmp) / "log.csv", {}, progress=False)
        wall, cpu = time.perf_counter() - wall, _cpu_seconds() - cpu
    return args.iterations * args.batch_size / wall, cpu / wall


def _cpu_seconds() -> float:
    """CPU time of this process and of its finished children (DataLoader workers)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    dataset = open_dataset(args.dataset, args.root, "train")
    augment = TrainAugment(tuple(args.crop_size), tuple(args.scale_range))
    trainset, objective = make_trainset(args, dataset, augment)
    step = step_rate(trainset, objective, dataset.num_classes, args)
    loop, load = loop_rate(trainset, objective, dataset.num_classes, args)
    h, w = dataset.image_size(0)
    print(f"dataset {args.root}: {len(dataset)} images {h}x{w}; objective {objective.name}; "
          f"crop {tuple(args.crop_size)}, batch {args.batch_size}, {args.threads} threads, "
          f"{args.num_workers} loader workers, "
          f"{args.device}; bf16 autocast / channels_last: {precision(args)}")
    print(f"step alone    : {step:8.1f} images/s")
    print(f"training loop : {loop:8.1f} images/s  ({args.iterations} iterations, "
          f"CPU load {100 * load:.0f} %)")
    print(f"loop / step   : {100 * loop / step:.1f} %")


if __name__ == "__main__":
    main()
