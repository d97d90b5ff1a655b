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

from actseg.errors import ActsegError

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
    "survey": "the labelling study: build forms, serve them, report Table 1 (Sec. A)",
    "human": "the human oracle: query queues, the annotation server, reports, CSV",
}


class CommandError(ActsegError):
    """A user-facing error of a command's arguments or inputs."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="actseg", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of an error (otherwise one line, exit 1)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, help_text in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def one_line(error: BaseException) -> str:
    """The message of a project error; for one re-raised from a DataLoader worker (whose
    message carries the worker's traceback), the original message only."""
    text = str(error).strip()
    if text.startswith("Caught ") and "Original Traceback" in text:
        text = text.splitlines()[-1].split(": ", 1)[-1]
    return text


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
    except ActsegError as err:
        if known.debug:
            raise
        print(f"actseg {known.command}: error: {one_line(err)}", file=sys.stderr)
        return 1
    except MemoryError as err:  # inference.InferenceMemoryError names what to change
        if known.debug:
            raise
        print(f"actseg {known.command}: error: {one_line(err) if str(err) else 'out of memory'}",
              file=sys.stderr)
        return 1
