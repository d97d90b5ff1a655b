"""`actseg figures study|qualitative`: study CSVs and plots, and the qualitative panel."""

from __future__ import annotations

import argparse
from pathlib import Path

from actseg.cli import CommandError
from actseg.commands.options import add_inference_arguments, resolve_settings, set_threads


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="figure", required=True, metavar="FIGURE")
    study = sub.add_parser("study", help="long CSV, mean/std summary and plot of one study")
    study.add_argument("--name", required=True, help="study name (first CSV column)")
    study.add_argument("--run", action="append", required=True, metavar="V:L:S:CSV",
                       help="VARIANT:LABELLING:SEED:path/to/roundR/miou.csv (repeat)")
    study.add_argument("--out-csv", type=Path, required=True)
    study.add_argument("--out-summary", type=Path, required=True)
    study.add_argument("--out-png", type=Path, required=True)

    qual = sub.add_parser("qualitative", help="input, predictions per model, ground truth")
    qual.add_argument("--model", action="append", required=True, metavar="NAME=CKPT",
                      help="a column title and its checkpoint, e.g. 'round 1=results/round1/stage2.pt'")
    qual.add_argument("--split", default="val")
    qual.add_argument("--images", type=int, default=4, help="how many validation images")
    qual.add_argument("--out", type=Path, required=True)
    add_inference_arguments(qual, "qualitative")


def run(args: argparse.Namespace) -> int:
    if args.figure == "study":
        return run_study(args)
    return run_qualitative(args)


def run_study(args) -> int:
    from actseg.figures import build_study_figure, parse_run

    try:
        runs = [parse_run(spec) for spec in args.run]
    except ValueError as err:
        raise CommandError(str(err)) from err
    missing = [str(r.curve_csv) for r in runs if not r.curve_csv.exists()]
    if missing:
        raise CommandError(f"missing learning-curve CSV(s): {missing}")
    build_study_figure(args.name, runs, args.out_csv, args.out_summary, args.out_png)
    return 0


def run_qualitative(args) -> int:
    import numpy as np

    from actseg.commands.round_inputs import load_round_model, open_dataset_split
    from actseg.figures import plot_qualitative
    from actseg.inference import predict

    resolve_settings(args, "qualitative")
    set_threads(args)
    models = []
    for spec in args.model:
        name, sep, path = spec.partition("=")
        if not sep or not Path(path).exists():
            raise CommandError(f"--model {spec!r}: expected NAME=CKPT with an existing file")
        models.append((name, path))
    dataset = open_dataset_split(args.dataset, args.root, args.split)
    # evenly spaced validation images, deterministic
    indices = np.linspace(0, len(dataset) - 1, min(args.images, len(dataset))).round().astype(int)
    indices = sorted(set(indices.tolist()))
    num_classes = dataset.num_classes
    predictions = {}
    for name, path in models:
        model, _, device = load_round_model(path, args.device, dataset.num_outputs)
        maps = []
        for _, logits, _ in predict(model, dataset, indices, batch_size=1, device=device):
            maps.extend(logits[:, :num_classes].argmax(1).cpu().numpy().astype(np.uint8))
        predictions[name] = maps
    images = [dataset.load_image(i) for i in indices]
    truth = [dataset.load_label(i) for i in indices]
    plot_qualitative(images, predictions, truth, num_classes, args.out)
    return 0
