"""VOC has no undefined class (issue 12 item 10; docs/method.md, notation): 21 outputs, no
u bit or click in the oracle, no u option for people, no ban, and its 255 border ignored.
A tiny VOC tree runs regions -> oracle -> round-1 labels -> stage 1 -> select (pixbal) ->
pseudo labels -> evaluate through the CLIs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from actseg.cli import main
from actseg.datasets import HAS_UNDEFINED, open_dataset
from actseg.stores import RegionsStore, multihot_to_bool, read_labels, read_oracle
from fakes import make_fake_voc
from pipeline_fixtures import make_labels

C = 21


def run(*argv) -> None:
    assert main([str(a) for a in argv]) == 0, argv


@pytest.fixture(scope="module")
def voc(tmp_path_factory):
    folder = tmp_path_factory.mktemp("voc")
    root = folder / "VOC2012"
    make_fake_voc(root, train_ids=("a1", "a2", "a3", "a4"), size=(32, 48))
    data = ["--dataset", "voc", "--root", root]
    run("regions", *data, "--split", "train", "--method", "grid", "--size", 8,
        "--out", folder / "regions.h5")
    run("oracle", *data, "--split", "train", "--regions", folder / "regions.h5",
        "--trim-width", 1, "--out", folder / "oracle.h5")
    make_labels(folder / "regions.h5", folder / "oracle.h5", folder / "labels.h5",
                fraction=0.6)
    model = folder / "stage1.pt"
    run("train", "--stage", 1, *data, "--regions", folder / "regions.h5",
        "--oracle", folder / "oracle.h5", "--labels", folder / "labels.h5",
        "--out", model, "--log-csv", folder / "stage1.csv", "--backbone", "small",
        "--aspp-rates", 1, 2, 3, "--iterations", 2, "--batch-size", 2, "--crop-size", 16, 16,
        "--device", "cpu", "--threads", 1, "--seed", 1)
    return {"folder": folder, "root": root, "data": data, "model": model}


def test_the_dataset_says_it_has_no_undefined_class(voc):
    dataset = open_dataset("voc", voc["root"], "train")
    assert dataset.has_undefined is False and dataset.num_outputs == dataset.num_classes == C
    assert HAS_UNDEFINED == {"synthetic": True, "cityscapes": True, "voc": False}


def test_oracle_answers_and_clicks_have_no_undefined_bit(voc):
    table = read_oracle(voc["folder"] / "oracle.h5")
    assert table.has_undefined is False and table.num_channels == C
    assert not (table.multihot >> np.uint32(C)).any()  # no bit 21 (nor above)
    np.testing.assert_array_equal(table.cost("multiclass"),
                                  [[bin(int(b)).count("1") for b in row]
                                   for row in table.multihot])
    # the borders are void: with u some regions would have had the bit
    assert (table.hist_classes == C).any()
    for void in ("ignore", "vote", "class"):
        from actseg.stores import DominantRule

        answer = table.dominant_classes(DominantRule(void, "sample", 0))
        assert not (answer == C).any()


def test_stage1_trains_21_outputs_on_21_bit_labels(voc):
    from actseg.checkpoint import load_model
    from actseg.trainsets import Stage1Dataset
    from actseg.transforms import TrainAugment

    model, meta = load_model(voc["model"])
    assert model.classifier.weight.shape[0] == C and meta["num_outputs"] == C
    dataset = open_dataset("voc", voc["root"], "train")
    trainset = Stage1Dataset(dataset, RegionsStore(voc["folder"] / "regions.h5"),
                             read_oracle(voc["folder"] / "oracle.h5"),
                             read_labels(voc["folder"] / "labels.h5"), "multiclass",
                             TrainAugment((16, 16)))
    _, _, multihot = trainset[(0, 0)]
    assert multihot.shape[1] == C
    logits = model(torch.zeros(1, 3, 32, 48))
    assert logits.shape[1] == C


def test_select_pixbal_with_the_voc_model_bans_nothing(voc, tmp_path):
    folder = voc["folder"]
    out = tmp_path / "labels2.h5"
    previous = read_labels(folder / "labels.h5")
    from actseg.stores import write_labels

    previous.round = 1
    write_labels(tmp_path / "labels1.h5", previous)
    run("select", "--round", 2, "--regions", folder / "regions.h5", "--oracle",
        folder / "oracle.h5", "--labelling", "multiclass", "--method", "pixbal",
        "--budget", 20, "--kappa", 12, "--seed", 0, *voc["data"], "--previous",
        tmp_path / "labels1.h5", "--model", voc["model"], "--device", "cpu", "--out", out)
    state = read_labels(out)
    assert state.round == 2 and state.clicks_per_round[-1] >= 20
    assert not state.attrs.get("ban_undefined")  # not a setting on VOC


def test_pseudo_labels_never_say_undefined(voc, tmp_path):
    folder = voc["folder"]
    from actseg.stores import PseudoStore

    for method in ("naive_all", "prototype"):
        run("pseudo", "--round", 1, "--model", voc["model"], *voc["data"], "--regions",
            folder / "regions.h5", "--oracle", folder / "oracle.h5", "--labels",
            folder / "labels.h5", "--labelling", "multiclass", "--method", method,
            "--batch-size", 2, "--device", "cpu", "--out", tmp_path / f"{method}.h5",
            "--quality-csv", tmp_path / f"{method}.csv")
        store = PseudoStore(tmp_path / f"{method}.h5")
        values = np.unique(np.concatenate([store.label(s).ravel() for s in range(len(store))]))
        assert set(values.tolist()) <= set(range(C)) | {255}
        assert values.min() < C
    # stage 2 trains the same 21 outputs on them
    from actseg.checkpoint import load_model

    run("train", "--stage", 2, *voc["data"], "--pseudo", tmp_path / "naive_all.h5",
        "--out", tmp_path / "stage2.pt", "--log-csv", tmp_path / "stage2.csv", "--backbone",
        "small", "--aspp-rates", 1, 2, 3, "--iterations", 2, "--batch-size", 2,
        "--crop-size", 16, 16, "--device", "cpu", "--threads", 1, "--seed", 1)
    model, meta = load_model(tmp_path / "stage2.pt")
    assert model.classifier.weight.shape[0] == C and meta["num_outputs"] == C


def test_evaluate_scores_the_21_classes(voc, tmp_path):
    import pandas as pd

    run("evaluate", "--model", voc["model"], *voc["data"], "--round", 1, "--labels",
        voc["folder"] / "labels.h5", "--stage", 1, "--device", "cpu", "--out",
        tmp_path / "miou.csv")
    row = pd.read_csv(tmp_path / "miou.csv").iloc[0]
    assert 0 <= row["miou"] <= 1 or 0 <= row["miou"] <= 100


def test_people_get_no_undefined_option_on_voc():
    from actseg.human.exchange import UNDEFINED, option_names
    from actseg.human.queue import QueryQueue

    def queue(**attrs):
        return QueryQueue(1, "multiclass", 10, np.zeros(0, int), np.zeros(0, int),
                          np.zeros(0, bool), np.zeros((1, 1), np.float32), ["x"],
                          ["bg", "cat"], attrs)

    assert option_names(queue(has_undefined=0)) == ["bg", "cat"]
    assert option_names(queue(has_undefined=1)) == ["bg", "cat", UNDEFINED]
    assert option_names(queue()) == ["bg", "cat", UNDEFINED]  # queues written before


def test_ban_undefined_does_not_touch_the_last_real_class():
    from actseg.acquire import score_pool

    logits = torch.full((1, 3, 2, 2), -1.0)
    logits[0, 2] = 1.0  # every pixel's top-1 is the last channel
    logits[0, 1] = 0.9
    region_map = torch.zeros(1, 2, 2, dtype=torch.long)
    with_u = score_pool("bvsb", logits, region_map, 1, ban_undefined=True)
    without_u = score_pool("bvsb", logits, region_map, 1, ban_undefined=True,
                           has_undefined=False)
    assert with_u[0, 0] == 0 and without_u[0, 0] > 0


def test_an_oracle_built_with_the_undefined_class_is_refused_on_voc(voc, tmp_path, capsys):
    import shutil

    import h5py

    old = tmp_path / "oracle.h5"
    shutil.copy(voc["folder"] / "oracle.h5", old)
    with h5py.File(old, "a") as f:
        f.attrs["has_undefined"] = 1  # as an oracle.h5 of VOC written before
    code = main([str(a) for a in (
        "pseudo", "--round", 1, "--model", voc["model"], *voc["data"], "--regions",
        voc["folder"] / "regions.h5", "--oracle", old, "--labels", voc["folder"] / "labels.h5",
        "--labelling", "multiclass", "--method", "naive", "--device", "cpu",
        "--out", tmp_path / "p.h5", "--quality-csv", tmp_path / "q.csv")])
    assert code == 1
    assert "built with the undefined class" in capsys.readouterr().err
