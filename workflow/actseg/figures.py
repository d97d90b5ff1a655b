"""Study figures: gather per-round learning curves into long-form tables and plot them.

Inputs are the `round{R}/miou.csv` learning curves (one row per round and stage) of every
(variant, seed) of a study; outputs are a long CSV, a mean/std summary and a PNG with one
panel per stage showing mIoU against cumulative clicks, one line per variant, std bands.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from actseg.curves import read_curve
from actseg.fileio import atomic_output
from actseg.plots import pyplot, save_png

SUMMARY_KEYS = ["study", "variant", "labelling", "stage", "round"]


@dataclass(frozen=True)
class StudyRun:
    """One finished experiment of a study: its variant, labelling type, seed and curve CSV."""

    variant: str
    labelling: str
    seed: int
    curve_csv: Path


def parse_run(spec: str) -> StudyRun:
    """`VARIANT:LABELLING:SEED:PATH` (the PATH may itself contain ':')."""
    parts = spec.split(":", 3)
    if len(parts) != 4 or not parts[2].lstrip("-").isdigit():
        raise ValueError(f"run spec {spec!r} is not VARIANT:LABELLING:SEED:PATH")
    return StudyRun(parts[0], parts[1], int(parts[2]), Path(parts[3]))


def long_table(study: str, runs: Sequence[StudyRun]) -> pd.DataFrame:
    """One row per (variant, seed, round, stage), per-class IoU columns kept. A run may
    come as several CSVs (a stage-1 study: one per round); each row must come once."""
    frames = []
    for run in runs:
        curve = read_curve(run.curve_csv)
        curve.insert(0, "seed", run.seed)
        curve.insert(0, "labelling", run.labelling)
        curve.insert(0, "variant", run.variant)
        curve.insert(0, "study", study)
        frames.append(curve)
    table = pd.concat(frames, ignore_index=True)
    repeated = table.duplicated(["variant", "seed", "round", "stage"])
    if repeated.any():  # e.g. one round's stage-1 CSV given twice for a run
        variant, seed, round_, stage = table.loc[repeated].iloc[0][
            ["variant", "seed", "round", "stage"]]
        raise ValueError(f"study {study}: (variant, seed, round, stage) ({variant}, {seed}, "
                         f"{round_}, {stage}) comes from more than one curve CSV")
    order = {v: i for i, v in enumerate(dict.fromkeys(r.variant for r in runs))}
    table["_order"] = table["variant"].map(order)
    table = table.sort_values(["_order", "seed", "round", "stage"], kind="stable")
    return table.drop(columns="_order").reset_index(drop=True)


def summarise(table: pd.DataFrame) -> pd.DataFrame:
    """Mean and (sample) std over seeds of clicks and mIoU, variant order kept."""
    grouped = table.groupby(SUMMARY_KEYS, sort=False)
    summary = grouped.agg(
        clicks=("clicks", "mean"),
        miou_mean=("miou", "mean"),
        miou_std=("miou", "std"),
        seeds=("seed", "nunique"),
    ).reset_index()
    summary["miou_std"] = summary["miou_std"].fillna(0.0)
    return summary


def plot_study(summary: pd.DataFrame, title: str, out_png: Path) -> None:
    """mIoU (%) against cumulative clicks, a panel per stage, a line and std band per variant."""
    plt = pyplot()
    stages = sorted(summary["stage"].unique())
    fig, axes = plt.subplots(1, len(stages), figsize=(5.2 * len(stages), 3.8), squeeze=False)
    for ax, stage in zip(axes[0], stages):
        for variant, curve in summary[summary["stage"] == stage].groupby("variant", sort=False):
            mean = 100 * curve["miou_mean"].to_numpy()
            std = 100 * curve["miou_std"].to_numpy()
            clicks = curve["clicks"].to_numpy()
            ax.plot(clicks, mean, marker="o", ms=3, label=variant)
            ax.fill_between(clicks, mean - std, mean + std, alpha=0.2)
        ax.set_title(f"{title}: stage {stage}")
        ax.set_xlabel("cumulative clicks")
        ax.set_ylabel("mIoU (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    save_png(fig, out_png)


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    with atomic_output(path) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6g")


def build_study_figure(study: str, runs: Sequence[StudyRun], out_csv: Path,
                       out_summary: Path, out_png: Path) -> pd.DataFrame:
    table = long_table(study, runs)
    summary = summarise(table)
    write_csv(table, out_csv)
    write_csv(summary, out_summary)
    plot_study(summary, study, out_png)
    return summary


# ---------------------------------------------------------------------------- qualitative

CITYSCAPES_PALETTE = np.array([
    (128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153),
    (153, 153, 153), (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152),
    (70, 130, 180), (220, 20, 60), (255, 0, 0), (0, 0, 142), (0, 0, 70),
    (0, 60, 100), (0, 80, 100), (0, 0, 230), (119, 11, 32),
], dtype=np.uint8)


def palette(num_classes: int) -> np.ndarray:
    """(256, 3) colours: Cityscapes' for 19 classes, a fixed hue wheel otherwise;
    index num_classes (undefined) grey, 255 (void) black."""
    colours = np.zeros((256, 3), dtype=np.uint8)
    if num_classes == len(CITYSCAPES_PALETTE):
        colours[:num_classes] = CITYSCAPES_PALETTE
    else:
        from matplotlib.colors import hsv_to_rgb

        index = np.arange(num_classes)
        hsv = np.stack([(index * 0.618034) % 1.0, np.full(num_classes, 0.75),
                        np.where(index % 2, 0.65, 0.95)], axis=1)
        colours[:num_classes] = (255 * hsv_to_rgb(hsv)).round().astype(np.uint8)
    colours[num_classes] = (128, 128, 128)
    return colours


def colourise(label_map: np.ndarray, num_classes: int) -> np.ndarray:
    return palette(num_classes)[label_map.astype(np.int64) & 255]


def plot_qualitative(images: Sequence[np.ndarray], predictions: dict[str, Sequence[np.ndarray]],
                     ground_truth: Sequence[np.ndarray], num_classes: int,
                     out_png: Path) -> None:
    """A row per image: input, one prediction per named model (e.g. rounds 1/3/5), GT."""
    plt = pyplot()
    columns = ["input", *predictions.keys(), "ground truth"]
    height, width = images[0].shape[:2]
    cell = 2.2
    fig, axes = plt.subplots(len(images), len(columns), squeeze=False,
                             figsize=(cell * len(columns) * width / max(height, 1) * 0.6,
                                      cell * len(images) * 0.6 + 0.4))
    for row, image in enumerate(images):
        panels = [image, *(colourise(p[row], num_classes) for p in predictions.values()),
                  colourise(ground_truth[row], num_classes)]
        for col, panel in enumerate(panels):
            ax = axes[row, col]
            ax.imshow(panel, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(columns[col], fontsize=8)
    fig.tight_layout()
    save_png(fig, out_png)
