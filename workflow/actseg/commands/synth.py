"""`actseg synth`: generate the embedded synthetic city in the Cityscapes layout."""

from __future__ import annotations

import argparse
import logging

from actseg.cli import CommandError
from actseg.commands.options import add_settings_arguments, resolve_settings

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from actseg.synth.render import Difficulty

    defaults = Difficulty()
    parser.add_argument("--out", required=True, help="dataset root to create")
    parser.add_argument("--workers", type=int, default=1, help="parallel processes")
    parser.add_argument("--force", action="store_true",
                        help="replace an existing folder holding something else")
    add_settings_arguments(parser, "synth")
    knobs = parser.add_argument_group("difficulty (generator constants, not in the config; "
                                      "the defaults suit the default experiment)")
    knobs.add_argument("--noise", type=float, default=defaults.noise,
                       help="sensor noise std as a fraction of full scale")
    knobs.add_argument("--blur", type=float, default=defaults.blur, help="blur sigma in px")
    knobs.add_argument("--texture", type=float, default=defaults.texture,
                       help="texture amplitude multiplier (lower = harder)")
    knobs.add_argument("--colour-overlap", type=float, default=defaults.colour_overlap,
                       help="max pull of an object's colour toward another class's colours")
    knobs.add_argument("--lighting", type=float, default=defaults.lighting,
                       help="strength of per-image brightness/tint/contrast/shadow changes")


def run(args: argparse.Namespace) -> int:
    import time

    from actseg.datasets import DatasetError
    from actseg.synth.render import Difficulty
    from actseg.synth import generate

    resolve_settings(args, "synth")
    if args.workers < 1:
        raise CommandError(f"--workers must be >= 1, got {args.workers}")
    difficulty = Difficulty(noise=args.noise, blur=args.blur, texture=args.texture,
                            colour_overlap=args.colour_overlap, lighting=args.lighting)
    start = time.perf_counter()
    try:
        out = generate(args.out, seed=args.seed, n_train=args.n_train, n_val=args.n_val,
                       height=args.height, width=args.width, workers=args.workers,
                       difficulty=difficulty, force=args.force)
    except (DatasetError, ValueError) as err:
        raise CommandError(str(err)) from None
    log.info("synthetic city in %s (%.1f s)", out, time.perf_counter() - start)
    return 0
