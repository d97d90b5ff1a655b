"""Command-line error reporting (actseg.cli): the project's own errors become one line
naming the file, exit status 1, no traceback unless --debug (issue 17, item 9); a corrupt
validation image stops a round at selection, before training."""

from __future__ import annotations

import pytest

from actseg.cli import main, one_line
from actseg.datasets import DatasetError

from pipeline_fixtures import build_round1


@pytest.fixture(scope="module")
def corrupt(tmp_path_factory):
    """A tiny round whose first validation image is cut short."""
    fx = build_round1(tmp_path_factory.mktemp("corrupt"))
    image = sorted((fx.root / "leftImg8bit/val").rglob("*.png"))[0]
    image.write_bytes(image.read_bytes()[: image.stat().st_size // 2])
    return fx, image


def _select(fx, out, *extra):
    return ["select", "--round", "1", "--regions", str(fx.regions), "--oracle", str(fx.oracle),
            "--dataset", "synthetic", "--root", str(fx.root), "--method", "random",
            "--budget", "10", "--out", str(out), *extra]


def test_a_corrupt_validation_image_stops_selection_with_one_line(corrupt, tmp_path, capsys):
    fx, image = corrupt
    assert main(_select(fx, tmp_path / "labels.h5")) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(image) in err and "Traceback" not in err
    assert err.startswith("actseg select: error: ")
    assert not (tmp_path / "labels.h5").exists()


def test_debug_shows_the_traceback(corrupt, tmp_path):
    fx, image = corrupt
    with pytest.raises(Exception, match=str(image)):
        main(["--debug", *_select(fx, tmp_path / "labels.h5")])


def test_evaluation_on_a_corrupt_image_is_one_line(corrupt, tmp_path, capsys):
    fx, image = corrupt
    model = tmp_path / "stage1.pt"
    assert main(["train", "--stage", "1", "--dataset", "synthetic", "--root", str(fx.root),
                 "--regions", str(fx.regions), "--oracle", str(fx.oracle), "--labels",
                 str(fx.labels), "--iterations", "1", "--batch-size", "2", "--crop-size",
                 "32", "32", "--device", "cpu", "--threads", "1", "--out", str(model),
                 "--log-csv", str(tmp_path / "log.csv")]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--model", str(model), "--dataset", "synthetic", "--root",
                 str(fx.root), "--round", "1", "--labels", str(fx.labels), "--stage", "1",
                 "--device", "cpu", "--out", str(tmp_path / "miou.csv")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(image) in err, err


def test_an_error_from_a_loader_worker_is_reduced_to_its_message():
    wrapped = DatasetError("Caught DatasetError in DataLoader worker process 0.\n"
                           "Original Traceback (most recent call last):\n  File \"x.py\"\n"
                           "actseg.datasets.common.DatasetError: a.png: corrupt image")
    assert one_line(wrapped) == "a.png: corrupt image"


def test_a_non_finite_option_is_refused_naming_it(corrupt, tmp_path, capsys):
    fx, _ = corrupt
    assert main(["train", "--stage", "1", "--dataset", "synthetic", "--root", str(fx.root),
                 "--regions", str(fx.regions), "--oracle", str(fx.oracle), "--labels",
                 str(fx.labels), "--lr", "nan", "--out", str(tmp_path / "m.pt"),
                 "--log-csv", str(tmp_path / "log.csv")]) == 1
    assert "not a finite number: --lr nan" in capsys.readouterr().err
