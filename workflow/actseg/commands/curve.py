"""`actseg curve`: plot one experiment's learning curve (round{R}/miou.csv) -> PNG."""

from __future__ import annotations

import argparse
from pathlib import Path

from actseg.cli import CommandError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--csv", required=True, type=Path, help="round{R}/miou.csv")
    parser.add_argument("--title", default="", help="plot title (default: the CSV path)")
    parser.add_argument("--out", required=True, type=Path, help="PNG to write")


def run(args: argparse.Namespace) -> None:
    from actseg.curves import plot_learning_curve, read_curve

    try:
        curve = read_curve(args.csv)
    except ValueError as err:
        raise CommandError(str(err)) from err
    plot_learning_curve(curve, args.out, args.title or str(args.csv))
