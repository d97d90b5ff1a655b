"""`actseg curve`: one experiment's learning curve as a byte-stable PNG; bad CSVs named."""

from __future__ import annotations

import pandas as pd
import pytest

from actseg.cli import main
from actseg.curves import plot_learning_curve, read_curve


def write_curve(path, rows=((1, 1, 10, 0.1), (1, 2, 10, 0.15), (2, 1, 21, 0.2),
                            (2, 2, 21, 0.26))):
    frame = pd.DataFrame(rows, columns=["round", "stage", "clicks", "miou"])
    frame.insert(3, "regions", frame["clicks"] // 2)
    frame.to_csv(path, index=False)
    return path


def test_plot_is_a_byte_stable_png(tmp_path):
    curve = read_curve(write_curve(tmp_path / "miou.csv"))
    plot_learning_curve(curve, tmp_path / "a.png")
    plot_learning_curve(curve, tmp_path / "b.png")
    data = (tmp_path / "a.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data == (tmp_path / "b.png").read_bytes()


def test_command_writes_the_png(tmp_path):
    csv = write_curve(tmp_path / "miou.csv")
    assert main(["curve", "--csv", str(csv), "--out", str(tmp_path / "out" / "c.png")]) == 0
    assert (tmp_path / "out" / "c.png").stat().st_size > 1000


@pytest.mark.parametrize("content, problem", [
    ("round,stage,miou\n1,1,0.5\n", "lacks columns ['clicks', 'regions']"),
    ("round,stage,clicks,regions,miou\n", "has no rows"),
])
def test_bad_csv_is_named(tmp_path, content, problem, capsys):
    csv = tmp_path / "bad.csv"
    csv.write_text(content)
    assert main(["curve", "--csv", str(csv), "--out", str(tmp_path / "x.png")]) == 1
    err = capsys.readouterr().err
    assert str(csv) in err and problem in err
    assert not (tmp_path / "x.png").exists()
