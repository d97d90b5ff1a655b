"""`actseg evaluate`: confusion-matrix mIoU of a checkpoint on a split -> learning-curve CSV.

Stage 1 writes a one-row CSV (round{t}/stage1_miou.csv). Stage 2 writes round{t}/miou.csv:
the rows of `--previous` (round t-1's miou.csv), the row of `--stage1-csv` and its own row,
sorted by (round, stage). Stage 0 (the fully supervised bound) writes one row; its clicks and
regions are empty unless `--labels` is given.
"""

from __future__ import annotations

import argparse
import logging

from actseg.cli import CommandError
from actseg.commands.options import add_inference_arguments, resolve_settings, set_threads
from actseg.commands.round_inputs import load_round_model, open_dataset_split

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="checkpoint (.pt)")
    parser.add_argument("--split", default="val")
    parser.add_argument("--round", type=int, required=True)
    parser.add_argument("--stage", type=int, required=True, choices=(0, 1, 2),
                        help="1 or 2; 0 = fully supervised bound")
    parser.add_argument("--labels", help="round{T}/labels.h5 (clicks and regions spent); "
                                         "required for stages 1 and 2")
    parser.add_argument("--previous", help="round{T-1}/miou.csv to extend (stage 2)")
    parser.add_argument("--stage1-csv", help="round{T}/stage1_miou.csv to include (stage 2)")
    parser.add_argument("--out", required=True, help="CSV to write")
    add_inference_arguments(parser, "evaluate")


def run(args: argparse.Namespace) -> None:
    from actseg.curves import read_curve, write_curve
    from actseg.datasets import DatasetError
    from actseg.evaluate import cumulative_cost, evaluate_model, result_row
    from actseg.inference import resolve_switch
    from actseg.stores import StoreError

    resolve_settings(args, "evaluate")
    if args.stage in (1, 2) and not args.labels:
        raise CommandError(f"--stage {args.stage} needs --labels")
    if args.stage != 2 and (args.previous or args.stage1_csv):
        raise CommandError("--previous and --stage1-csv only apply to --stage 2")
    if args.batch_size < 1:
        raise CommandError("--batch-size must be >= 1")
    set_threads(args)
    dataset = open_dataset_split(args.dataset, args.root, args.split)
    model, _, device = load_round_model(args.model, args.device, dataset.num_outputs)
    try:
        clicks = regions = None
        if args.labels:
            clicks, regions = cumulative_cost(args.labels, args.round)
        previous = [read_curve(p, dataset.class_names, rows)
                    for p, rows in ((args.previous, 2 * (args.round - 1)), (args.stage1_csv, 1))
                    if p]
        result = evaluate_model(model, dataset, batch_size=args.batch_size, device=device,
                                amp=resolve_switch(args.amp, device),
                                absent=args.absent)
        row = result_row(result, dataset.class_names, args.round, args.stage, clicks, regions)
        write_curve(args.out, [row], dataset.class_names, previous)
    except (DatasetError, StoreError, ValueError) as err:
        raise CommandError(str(err)) from err
    log.info("%s: round %d stage %d mIoU %.2f%% on %d %s images", args.out, args.round,
             args.stage, 100 * result.miou, len(dataset), args.split)
