"""`actseg regions`: cut the images of a split into regions -> regions.h5."""

from __future__ import annotations

import argparse
import logging

import numpy as np

from actseg.cli import CommandError
from actseg.commands.options import add_settings_arguments, resolve_settings
from actseg.regions import METHODS, RegionError, chunk_indices, merge_regions, write_regions
from actseg.stores import StoreError

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--split", default="train")
    parser.add_argument("--workers", type=int, default=1, help="processes")
    parser.add_argument("--out", required=True, help="regions.h5 to write")
    parser.add_argument("--chunk", metavar="K/N", type=_chunk,
                        help="only the K-th (1-based) of N contiguous chunks of the images: "
                             "a partial store for --merge")
    parser.add_argument("--merge", nargs="+", metavar="PART",
                        help="join these --chunk stores (chunks 1..N in order) into --out "
                             "instead of computing regions")
    add_settings_arguments(parser, "regions")


def _chunk(text: str) -> tuple[int, int]:
    try:
        k, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected K/N, got {text!r}") from None
    if not 1 <= k <= n:
        raise argparse.ArgumentTypeError(f"need 1 <= K <= N, got {text!r}")
    return k - 1, n


def run(args: argparse.Namespace) -> None:
    from actseg.datasets import DatasetError, open_dataset

    if args.merge:
        try:
            counts = merge_regions(args.out, args.merge)
        except (RegionError, StoreError) as err:
            raise CommandError(str(err)) from err
        log.info("%s: %d images from %d chunks, %.1f regions per image", args.out,
                 len(counts), len(args.merge), counts.mean())
        return
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
                               options, attrs, args.chunk)
    except (DatasetError, RegionError, StoreError) as err:
        raise CommandError(str(err)) from err
    indices = (chunk_indices(len(dataset), *args.chunk) if args.chunk
               else np.arange(len(dataset)))
    requested = np.array([dataset.image_size(int(i)) for i in indices]).prod(1)
    requested = np.maximum(1, np.round(requested / args.size**2))
    few = counts < 0.5 * requested
    if few.any():  # SLIC collapses on noisy textures when compactness is too low for them
        hint = "; consider a higher --compactness" if args.method == "slic" else ""
        log.warning("%d of %d images got fewer than half the requested regions "
                    "(e.g. %s: %d of %d)%s", few.sum(), len(counts),
                    dataset.image_ids[int(indices[np.argmax(few)])], counts[few][0],
                    requested[few][0], hint)
    log.info("%s: %d images, %.1f regions per image (%d..%d), %s size %d",
             args.out, len(counts), counts.mean(), counts.min(), counts.max(),
             args.method, args.size)
