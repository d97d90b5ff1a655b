"""`python -m actseg <command> ...`: one sub-command per pipeline stage.

Each command lives in `actseg.commands.<name>` and provides `add_arguments(parser)` and
`run(args) -> int | None`. Modules are imported only when their command runs, so `--help`
and light commands stay fast (no torch import for `synth`, `regions`, `oracle`).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

COMMANDS = {
    "synth": "generate the embedded synthetic city in the Cityscapes layout",
    "regions": "cut training images into regions (SLIC, grid, SEEDS) -> regions.h5",
    "oracle": "simulate the oracle: multi-class and dominant labels per region -> oracle.h5",
    "select": "score the pool and fill a round's click budget -> round{t}/labels.h5",
    "train": "train stage 1 (partial labels) or stage 2 (pseudo labels) -> checkpoint",
    "evaluate": "confusion-matrix mIoU on the validation split -> CSV",
    "pseudo": "prototype pseudo labels with label expansion -> round{t}/pseudo.h5",
    "figures": "aggregate study CSVs and draw plots",
    "curve": "plot one experiment's learning curve (round{R}/miou.csv) -> PNG",
    "pretrain": "pretrain a backbone on the procedural texture domain -> weights + provenance",
}


class CommandError(Exception):
    """A user-facing error: printed without a traceback, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="actseg", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, help_text in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    top = build_parser()
    known, rest = top.parse_known_args(argv)
    module = importlib.import_module(f"actseg.commands.{known.command}")
    parser = argparse.ArgumentParser(
        prog=f"actseg {known.command}", description=COMMANDS[known.command]
    )
    module.add_arguments(parser)
    args = parser.parse_args(rest)
    logging.basicConfig(
        level=logging.DEBUG if known.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(module.run(args) or 0)
    except CommandError as err:
        print(f"actseg {known.command}: error: {err}", file=sys.stderr)
        return 2
    except MemoryError as err:  # inference.InferenceMemoryError names what to change
        print(f"actseg {known.command}: error: {err or 'out of memory'}", file=sys.stderr)
        return 2
