"""The learning-curve CSV (`round{t}/stage1_miou.csv`, `round{t}/miou.csv`): its columns, its
one reader and writer, and its plot. One row per (round, stage): round, stage, clicks and
regions (cumulative through the round; empty for the supervised bound without labels),
miou, then one IoU column per class (NaN for a class with an empty union)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd

from actseg.fileio import atomic_output
from actseg.plots import pyplot, save_png

CURVE_COLUMNS = ["round", "stage", "clicks", "regions", "miou"]  # then one per class
STAGE_NAMES = {1: "stage 1 (partial labels)", 2: "stage 2 (pseudo labels)"}


def read_curve(path: str | Path, class_names: Sequence[str] | None = None) -> pd.DataFrame:
    """A learning-curve CSV; with `class_names`, its columns must be exactly those of the
    dataset. Errors name the file."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{path}: no such learning-curve CSV")
    curve = pd.read_csv(path)
    if class_names is not None:
        expected = CURVE_COLUMNS + list(class_names)
        if list(curve.columns) != expected:
            raise ValueError(f"{path}: columns {list(curve.columns)} differ from the expected "
                             f"{expected}")
    missing = [c for c in CURVE_COLUMNS if c not in curve.columns]
    if missing:
        raise ValueError(f"{path}: learning-curve CSV lacks columns {missing}")
    if curve.empty:
        raise ValueError(f"{path}: learning-curve CSV has no rows")
    return curve


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
        raise ValueError(f"{path}: duplicate (round, stage) rows {pairs}")
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
