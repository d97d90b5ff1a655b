"""`actseg human ACTION`: the human oracle (`oracle.source: human`, README "Human oracle").

    pool     regions.h5 -> pool.h5: region areas without ground truth (workflow rule)
    queue    round t's ranking -> round{t}/queue.h5 (workflow rule)
    answers  labels.h5 + pool.h5 -> round{t}/answers.h5, the answers as an oracle table
    links    each annotator's personal link
    serve    the annotation server on 127.0.0.1: the open round's queries, answers -> SQLite
    report   per annotator: answers, clicks, time per click, agreement on repeated queries
    export   answers -> CSV;  import  CSV -> answers (labels made elsewhere)

The workflow's `select` job makes round t's labels.h5 from the answers (`run_labels`).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from actseg import schema
from actseg.cli import CommandError
from actseg.commands.options import add_inference_arguments, add_settings_arguments
from actseg.commands.options import resolve_settings, set_threads

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from actseg.commands.select import add_ranking_arguments
    from actseg.commands.survey import add_server_arguments

    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    pool = actions.add_parser("pool", help="regions.h5 -> pool.h5 (no ground truth)")
    pool.add_argument("--regions", required=True)
    pool.add_argument("--out", required=True)
    add_settings_arguments(pool, "human_pool")
    queue = actions.add_parser("queue", help="round t's ranking -> queue.h5")
    add_ranking_arguments(queue)
    add_inference_arguments(queue, "human_queue")
    answers = actions.add_parser("answers", help="labels.h5 + pool.h5 -> answers.h5")
    for name in ("labels", "pool", "out"):
        answers.add_argument(f"--{name}", required=True)
    for name, text in (("links", "print each annotator's personal link"),
                       ("serve", "serve the open round's queries, store the answers")):
        sub = actions.add_parser(name, help=text)
        _add_store_arguments(sub)
        add_server_arguments(sub)
        add_settings_arguments(sub, "human_serve")
    report = actions.add_parser("report", help="time per click and agreement per annotator")
    _add_store_arguments(report)
    report.add_argument("--out", help="CSV to write (default: print)")
    for name, text in (("export", "answers -> CSV"), ("import", "CSV -> answers")):
        sub = actions.add_parser(name, help=text)
        _add_store_arguments(sub)
        sub.add_argument("--csv", required=True, help="the CSV file")


def _add_store_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--results", required=True,
                        help="the experiment's results folder, e.g. results/ (round{t}/queue.h5 "
                             "inside)")
    parser.add_argument("--db", help="the answer store (default: RESULTS/human/answers.sqlite)")


def run(args: argparse.Namespace) -> None:
    from actseg.stores import StoreError

    try:
        return ACTIONS[args.action](args)
    except StoreError as err:
        raise CommandError(str(err)) from err


# ------------------------------------------------------------------------ workflow jobs


def run_pool(args: argparse.Namespace) -> None:
    from actseg.commands.round_inputs import open_dataset_split
    from actseg.human.pool import pool_table
    from actseg.stores import RegionsStore, write_oracle

    settings = resolve_settings(args, "human_pool")
    regions = RegionsStore(args.regions)
    dataset = open_dataset_split(args.dataset, args.root, "train", labels="optional")
    table = pool_table(regions, dataset.num_classes, args.trim_width,
                       {**settings, "regions": str(args.regions)},
                       has_undefined=dataset.has_undefined)
    write_oracle(args.out, table)


def run_queue(args: argparse.Namespace) -> None:
    import numpy as np

    from actseg.budget import ranking
    from actseg.commands.select import acquisition_attrs, check_args, previous_state, rank_pool
    from actseg.human.queue import QueryQueue, repeated, write_queue
    from actseg.stores import RegionsStore, read_oracle

    resolve_settings(args, "human_queue", args.round)
    check_args(args)
    set_threads(args)
    pool, regions = read_oracle(args.oracle), RegionsStore(args.regions)
    previous = previous_state(args, pool)
    scores, tau, dataset = rank_pool(args, regions, pool, previous)
    images, region_ids = ranking(scores, scores > -np.inf)
    length = min(len(images), args.budget + 1)  # every query costs at least one click
    queue = QueryQueue(args.round, args.labelling, args.budget, images[:length],
                       region_ids[:length], repeated(length, args.repeat_fraction,
                                                     [args.seed, args.round, 1]),
                       scores, list(regions.image_ids), list(dataset.class_names),
                       {**acquisition_attrs(args, tau), "acquisition": args.method,
                        "dataset": args.dataset, "root": str(Path(args.root).resolve()),
                        "has_undefined": int(pool.has_undefined),
                        "regions": str(Path(args.regions).resolve()),
                        "repeat_fraction": args.repeat_fraction})
    write_queue(args.out, queue)
    log.info("round %d: %d queries queued (%d asked twice) for a budget of %d clicks",
             args.round, length, int(queue.doubled.sum()), args.budget)


def run_labels(args: argparse.Namespace) -> None:
    """`actseg select --queue`: round t's labels.h5 from the answers, or a one-paragraph
    error saying what is open and where to label."""
    from actseg.commands.select import previous_state
    from actseg.human.labels import AnswersMissing, human_state
    from actseg.human.queue import read_queue
    from actseg.human.store import QueueStore
    from actseg.stores import read_oracle, write_labels

    if not args.db:
        raise CommandError("--queue needs --db, the answer store")
    pool, queue = read_oracle(args.oracle), read_queue(args.queue)
    previous = previous_state(args, pool)
    url = args.url or schema.default("oracle.url")
    try:
        state = human_state(previous, pool, queue, QueueStore(args.db), url)
    except AnswersMissing as err:
        raise CommandError(str(err)) from None
    write_labels(args.out, state)
    log.info("round %d: %d regions labelled by people for %d clicks", state.round,
             state.regions_per_round[-1], state.clicks_per_round[-1])


def run_answers(args: argparse.Namespace) -> None:
    from actseg.human.pool import answers_table
    from actseg.stores import read_labels, read_oracle, write_oracle

    labels, pool = read_labels(args.labels), read_oracle(args.pool)
    if labels.answers is None:
        raise CommandError(f"{args.labels}: holds no human answers (oracle.source simulated?)")
    write_oracle(args.out, answers_table(pool, labels.answers, labels.labelled,
                                         labels.labelling))


# ----------------------------------------------------------------------- people's side


def open_store(args: argparse.Namespace, annotators: int = 0):
    from actseg.human.store import QueueStore, annotator_id

    store = QueueStore(args.db or Path(args.results) / "human" / "answers.sqlite")
    store.add_participants(annotator_id(i) for i in range(annotators))
    return store


def run_links(args: argparse.Namespace) -> None:
    from actseg.commands.survey import links

    resolve_settings(args, "human_serve")
    store = open_store(args, args.annotators)
    print("annotator,link")
    for annotator, link in links(store, args.base_url or f"http://{args.host}:{args.port}"
                                 ).items():
        print(f"{annotator},{link}")


def run_serve(args: argparse.Namespace) -> None:
    from actseg.commands.survey import serve
    from actseg.human.app import OracleApp, RoundQueues

    resolve_settings(args, "human_serve")
    store = open_store(args, args.annotators)
    serve(OracleApp(RoundQueues(args.results), store, args.patch_side), store, args)


def run_report(args: argparse.Namespace) -> None:
    from actseg.human.quality import annotator_report

    text = annotator_report(open_store(args).answers()).to_csv(index=False)
    if args.out:
        Path(args.out).write_text(text)
    else:
        sys.stdout.write(text)


def round_queues(results: str) -> dict:
    from actseg.human.queue import read_queue

    return {queue.round: queue for queue in map(read_queue,
                                                Path(results).glob("round*/queue.h5"))}


def run_export(args: argparse.Namespace) -> None:
    from actseg.human.exchange import export_rows

    Path(args.csv).write_text(export_rows(open_store(args).answers(), round_queues(args.results)))


def run_import(args: argparse.Namespace) -> None:
    from actseg.human.exchange import CsvRowError, import_rows

    store = open_store(args)
    try:
        answers = import_rows(Path(args.csv).read_text(), round_queues(args.results))
    except CsvRowError as err:
        raise CommandError(f"{args.csv}: {err}") from err
    store.add_participants({a.participant for a in answers})
    stored = sum(store.record(a) for a in answers)
    log.info("%s: %d answers imported, %d already stored", args.csv, stored,
             len(answers) - stored)


ACTIONS = {"pool": run_pool, "queue": run_queue, "answers": run_answers, "links": run_links,
           "serve": run_serve, "report": run_report, "export": run_export,
           "import": run_import}
