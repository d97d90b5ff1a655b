"""`actseg regions`: cut the images of a split into regions -> regions.h5."""

from __future__ import annotations

import argparse
import logging

import numpy as np

from actseg.cli import CommandError
from actseg.commands.options import add_settings_arguments, resolve_settings
from actseg.regions import METHODS, RegionError, write_regions
from actseg.stores import StoreError

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--split", default="train")
    parser.add_argument("--workers", type=int, default=1, help="processes")
    parser.add_argument("--out", required=True, help="regions.h5 to write")
    add_settings_arguments(parser, "regions")


def run(args: argparse.Namespace) -> None:
    from actseg.datasets import DatasetError, open_dataset

    resolve_settings(args, "regions")
    if args.method not in METHODS:
        raise CommandError(f"--method must be one of {METHODS}, got {args.method!r}")
    if args.size < 1:
        raise CommandError(f"--size must be a positive number of pixels, got {args.size}")
    options = {"compactness": args.compactness} if args.compactness is not None else {}
    attrs = {"dataset": args.dataset, "split": args.split, "root": str(args.root)}
    try:
        dataset = open_dataset(args.dataset, args.root, args.split, labels="optional")
        counts = write_regions(args.out, dataset, args.method, args.size, args.workers,
                               options, attrs)
    except (DatasetError, RegionError, StoreError) as err:
        raise CommandError(str(err)) from err
    requested = np.array([dataset.image_size(i) for i in range(len(dataset))]).prod(1)
    requested = np.maximum(1, np.round(requested / args.size**2))
    few = counts < 0.5 * requested
    if few.any():  # SLIC collapses on noisy textures when compactness is too low for them
        hint = "; consider a higher --compactness" if args.method == "slic" else ""
        log.warning("%d of %d images got fewer than half the requested regions "
                    "(e.g. %s: %d of %d)%s", few.sum(), len(counts),
                    dataset.image_ids[int(np.argmax(few))], counts[few][0],
                    requested[few][0], hint)
    log.info("%s: %d images, %.1f regions per image (%d..%d), %s size %d",
             args.out, len(counts), counts.mean(), counts.min(), counts.max(),
             args.method, args.size)
