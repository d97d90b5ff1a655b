"""`actseg train`: stage 1 (partial labels), stage 2 (pseudo labels) or the fully supervised
bound (`--stage 0`, pixel ground truth) -> checkpoint + training log CSV."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from actseg.cli import CommandError
from actseg.commands.options import (add_settings_arguments, add_threads_argument,
                                     resolve_settings, set_threads)

log = logging.getLogger(__name__)

STAGES = {0: "fully supervised (pixel ground truth)", 1: "partial labels",
          2: "pseudo labels"}
# Input files, each part of the run key by content (a resume file from other labels,
# regions, pseudo labels or weights is stale even where the paths are the same).
INPUTS = ("regions", "oracle", "labels", "init_classifier", "pseudo", "pretrained")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("data")
    g.add_argument("--stage", type=int, required=True, choices=sorted(STAGES),
                   help="1 = partial labels, 2 = pseudo labels, 0 = fully supervised bound "
                        "(trained with stage 2's settings)")
    g.add_argument("--round", type=int, default=None, help="round (recorded in the checkpoint)")
    g.add_argument("--out", required=True, help="checkpoint to write (.pt)")
    g.add_argument("--log-csv", required=True, help="training log CSV to write")

    g = parser.add_argument_group("stage 1")
    g.add_argument("--regions", help="regions.h5")
    g.add_argument("--oracle", help="oracle.h5")
    g.add_argument("--labels", help="round{T}/labels.h5")
    g.add_argument("--init-classifier", metavar="CKPT",
                   help="keep_classifier: copy the cosine classifier of round T-1's stage-1 "
                        "checkpoint into the fresh model")

    g = parser.add_argument_group("stage 2")
    g.add_argument("--pseudo", help="round{T}/pseudo.h5")

    add_settings_arguments(parser, "train_stage1", "train_stage2")
    add_threads_argument(parser)


def _require(args, names: list[str]) -> None:
    missing = [f"--{n.replace('_', '-')}" for n in names if getattr(args, n) is None]
    if missing:
        raise CommandError(f"--stage {args.stage} needs {' '.join(missing)}")


def _check_numbers(args) -> None:
    for name in ("iterations", "batch_size", "checkpoint_every", "log_every"):
        if getattr(args, name) < 1:
            raise CommandError(f"--{name.replace('_', '-')} must be >= 1")
    if args.lr <= 0 or args.tau <= 0:
        raise CommandError("--lr and --tau must be positive")
    if min(args.crop_size) < 1:
        raise CommandError(f"--crop-size must be positive, got {args.crop_size}")
    if not 0 < args.scale_range[0] <= args.scale_range[1]:
        raise CommandError(f"--scale-range must satisfy 0 < S0 <= S1, got {args.scale_range}")


def input_identity(args) -> dict:
    """{input: {"path", "content"}} of every input file given (content: its digest)."""
    from actseg.fileio import file_digest

    identity = {}
    for name in INPUTS:
        path = getattr(args, name, None)
        if path and Path(path).is_file():
            identity[name] = {"path": str(path), "content": file_digest(path)}
        elif path:
            identity[name] = {"path": str(path), "content": None}  # named by its reader
    return identity


def build_trainset(args, dataset, augment):
    """The torch dataset and objective of `args.stage`."""
    from actseg.stores import PseudoStore, RegionsStore, read_labels, read_oracle
    from actseg.train import PartialLabelObjective, PixelLabelObjective
    from actseg.trainsets import FullySupervisedDataset, Stage1Dataset, Stage2Dataset

    if args.stage == 1:
        _require(args, ["regions", "oracle", "labels"])
        labels = read_labels(args.labels)
        if labels.labelling != args.labelling:
            raise CommandError(f"{args.labels}: regions were bought as {labels.labelling!r} "
                               f"queries, but --labelling is {args.labelling!r}")
        from actseg.commands.round_inputs import (check_oracle_classes, dominant_rule,
                                                  with_histograms)

        regions, oracle = RegionsStore(args.regions), read_oracle(args.oracle)
        check_oracle_classes(args, dataset, oracle)
        dominant = dominant_rule(args)
        oracle = with_histograms(args, oracle, dataset, regions, args.labelling, dominant)
        trainset = Stage1Dataset(dataset, regions, oracle, labels, args.labelling, augment,
                                 dominant)
        objective = PartialLabelObjective(args.loss, args.lambda_ce, args.lambda_mp,
                                          args.lambda_pp, args.tau)
        return trainset, objective
    if args.stage == 2:
        _require(args, ["pseudo"])
        return Stage2Dataset(dataset, PseudoStore(args.pseudo), augment), \
            PixelLabelObjective(args.tau)
    return FullySupervisedDataset(dataset, augment), PixelLabelObjective(args.tau)


def checkpoint_validation(args, dataset, trainset, device):
    """(trainset, validation) for `train.checkpoint` (actseg.selection): best_heldout holds
    its images out of the trainset and scores them; best_val scores the validation split."""
    from actseg.datasets import open_dataset
    from actseg.evaluate import evaluate_model
    from actseg.selection import heldout_images
    from actseg.trainsets import without_images

    choice = args.checkpoint or "final"
    if choice == "final":
        return trainset, None
    if choice == "best_heldout":
        if not dataset.has_labels:
            raise ValueError(f"train.checkpoint best_heldout scores train images against "
                             f"their ground truth, and the train split of {args.root} has "
                             "none; use final or best_val")
        images = heldout_images(len(dataset), args.heldout_images)
        trainset, scored = without_images(trainset, images), dataset
    else:
        images, scored = None, open_dataset(args.dataset, args.root, "val")
    batch = args.validate_batch_size or 8

    def score(model) -> float:
        return evaluate_model(model, scored, images, batch_size=batch, device=device,
                              amp=False, progress=False).miou

    return trainset, (score, args.validate_every)


def stage_lr(args) -> float:
    """The backbone lr: stage 1 with dominant labels runs at lr x dominant_lr_mult (the
    authors' Dom ran at twice Mul's lr); the job's settings keep both factors."""
    return args.lr * (getattr(args, "dominant_lr_mult", None) or 1.0)


def run(args: argparse.Namespace) -> None:
    import torch

    from actseg.datasets import DatasetError, open_dataset
    from actseg.experiments.jobs import JOBS, split_run, train_job
    from actseg.inference import resolve_device
    from actseg.model import PretrainedWeightsError, build_model
    from actseg.stores import StoreError
    from actseg.train import NonFiniteLossError, TrainSettings, copy_classifier, train
    from actseg.transforms import TrainAugment

    job = train_job(args.stage)
    results, _ = split_run(JOBS[job], resolve_settings(args, job))
    _check_numbers(args)
    set_threads(args)
    settings = TrainSettings(
        iterations=args.iterations, batch_size=args.batch_size, lr=stage_lr(args),
        head_lr_mult=args.head_lr_mult, weight_decay=args.weight_decay,
        poly_power=args.poly_power, min_lr=args.min_lr, seed=args.seed,
        num_workers=args.num_workers, checkpoint_every=args.checkpoint_every,
        log_every=args.log_every, device=args.device, amp=args.amp,
        channels_last=args.channels_last)
    augment = TrainAugment(tuple(args.crop_size), tuple(args.scale_range))
    inputs = input_identity(args)
    try:
        # stages 1 and 2 train on region labels and pseudo labels: the train split may have
        # no ground truth (the human oracle's pool); stage 0 trains on it
        dataset = open_dataset(args.dataset, args.root, "train",
                               labels="required" if args.stage == 0 else "optional")
        trainset, objective = build_trainset(args, dataset, augment)
        trainset, validation = checkpoint_validation(args, dataset, trainset,
                                                     resolve_device(args.device))
        torch.manual_seed(args.seed)  # the fresh initialisation is a function of the seed
        model = build_model(args.backbone, dataset.num_classes, args.output_stride,
                            tuple(args.aspp_rates), args.pretrained, stem=args.stem,
                            pretrained_head=args.pretrained_head,
                            num_outputs=dataset.num_outputs)
        if args.init_classifier:
            copy_classifier(model, args.init_classifier)
        meta = {"backbone": args.backbone, "num_classes": dataset.num_classes,
                "num_outputs": dataset.num_outputs,
                "output_stride": args.output_stride, "aspp_rates": list(args.aspp_rates),
                "stem": args.stem, "tau": args.tau, "stage": args.stage, "round": args.round,
                "class_names": list(dataset.class_names), "settings": results,
                "inputs": {name: value["path"] for name, value in inputs.items()}}
        log.info("stage %d (%s): %d training images, %d iterations of batch %d",
                 args.stage, STAGES[args.stage], len(trainset), args.iterations,
                 args.batch_size)
        run_key = {**results, **inputs, "stage": args.stage, "round": args.round}
        train(model, trainset, objective, settings, args.out, args.log_csv, meta, run_key,
              validation=validation)
    except (DatasetError, StoreError, PretrainedWeightsError, NonFiniteLossError,
            ValueError) as err:
        raise CommandError(str(err)) from err
    log.info("wrote %s and %s", args.out, args.log_csv)
