"""The learning-curve CSV (`round{t}/stage1_miou.csv`, `round{t}/miou.csv`): its columns, its
one reader and writer, and its plot. One row per (round, stage): round, stage, clicks and
regions (cumulative through the round; empty for the supervised bound without labels),
miou, then one IoU column per class (NaN for a class with an empty union)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Sequence

import pandas as pd

from actseg.errors import ActsegError
from actseg.fileio import atomic_output
from actseg.plots import pyplot, save_png

CURVE_COLUMNS = ["round", "stage", "clicks", "regions", "miou"]  # then one per class
STAGE_NAMES = {1: "stage 1 (partial labels)", 2: "stage 2 (pseudo labels)"}


class CurveError(ActsegError, ValueError):
    """A learning-curve CSV is missing, truncated or holds impossible values."""


def read_curve(path: str | Path, class_names: Sequence[str] | None = None,
               rows: int | None = None) -> pd.DataFrame:
    """A learning-curve CSV, checked: complete lines (a file cut mid-row is an error),
    `rows` rows if given, unique (round, stage) pairs, integer rounds and stages, counts
    >= 0, IoUs in [0, 1] (NaN only for a class). With `class_names`, its columns must be
    exactly those of the dataset. Errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise CurveError(f"{path}: no such learning-curve CSV")
    _check_lines(path)
    curve = pd.read_csv(path)
    if class_names is not None:
        expected = CURVE_COLUMNS + list(class_names)
        if list(curve.columns) != expected:
            raise CurveError(f"{path}: columns {list(curve.columns)} differ from the expected "
                             f"{expected}")
    missing = [c for c in CURVE_COLUMNS if c not in curve.columns]
    if missing:
        raise CurveError(f"{path}: learning-curve CSV lacks columns {missing}")
    if curve.empty:
        raise CurveError(f"{path}: learning-curve CSV has no rows")
    if rows is not None and len(curve) != rows:
        raise CurveError(f"{path}: {len(curve)} rows, expected {rows} (a truncated or stale "
                         "file: delete it so that it is rebuilt)")
    problems = _range_problems(curve)
    if problems:
        raise CurveError(f"{path}: " + "; ".join(problems))
    return curve


def _check_lines(path: Path) -> None:
    """Every line has the header's number of fields and the file ends with a newline."""
    text = path.read_text()
    lines = text.splitlines()
    if not lines:
        raise CurveError(f"{path}: learning-curve CSV is empty")
    fields = len(next(csv.reader([lines[0]])))
    for number, line in enumerate(lines[1:], start=2):
        if len(next(csv.reader([line]), [])) != fields:
            raise CurveError(f"{path}: line {number} has not the header's {fields} fields "
                             "(a truncated file: delete it so that it is rebuilt)")
    if not text.endswith("\n"):
        raise CurveError(f"{path}: the last line is incomplete (a truncated file: delete it "
                         "so that it is rebuilt)")


def _range_problems(curve: pd.DataFrame) -> list[str]:
    problems = []
    for column in ("round", "stage"):
        values = pd.to_numeric(curve[column], errors="coerce")
        if values.isna().any() or (values < 0).any() or (values % 1 != 0).any():
            problems.append(f"column {column} must hold integers >= 0")
    if curve.duplicated(["round", "stage"]).any():
        problems.append("duplicate (round, stage) rows")
    for column in ("clicks", "regions"):  # empty for the supervised bound
        values = pd.to_numeric(curve[column], errors="coerce")
        if (values < 0).any() or (values.isna() & curve[column].notna()).any():
            problems.append(f"column {column} must hold counts >= 0")
    ious = curve.drop(columns=CURVE_COLUMNS[:4]).apply(pd.to_numeric, errors="coerce")
    if ious["miou"].isna().any():
        problems.append("column miou has empty or non-numeric values")
    bad = [c for c in ious.columns
           if ((ious[c] < 0) | (ious[c] > 1)).any() or (ious[c].isna() & curve[c].notna()).any()]
    if bad:
        problems.append(f"IoU columns {bad} hold values outside [0, 1]")
    return problems


def write_curve(path: str | Path, rows: list[dict], class_names: Sequence[str],
                previous: Sequence[pd.DataFrame] = ()) -> pd.DataFrame:
    """Write `previous` frames + `rows`, sorted by (round, stage), atomically; return it.

    A (round, stage) pair present twice is an error (a stale CSV fed back in).
    """
    columns = CURVE_COLUMNS + list(class_names)
    frames = [f for f in previous if len(f)] + [pd.DataFrame(rows, columns=columns)]
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    frame = frame.sort_values(["round", "stage"], kind="stable").reset_index(drop=True)
    dup = frame.duplicated(["round", "stage"])
    if dup.any():
        pairs = frame.loc[dup, ["round", "stage"]].to_records(index=False).tolist()
        raise CurveError(f"{path}: duplicate (round, stage) rows {pairs}")
    with atomic_output(path) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6f")
    return frame


def plot_learning_curve(curve: pd.DataFrame, out_png: str | Path, title: str = "") -> None:
    """One line per stage, rounds marked on the points; a byte-stable PNG written atomically."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.6, 3.8))
    for stage, rows in curve.sort_values(["stage", "round"]).groupby("stage", sort=True):
        clicks, miou = rows["clicks"].to_numpy(), 100 * rows["miou"].to_numpy()
        ax.plot(clicks, miou, marker="o", ms=4, label=STAGE_NAMES.get(int(stage), f"stage {stage}"))
        for round_, x, y in zip(rows["round"], clicks, miou):
            ax.annotate(f"r{round_}", (x, y), textcoords="offset points", xytext=(3, 4),
                        fontsize=7)
    ax.set_xlabel("cumulative clicks")
    ax.set_ylabel("validation mIoU (%)")
    ax.set_title(title or "learning curve")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_png(fig, out_png)
