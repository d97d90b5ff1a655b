"""`actseg survey report`: Table 1 from the answer store, as CSV and Markdown, the
per-participant form results it is computed from, and a plot of time per click and accuracy
against the number of classes."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from actseg.fileio import atomic_output
from actseg.plots import pyplot, save_png
from actseg.survey.forms import LABELLINGS, Survey
from actseg.survey.outliers import outlier_participants
from actseg.survey.store import AnswerStore
from actseg.survey.table1 import QUERY_NAMES, form_results, markdown, table1

OUTPUTS = ("table1.csv", "table1.md", "table1.png", "forms.csv")


def write_text(path: Path, text: str) -> None:
    with atomic_output(path) as tmp:
        Path(tmp).write_text(text)


def plot(table: pd.DataFrame, out_png: Path) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
    groups = table[table["classes"] != "average"]
    for labelling in LABELLINGS:
        rows = groups[groups["query"] == QUERY_NAMES[labelling]]
        x = rows["classes"].astype(int)
        for ax, column in zip(axes, ("time_per_click_s", "accuracy")):
            ax.errorbar(x, rows[f"{column}_mean"], yerr=rows[f"{column}_std"].fillna(0),
                        marker="o", capsize=3, label=QUERY_NAMES[labelling])
    for ax, title in zip(axes, ("time per click (s)", "accuracy (%)")):
        ax.set_xlabel("classes in the region")
        ax.set_title(title)
        ax.set_xticks([1, 2, 3])
    axes[0].legend()
    fig.tight_layout()
    save_png(fig, out_png)


def report(survey: Survey, store: AnswerStore, out: str | Path, outlier_iqr: float | None
           ) -> tuple[pd.DataFrame, list[str]]:
    """Write the outputs under `out`; return Table 1 and the excluded participants."""
    out = Path(out)
    results = form_results(survey, store.answers())
    excluded = outlier_participants(results, outlier_iqr)
    results["excluded"] = results["participant"].isin(excluded)
    table = table1(results[~results["excluded"]])
    write_text(out / "forms.csv", results.to_csv(index=False))
    write_text(out / "table1.csv", table.to_csv(index=False))
    note = (f"\n{len(results['participant'].unique()) - len(excluded)} participants; "
            f"excluded by the outlier rule (k = {outlier_iqr}): {', '.join(excluded) or 'none'}\n")
    write_text(out / "table1.md", markdown(table) + note)
    if not table.empty:
        plot(table, out / "table1.png")
    return table, excluded
