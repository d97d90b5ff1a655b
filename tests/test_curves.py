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


# ----------------------------------------------- truncated or impossible CSVs (issue 17)


CLASSES = ["road", "car"]


def full_curve(path):
    from actseg.curves import write_curve as write

    rows = [{"round": t, "stage": s, "clicks": 10 * t, "regions": 5 * t, "miou": 0.1 * t + s / 100,
             "road": 0.3, "car": float("nan") if s == 1 else 0.2}
            for t in (1, 2) for s in (1, 2)]
    write(path, rows, CLASSES)
    return path


@pytest.mark.parametrize("cut", [0.5, 0.75, 0.97])
def test_a_csv_cut_mid_row_is_an_error_naming_it(tmp_path, cut):
    from actseg.curves import CurveError

    path = full_curve(tmp_path / "miou.csv")
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * cut)])
    with pytest.raises(CurveError, match=str(path)):
        read_curve(path, CLASSES, rows=4)


def test_a_csv_with_missing_rows_or_bad_values_is_an_error(tmp_path):
    from actseg.curves import CurveError

    path = full_curve(tmp_path / "miou.csv")
    assert len(read_curve(path, CLASSES, rows=4)) == 4
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-1]))  # cut at a line end
    with pytest.raises(CurveError, match="3 rows, expected 4"):
        read_curve(path, CLASSES, rows=4)
    path.write_text("".join(lines).replace(",0.3", ",1.3", 1))
    with pytest.raises(CurveError, match=r"\['road'\] hold values outside \[0, 1\]"):
        read_curve(path, CLASSES)
    path.write_text("".join(lines).replace("\n2,1,", "\n2,x,", 1))
    with pytest.raises(CurveError, match="column stage must hold integers"):
        read_curve(path, CLASSES)
