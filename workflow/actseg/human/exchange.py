"""Answers to and from CSV, so labels made elsewhere enter the loop.

One row per answer: annotator, round, image_id, region, classes (class names joined by
"|"; the undefined option is `undefined`), clicks, toggles, elapsed_ms, submitted_at. An
import checks every row against the round's queue (a query of that round, known class
names, clicks = number of classes) before storing any; a row the store holds already is
skipped, so importing twice changes nothing.
"""

from __future__ import annotations

import csv
import io
import math

from actseg.errors import ActsegError
from actseg.human.queue import QueryQueue, question_id
from actseg.survey.store import Answer
from actseg.experiments.paths import SAFE_NAME

UNDEFINED = "undefined"
FIELDS = ["annotator", "round", "image_id", "region", "classes", "clicks", "toggles",
          "elapsed_ms", "submitted_at"]


class CsvRowError(ActsegError):
    """A CSV row cannot be imported; the message names the row."""


def option_names(queue: QueryQueue) -> list[str]:
    """The answer options: the classes, then the undefined class where the dataset has it."""
    return [*queue.class_names, *([UNDEFINED] if queue.has_undefined else [])]


def export_rows(answers: list[Answer], queues: dict[int, QueryQueue]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, FIELDS, lineterminator="\n")
    writer.writeheader()
    for a in answers:
        queue = queues[int(a.question.split("-")[0][1:])]
        rank = queue.rank_of(a.question)
        names = option_names(queue)
        writer.writerow({"annotator": a.participant, "round": queue.round,
                         "image_id": queue.image_ids[int(queue.image[rank])],
                         "region": int(queue.region[rank]),
                         "classes": "|".join(names[c] for c in a.classes), "clicks": a.clicks,
                         "toggles": a.toggles, "elapsed_ms": a.elapsed_ms,
                         "submitted_at": repr(a.submitted_at)})
    return out.getvalue()


def parse_row(row: dict, queues: dict[int, QueryQueue], line: int) -> Answer:
    def fail(message):
        raise CsvRowError(f"CSV line {line}: {message}")

    try:
        queue = queues[int(row["round"])]
        image = queue.image_ids.index(row["image_id"])
        question = question_id(queue.round, image, int(row["region"]))
        names = option_names(queue)
        classes = tuple(sorted(names.index(n) for n in row["classes"].split("|")))
        numbers = [int(row[k]) for k in ("clicks", "toggles", "elapsed_ms")]
        submitted = float(row["submitted_at"])
    except KeyError as err:
        fail(f"no column or no queue for {err}")
    except ValueError as err:
        fail(f"a value does not fit the round's queue ({err})")
    if queue.rank_of(question) is None:
        fail(f"region {row['region']} of {row['image_id']} is not queried in round {queue.round}")
    if not SAFE_NAME.fullmatch(row["annotator"] or ""):
        fail(f"annotator {row['annotator']!r}: use letters, digits and ._+-")
    if numbers[0] != len(classes) or len(set(classes)) != len(classes) or min(numbers) < 0:
        fail("clicks must equal the number of (distinct) classes; counts are >= 0")
    if queue.labelling == "dominant" and len(classes) != 1:
        fail("a dominant query takes exactly one class")
    if not math.isfinite(submitted):
        fail("submitted_at must be a Unix time")
    return Answer(row["annotator"], question, queue.form, classes, *numbers, submitted)


def import_rows(text: str, queues: dict[int, QueryQueue]) -> list[Answer]:
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames != FIELDS:
        raise CsvRowError(f"CSV header must be {','.join(FIELDS)}")
    return [parse_row(row, queues, line) for line, row in enumerate(reader, start=2)]
