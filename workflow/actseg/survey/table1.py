"""Table 1 of the supplement from stored answers.

Per participant and form (complete forms only): the total time (s), the total clicks (one
per selected class), the time per click (total time / total clicks) and the accuracy, the
mean Jaccard similarity |G ∩ Y| / |G ∪ Y| between the true and the answered class set over
the form's questions (Eq. 1; for a dominant question both sets hold one class, so it is 1
for the right class and 0 otherwise). Table 1 gives, per labelling and number of classes,
the mean ± standard deviation (ddof 1) of each over participants (Eq. 2 for accuracy, in %),
and an `average` row per labelling over all of its (participant, form) results, as in the
paper (whose average rows' spread exceeds every group's).
"""

from __future__ import annotations

import pandas as pd

from actseg.survey.forms import LABELLINGS, Survey
from actseg.survey.store import Answer

QUERY_NAMES = {"dominant": "Dominant", "multiclass": "Multi-class"}
# (result column, Table 1 column, scale, decimals)
METRICS = (("total_time_s", "Total time (s)", 1.0, 1),
           ("clicks", "Total clicks", 1.0, 1),
           ("time_per_click_s", "Time per click (s)", 1.0, 2),
           ("accuracy", "Accuracy (%)", 100.0, 2))


def jaccard(truth, answer) -> float:
    truth, answer = set(truth), set(answer)
    return len(truth & answer) / len(truth | answer)


def answer_rows(survey: Survey, answers: list[Answer]) -> pd.DataFrame:
    """One row per answer with its form's labelling and group and its Jaccard similarity."""
    rows = []
    for a in answers:
        form = survey.forms[a.form]
        rows.append({"participant": a.participant, "form": a.form,
                     "labelling": form.labelling, "n_classes": form.n_classes,
                     "seconds": a.elapsed_ms / 1000.0, "clicks": a.clicks,
                     "toggles": a.toggles,
                     "jaccard": jaccard(survey.question(a.question).truth, a.classes)})
    return pd.DataFrame(rows, columns=["participant", "form", "labelling", "n_classes",
                                       "seconds", "clicks", "toggles", "jaccard"])


def form_results(survey: Survey, answers: list[Answer]) -> pd.DataFrame:
    """One row per (participant, form) the participant answered completely."""
    grouped = answer_rows(survey, answers).groupby(
        ["participant", "form", "labelling", "n_classes"], as_index=False)
    results = grouped.agg(questions=("seconds", "size"), total_time_s=("seconds", "sum"),
                          clicks=("clicks", "sum"), toggles=("toggles", "sum"),
                          accuracy=("jaccard", "mean"))
    sizes = results["form"].map({f.id: len(f.questions) for f in survey.forms.values()})
    results = results[results["questions"] == sizes].reset_index(drop=True)
    results["time_per_click_s"] = results["total_time_s"] / results["clicks"]
    return results


def _summary(query: str, classes: str, rows: pd.DataFrame) -> dict:
    row = {"query": query, "classes": classes, "participants": len(rows)}
    for column, _, scale, _ in METRICS:
        values = rows[column] * scale
        row[f"{column}_mean"] = values.mean()
        row[f"{column}_std"] = values.std(ddof=1)
    return row


def table1(results: pd.DataFrame) -> pd.DataFrame:
    """The paper's table shape: per labelling, a row per number of classes and `average`."""
    rows = []
    for labelling in LABELLINGS:
        mine = results[results["labelling"] == labelling]
        for n_classes, group in mine.groupby("n_classes"):
            rows.append(_summary(QUERY_NAMES[labelling], str(n_classes), group))
        if len(mine):
            rows.append(_summary(QUERY_NAMES[labelling], "average", mine))
    return pd.DataFrame(rows)


def _cell(mean: float, std: float, decimals: int) -> str:
    spread = "–" if pd.isna(std) else f"{std:.{decimals}f}"
    return f"{mean:.{decimals}f}±{spread}"


def markdown(table: pd.DataFrame) -> str:
    header = ["Query", "# of classes", "Participants", *(title for _, title, _, _ in METRICS)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in table.to_dict("records"):
        cells = [row["query"], row["classes"], str(row["participants"]),
                 *(_cell(row[f"{c}_mean"], row[f"{c}_std"], d) for c, _, _, d in METRICS)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
