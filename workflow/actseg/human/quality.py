"""Quality controls per annotator (`actseg human report`): answers, clicks, time per click
(the sum of times over the sum of clicks, as Table 1 counts it), and agreement on the queries
asked twice: the mean Jaccard similarity |A ∩ B| / |A ∪ B| of the annotator's answer with
the other annotator's answer to the same query (1 = always the same label set)."""

from __future__ import annotations

import pandas as pd

from actseg.survey.store import Answer
from actseg.survey.table1 import jaccard

COLUMNS = ["annotator", "answers", "clicks", "seconds", "seconds_per_click", "repeated",
           "agreement"]


def pair_agreement(answers: list[Answer]) -> dict[str, list[float]]:
    """{annotator: Jaccard similarities with the other answer of each query answered
    twice}."""
    by_question: dict[str, list[Answer]] = {}
    for answer in answers:
        by_question.setdefault(answer.question, []).append(answer)
    scores: dict[str, list[float]] = {}
    for pair in by_question.values():
        if len(pair) == 2:
            similarity = jaccard(pair[0].classes, pair[1].classes)
            for answer in pair:
                scores.setdefault(answer.participant, []).append(similarity)
    return scores


def annotator_report(answers: list[Answer]) -> pd.DataFrame:
    agreement = pair_agreement(answers)
    rows = []
    for annotator in sorted({a.participant for a in answers}):
        mine = [a for a in answers if a.participant == annotator]
        clicks = sum(a.clicks for a in mine)
        seconds = sum(a.elapsed_ms for a in mine) / 1000.0
        shared = agreement.get(annotator, [])
        rows.append({"annotator": annotator, "answers": len(mine), "clicks": clicks,
                     "seconds": seconds, "seconds_per_click": seconds / clicks,
                     "repeated": len(shared),
                     "agreement": sum(shared) / len(shared) if shared else float("nan")})
    return pd.DataFrame(rows, columns=COLUMNS)
