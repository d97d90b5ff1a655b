"""`actseg oracle`: simulate the oracle's answers for every region -> oracle.h5."""

from __future__ import annotations

import argparse
import logging

from actseg.cli import CommandError
from actseg.commands.options import add_settings_arguments, resolve_settings
from actseg.oracle import OracleError, build_oracle_table
from actseg.stores import RegionsStore, StoreError, write_oracle

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--split", default="train")
    parser.add_argument("--regions", required=True, help="regions.h5 of the same split")
    parser.add_argument("--workers", type=int, default=1, help="processes")
    parser.add_argument("--out", required=True, help="oracle.h5 to write")
    add_settings_arguments(parser, "oracle")


def run(args: argparse.Namespace) -> None:
    from actseg.datasets import DatasetError, open_dataset

    resolve_settings(args, "oracle")
    if not args.trim_width >= 0 or args.trim_width == float("inf"):
        raise CommandError(f"--trim-width must be a finite number >= 0, got {args.trim_width}")
    try:
        dataset = open_dataset(args.dataset, args.root, args.split)
        store = RegionsStore(args.regions)
        attrs = {"dataset": args.dataset, "split": args.split, "regions": str(args.regions),
                 "region_method": store.attrs.get("method"),
                 "region_size": store.attrs.get("size")}
        table = build_oracle_table(dataset, store, args.trim_width, args.workers, attrs)
        write_oracle(args.out, table)
    except (DatasetError, OracleError, StoreError) as err:
        raise CommandError(str(err)) from err
    present = table.area > 0
    clicks = table.cost("multiclass")[present]
    log.info("%s: %d regions, %.2f classes per region (multi-class clicks), "
             "%.1f%% multi-class regions", args.out, present.sum(), clicks.mean(),
             100.0 * (clicks > 1).mean())
