"""`actseg survey build | links | serve | report`: the labelling study (supplement Sec. A).

    build   regions + oracle + dataset -> a survey folder (survey.json, patches/)
    links   each participant's personal link (tokens live in the answer store)
    serve   the survey web application on 127.0.0.1 (answers -> SQLite)
    report  Table 1 from the answers -> table1.csv, table1.md, table1.png, forms.csv
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

from actseg.cli import CommandError
from actseg.commands.options import add_settings_arguments, resolve_settings

log = logging.getLogger(__name__)
DB_NAME = "answers.sqlite"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    build = actions.add_parser("build", help="draw regions, render patches, write the forms")
    build.add_argument("--split", default="train")
    build.add_argument("--regions", required=True, help="regions.h5 of the split")
    build.add_argument("--oracle", required=True, help="oracle.h5 of the same regions")
    build.add_argument("--out", required=True, help="survey folder to write")
    add_settings_arguments(build, "survey_build")
    for name, text in (("links", "print each participant's personal link"),
                       ("serve", "serve the forms and store the answers")):
        sub = actions.add_parser(name, help=text)
        _add_store_arguments(sub)
        add_server_arguments(sub)
    report = actions.add_parser("report", help="Table 1 from the answers")
    _add_store_arguments(report)
    report.add_argument("--out", help="folder for table1.csv/.md/.png, forms.csv "
                        "(default: the survey folder)")
    add_settings_arguments(report, "survey_report")


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base-url", help="the links' address as participants reach the "
                        "server (behind a proxy); default http://HOST:PORT")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind; 0.0.0.0 exposes the server to the network")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")


def _add_store_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--survey", required=True, help="survey folder (from `survey build`)")
    parser.add_argument("--db", help=f"SQLite answer store (default: SURVEY/{DB_NAME})")


def run(args: argparse.Namespace) -> None:
    from actseg.survey.forms import SurveyError

    try:
        {"build": run_build, "links": run_links, "serve": run_serve,
         "report": run_report}[args.action](args)
    except SurveyError as err:
        raise CommandError(str(err)) from err


def run_build(args: argparse.Namespace) -> None:
    from actseg.datasets import DatasetError, open_dataset
    from actseg.stores import RegionsStore, StoreError, read_oracle
    from actseg.survey.build import build_survey

    settings = resolve_settings(args, "survey_build")
    try:
        dataset = open_dataset(args.dataset, args.root, args.split)
        store, table = RegionsStore(args.regions), read_oracle(args.oracle)
        if list(store.image_ids) != list(dataset.image_ids):
            raise CommandError(f"{args.regions}: image ids do not match the {args.split} "
                               f"split of {args.root}")
        survey = build_survey(dataset, store, table, args.out, args.regions_per_group,
                              args.patch_side, args.participants, args.seed,
                              {**settings, "split": args.split, "regions": str(args.regions),
                               "oracle": str(args.oracle)})
    except (DatasetError, StoreError) as err:
        raise CommandError(str(err)) from err
    log.info("%s: %d forms of %d questions, %d participants", args.out, len(survey.forms),
             args.regions_per_group, len(survey.plan))


def open_study(args: argparse.Namespace):
    """(survey, answer store) of the command's --survey / --db; every participant of the
    plan has a token."""
    from actseg.survey.forms import load_survey
    from actseg.survey.store import AnswerStore

    survey = load_survey(args.survey)
    store = AnswerStore(args.db or Path(args.survey) / DB_NAME)
    store.add_participants(survey.plan)
    return survey, store


def links(store, base_url: str) -> dict[str, str]:
    return {p: f"{base_url.rstrip('/')}/s/{token}" for p, token in store.tokens().items()}


def run_links(args: argparse.Namespace) -> None:
    _, store = open_study(args)
    base = args.base_url or f"http://{args.host}:{args.port}"
    print("participant,link")
    for participant, link in links(store, base).items():
        print(f"{participant},{link}")


def run_serve(args: argparse.Namespace) -> None:
    from actseg.survey.app import SurveyApp

    survey, store = open_study(args)
    serve(SurveyApp(survey, store), store, args)


def serve(app, store, args: argparse.Namespace) -> None:
    """Serve `app` on --host/--port until Ctrl-C or SIGTERM, after printing every
    participant's link."""
    from actseg.survey.server import make_server

    try:
        server = make_server(app, args.host, args.port)
    except OSError as err:
        raise CommandError(f"cannot listen on {args.host}:{args.port}: {err}") from err
    host, port = server.server_address[:2]
    base = args.base_url or f"http://{host}:{port}"
    for participant, link in links(store, base).items():
        print(f"{participant} {link}")
    print(f"serving http://{host}:{port}/ (answers -> {store.path}); Ctrl-C stops", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()


def run_report(args: argparse.Namespace) -> None:
    from actseg.survey.report import report

    resolve_settings(args, "survey_report")
    survey, store = open_study(args)
    out = Path(args.out or args.survey)
    table, excluded = report(survey, store, out, args.outlier_iqr)
    print((out / "table1.md").read_text(), end="")
    log.info("%s: Table 1 of %d rows; excluded: %s", out, len(table), excluded or "none")
