"""`actseg pseudo`: stage-2 pseudo labels of round t -> round{t}/pseudo.h5 + quality CSV.

Runs round t's stage-1 model over every train image that has a labelled region (batched,
bf16 autocast on CUDA), turns its logits into `q = softmax(s)` at temperature 1 (the
reference quirk of docs/method.md §6: tau is NOT applied here), labels each image with
`actseg.pseudo` (prototype localisation + expansion, or a naive baseline), and writes the
maps through `stores.PseudoWriter` (atomic). The quality CSV compares the maps with the
ground truth of those images: one row with coverage, accuracy and per-class precision and
recall (definitions in `actseg.pseudo.quality_row`; ground-truth void is left out of the
accuracy/precision/recall denominators). With the human oracle (`oracle.source: human`), or
whenever the train split has no label files, no ground truth is read: the CSV keeps its one
row with `ground_truth` = "none", the pixel counts and coverage (which need none) and empty
accuracy, precision and recall, so the workflow's outputs are the same on both paths.
"""

from __future__ import annotations

import argparse
import logging

import numpy as np

from actseg import schema
from actseg.cli import CommandError
from actseg.commands.options import add_inference_arguments, resolve_settings, set_threads
from actseg.commands.round_inputs import (check_store_shapes, dominant_rule,
                                          load_round_model, open_train_split, with_histograms)
from actseg.pseudo import pseudo_label_image, quality_confusion, quality_row
from actseg.stores import (LabelState, PseudoWriter, RegionsStore, StoreError,
                           multihot_to_bool, read_labels, read_oracle)

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--round", type=int, required=True, help="round t (1-based)")
    parser.add_argument("--model", required=True, help="round{t}/stage1.pt")
    parser.add_argument("--regions", required=True, help="regions.h5 of the train split")
    parser.add_argument("--oracle", required=True, help="oracle.h5 of those regions")
    parser.add_argument("--labels", required=True, help="round{t}/labels.h5")
    parser.add_argument("--out", required=True, help="round{t}/pseudo.h5 to write")
    parser.add_argument("--quality-csv", required=True, help="round{t}/pseudo_quality.csv")
    add_inference_arguments(parser, "pseudo")


def run(args: argparse.Namespace) -> None:
    resolve_settings(args, "pseudo", args.round)
    if args.rule is None:  # not a setting without expansion; recorded as the default
        args.rule = schema.default("pseudo.rule")
    if args.round < 1:
        raise CommandError(f"--round must be >= 1, got {args.round}")
    if args.batch_size < 1:
        raise CommandError(f"--batch-size must be >= 1, got {args.batch_size}")
    set_threads(args)
    try:
        regions = RegionsStore(args.regions)
        oracle = read_oracle(args.oracle)
        labels = read_labels(args.labels)
    except StoreError as err:
        raise CommandError(str(err)) from err
    _check_labels(args, labels)
    check_store_shapes(args, regions, oracle, labels)
    dataset = open_train_split(args, regions, oracle)
    truth = dataset.has_labels and args.oracle_source != "human"
    if not truth:
        log.info("no train ground truth is read (%s): the quality CSV holds coverage only",
                 "the human oracle" if dataset.has_labels else "the train split has none")
    dominant = dominant_rule(args)
    oracle = with_histograms(args, oracle, dataset, regions, args.labelling, dominant)
    bits = np.where(labels.labelled, oracle.label_sets(args.labelling, dominant),
                    0).astype(np.uint32)
    image_index = np.flatnonzero((bits != 0).any(1))
    if len(image_index) == 0:
        log.warning("%s: no labelled region, writing an empty pseudo-label store", args.labels)
    confusion = _write_pseudo(args, dataset, regions, oracle.num_classes, bits, image_index,
                              truth, oracle.num_channels)
    _write_quality(args, confusion, dataset.class_names, len(image_index), truth)


def _check_labels(args, labels: LabelState) -> None:
    if labels.round != args.round:
        raise CommandError(f"{args.labels}: holds round {labels.round}, but --round is "
                           f"{args.round}")
    if labels.labelling != args.labelling:
        raise CommandError(f"{args.labels}: labelling is {labels.labelling!r}, but "
                           f"--labelling is {args.labelling!r}")


def _load_stage1(args, num_outputs: int):
    model, meta, device = load_round_model(args.model, args.device, num_outputs)
    if meta.get("stage") not in (None, 1):
        log.warning("%s: a stage-%s model; pseudo labels come from stage 1", args.model,
                    meta.get("stage"))
    return model, device


def _write_pseudo(args, dataset, regions: RegionsStore, num_classes: int, bits: np.ndarray,
                  image_index: np.ndarray, truth: bool, num_outputs: int) -> np.ndarray:
    """Label every image of `image_index` into `args.out`; returns the summed quality
    confusion counts (C+1, C+2), against all-void ground truth without `truth`.
    `num_outputs`: C + 1 with the undefined class, C without (VOC)."""
    import torch

    from actseg.inference import predict
    from actseg.upsampled import BandBuffer, Upsampled

    confusion = np.zeros((num_classes + 1, num_classes + 2), dtype=np.int64)
    attrs = {"round": args.round, "method": args.method, "expand": int(args.expand),
             "sources": args.sources or "all",
             "renormalize": int(bool(args.renormalize)),
             "rule": args.rule, "labelling": args.labelling, "model": str(args.model),
             "num_classes": num_classes, "temperature": 1.0}
    heights, widths = regions.heights[image_index], regions.widths[image_index]
    model, device = _load_stage1(args, num_outputs) if len(image_index) else (None, None)
    slot_of = {int(n): slot for slot, n in enumerate(image_index)}
    buffer = BandBuffer()  # one band of full-resolution features, reused by every image
    with PseudoWriter(args.out, image_index, heights, widths, attrs) as writer:
        if not len(image_index):
            return confusion
        batches = predict(model, dataset, image_index.tolist(), batch_size=args.batch_size,
                          device=device, amp=args.amp,
                          return_features=args.method == "prototype", desc="pseudo labels",
                          setting="pseudo.batch_size")
        for batch_indices, logits, features in batches:
            for j, n in enumerate(batch_indices):
                region_map = regions.region_map(n)
                if tuple(logits.shape[-2:]) != region_map.shape:
                    raise CommandError(f"{dataset.image_path(n)}: image size "
                                       f"{tuple(logits.shape[-2:])} differs from its region "
                                       f"map {region_map.shape} in {args.regions}")
                probs = torch.softmax(logits[j].float(), dim=0)  # temperature 1 (quirk)
                upsampled = (None if features is None
                             else Upsampled(features[j], region_map.shape, buffer=buffer,
                                            renormalize=bool(args.renormalize)))
                label_map = pseudo_label_image(
                    args.method, upsampled, probs,
                    torch.from_numpy(region_map).to(probs.device),
                    torch.from_numpy(multihot_to_bool(bits[n], num_outputs)).to(probs.device),
                    torch.from_numpy(regions.adjacency(n)).to(probs.device),
                    expand=args.expand, rule=args.rule,
                    sources=args.sources or "all").cpu().numpy()
                writer.add(slot_of[n], label_map)
                gt = (dataset.load_label(n) if truth
                      else np.full(label_map.shape, 255, dtype=np.uint8))
                confusion += quality_confusion(label_map, gt, num_classes)
    return confusion


WITHOUT_TRUTH = ("pixels", "labelled_pixels", "coverage")  # what needs no ground truth


def _write_quality(args, confusion: np.ndarray, class_names: list[str], images: int,
                   truth: bool) -> None:
    import pandas as pd

    from actseg.fileio import atomic_output

    row = {"round": args.round, "method": args.method,
           "expand": bool(args.expand and args.method == "prototype"),
           "rule": args.rule, "labelling": args.labelling, "images": images}
    quality = quality_row(confusion, list(class_names))
    if not truth:
        row["ground_truth"] = "none"
        quality = {k: (v if k in WITHOUT_TRUTH else np.nan) for k, v in quality.items()}
    row.update(quality)
    with atomic_output(args.quality_csv) as tmp:
        pd.DataFrame([row]).to_csv(tmp, index=False)
    log.info("%s: %d images, coverage %.3f, accuracy %.3f, mean precision %.3f, mean recall "
             "%.3f", args.out, images, row["coverage"], row["accuracy"],
             row["mean_precision"], row["mean_recall"])
