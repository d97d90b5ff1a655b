"""Study aggregation and plots: long table, mean/std over seeds, byte-stable PNG."""

import hashlib

import numpy as np
import pandas as pd
import pytest

from actseg.cli import main
from actseg.figures import (StudyRun, build_study_figure, colourise, long_table, palette,
                            parse_run, plot_qualitative, summarise)


def write_curve(path, rounds, offset):
    rows = []
    for r in range(1, rounds + 1):
        for stage in (1, 2):
            rows.append({"round": r, "stage": stage, "clicks": 100 * r, "regions": 80 * r,
                         "miou": 0.1 * r + 0.01 * stage + offset, "road": 0.5, "sky": np.nan})
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.fixture
def runs(tmp_path):
    out = []
    for variant, labelling, base in (("Mul", "multiclass", 0.0), ("Dom", "dominant", -0.05)):
        for seed in (0, 1):
            csv = write_curve(tmp_path / f"{variant}{seed}.csv", 3, base + 0.02 * seed)
            out.append(StudyRun(variant, labelling, seed, csv))
    return out


def test_parse_run_keeps_colons_in_path():
    run = parse_run("Mul:multiclass:2:C:/x/round5/miou.csv")
    assert (run.variant, run.labelling, run.seed) == ("Mul", "multiclass", 2)
    assert str(run.curve_csv) == "C:/x/round5/miou.csv"
    with pytest.raises(ValueError, match="VARIANT:LABELLING:SEED:PATH"):
        parse_run("Mul:multiclass:x:path")


def test_long_table_and_summary_values(runs):
    table = long_table("region_size", runs)
    assert len(table) == 4 * 3 * 2
    assert list(table.columns[:4]) == ["study", "variant", "labelling", "seed"]
    assert {"road", "sky"} <= set(table.columns)
    assert table["variant"].iloc[0] == "Mul"  # variant order is the order given
    summary = summarise(table)
    row = summary[(summary.variant == "Mul") & (summary.stage == 2) & (summary["round"] == 3)]
    # seeds 0 and 1: 0.32 and 0.34 -> mean 0.33, sample std 0.01414
    assert row["miou_mean"].item() == pytest.approx(0.33)
    assert row["miou_std"].item() == pytest.approx(np.std([0.32, 0.34], ddof=1))
    assert row["seeds"].item() == 2 and row["clicks"].item() == 300


def test_a_run_given_round_by_round(tmp_path):
    """A stage-1 study gives each run as one stage-1 CSV per round; the rows join up, and a
    row that two CSVs both hold is refused."""
    paths = []
    for r in (1, 2):
        paths.append(tmp_path / f"round{r}.csv")
        pd.DataFrame([{"round": r, "stage": 1, "clicks": 100 * r, "regions": 80 * r,
                       "miou": 0.1 * r}]).to_csv(paths[-1], index=False)
    table = long_table("losses", [StudyRun("rc", "multiclass", 0, p) for p in paths])
    assert table[["round", "stage", "miou"]].values.tolist() == [[1, 1, 0.1], [2, 1, 0.2]]
    summary = summarise(table)
    assert summary["stage"].tolist() == [1, 1] and summary["miou_std"].tolist() == [0, 0]
    with pytest.raises(ValueError, match=r"\(rc, 0, 2, 1\) comes from more than one"):
        long_table("losses", [StudyRun("rc", "multiclass", 0, p) for p in paths + paths[1:]])


def test_build_study_figure_is_byte_stable(runs, tmp_path):
    digests = []
    for attempt in range(2):
        png = tmp_path / f"fig{attempt}.png"
        build_study_figure("budget", runs, tmp_path / "a.csv", tmp_path / "s.csv", png)
        digests.append(hashlib.sha256(png.read_bytes()).hexdigest())
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert digests[0] == digests[1]


def test_cli_study_reports_missing_csv(runs, tmp_path, capsys):
    args = ["figures", "study", "--name", "x", "--run", f"A:multiclass:0:{tmp_path}/nope.csv",
            "--out-csv", str(tmp_path / "o.csv"), "--out-summary", str(tmp_path / "s.csv"),
            "--out-png", str(tmp_path / "o.png")]
    assert main(args) == 1
    assert "nope.csv" in capsys.readouterr().err
    ok = args[:4] + [a for r in runs for a in ("--run", f"{r.variant}:{r.labelling}:{r.seed}:{r.curve_csv}")] + args[6:]
    assert main(ok) == 0
    assert pd.read_csv(tmp_path / "o.csv")["variant"].nunique() == 2


def test_palette_and_qualitative(tmp_path):
    colours = palette(19)
    assert tuple(colours[0]) == (128, 64, 128) and tuple(colours[19]) == (128, 128, 128)
    assert tuple(colours[255]) == (0, 0, 0)
    label = np.array([[0, 19], [255, 1]], dtype=np.uint8)
    assert colourise(label, 19).shape == (2, 2, 3)
    assert len({tuple(c) for c in palette(21)[:21]}) == 21
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (16, 32, 3), dtype=np.uint8) for _ in range(2)]
    preds = {f"round {r}": [rng.integers(0, 19, (16, 32)) for _ in range(2)] for r in (1, 3)}
    truth = [rng.integers(0, 19, (16, 32)) for _ in range(2)]
    plot_qualitative(images, preds, truth, 19, tmp_path / "q.png")
    assert (tmp_path / "q.png").stat().st_size > 1000
