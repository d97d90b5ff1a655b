"""`actseg pseudo` end to end on a tiny synthetic city with an untrained stage-1 model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pipeline_fixtures import build_round1, make_labels

from actseg.cli import main
from actseg.stores import PseudoStore, RegionsStore, multihot_to_bool, read_labels, read_oracle


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    import torch

    from actseg import checkpoint
    from actseg.model import build_model

    folder = tmp_path_factory.mktemp("pseudo_cli")
    round1 = build_round1(folder)
    torch.manual_seed(0)
    model = build_model("small", num_classes=19)
    path = folder / "stage1.pt"
    checkpoint.save_checkpoint(path, model, {
        "backbone": "small", "num_classes": 19, "output_stride": 16,
        "aspp_rates": [6, 12, 18], "tau": 0.1, "stage": 1, "round": 1})
    dominant = folder / "round1" / "labels_dominant.h5"
    make_labels(round1.regions, round1.oracle, dominant, labelling="dominant")
    return {"fx": round1, "model": path, "dominant": dominant, "folder": folder}


def pseudo(env, out: Path, *extra: str, labels=None, labelling="multiclass",
           method="prototype", round_=1) -> int:
    fx = env["fx"]
    return main(["pseudo", "--round", str(round_), "--model", str(env["model"]),
                 "--dataset", "synthetic", "--root", str(fx.root), "--regions", str(fx.regions),
                 "--oracle", str(fx.oracle), "--labels", str(labels or fx.labels),
                 "--labelling", labelling, "--method", method, "--batch-size", "2",
                 "--device", "cpu", "--out", str(out / "pseudo.h5"),
                 "--quality-csv", str(out / "pseudo_quality.csv"), *extra])


def label_sets(env, labels, labelling):
    """(N, R_max, C+1) bool label sets of the labelled regions (all False elsewhere)."""
    oracle = read_oracle(env["fx"].oracle)
    state = read_labels(labels)
    bits = np.where(state.labelled, oracle.label_sets(labelling), 0).astype(np.uint32)
    return multihot_to_bool(bits, oracle.num_classes + 1)


def direct_maps(env, image_index, labels, labelling, method, expand, rule):
    """Recompute the maps with the public pieces: load_model, predict, pseudo_label_image,
    with the features upsampled whole (the command upsamples them band by band)."""
    import torch

    from actseg.checkpoint import load_model
    from actseg.datasets import open_dataset
    from actseg.inference import predict, upsample_features
    from actseg.pseudo import pseudo_label_image

    fx = env["fx"]
    model, _ = load_model(env["model"], torch.device("cpu"))
    dataset = open_dataset("synthetic", fx.root, "train")
    regions = RegionsStore(fx.regions)
    sets = label_sets(env, labels, labelling)
    maps = {}
    for batch, logits, feats in predict(model, dataset, list(image_index), batch_size=2,
                                        device="cpu", return_features=True, progress=False):
        for j, n in enumerate(batch):
            full = upsample_features(feats[j:j + 1], logits.shape[-2:])[0]
            maps[n] = pseudo_label_image(method, full, torch.softmax(logits[j], 0),
                                         regions.region_map(n), sets[n], regions.adjacency(n),
                                         expand=expand, rule=rule).numpy()
    return maps


def neighbours_of_labelled(regions: RegionsStore, n: int, labelled_ids: np.ndarray) -> np.ndarray:
    adjacency = regions.adjacency(n)
    hit = np.isin(adjacency, labelled_ids)
    return np.union1d(labelled_ids, np.concatenate([adjacency[hit[:, 0], 1],
                                                    adjacency[hit[:, 1], 0]]))


@pytest.mark.parametrize("method,expand,rule", [("prototype", True, "reference"),
                                                ("prototype", True, "clean"),
                                                ("prototype", False, "reference"),
                                                ("naive", True, "reference"),
                                                ("naive_all", True, "reference")])
def test_store_matches_direct_computation(env, tmp_path, method, expand, rule):
    extra = ["--rule", rule] + ([] if expand else ["--no-expand"])
    assert pseudo(env, tmp_path, *extra, method=method) == 0
    fx = env["fx"]
    store = PseudoStore(tmp_path / "pseudo.h5")
    state = read_labels(fx.labels)
    sets = label_sets(env, fx.labels, "multiclass")
    assert list(store.image_index) == list(np.flatnonzero(sets.any(-1).any(-1)))
    assert store.attrs["method"] == method and int(store.attrs["round"]) == 1
    want = direct_maps(env, store.image_index, fx.labels, "multiclass", method, expand, rule)
    regions = RegionsStore(fx.regions)
    grew = 0
    for slot, n in enumerate(store.image_index):
        got = store.label(slot)
        np.testing.assert_array_equal(got, want[n])
        region_map = regions.region_map(n)
        inside = state.labelled[n][region_map]
        covered = got != 255
        assert covered[inside].all()  # every labelled pixel gets a label
        if method != "naive_all":  # the label lies in the region's set
            assert sets[n][region_map[inside], got[inside]].all()
        reach = neighbours_of_labelled(regions, n, np.flatnonzero(state.labelled[n]))
        if method == "prototype" and expand:
            assert not (covered & ~np.isin(region_map, reach)).any()
        else:
            assert not (covered & ~inside).any()
        grew += int((covered & ~inside).sum())
    assert (grew > 0) == (method == "prototype" and expand)


def test_quality_csv_recomputed_from_store(env, tmp_path):
    assert pseudo(env, tmp_path) == 0
    from actseg.datasets import open_dataset

    fx = env["fx"]
    store = PseudoStore(tmp_path / "pseudo.h5")
    dataset = open_dataset("synthetic", fx.root, "train")
    row = pd.read_csv(tmp_path / "pseudo_quality.csv").iloc[0]
    pl = np.concatenate([store.label(s).ravel() for s in range(len(store))])
    gt = np.concatenate([dataset.load_label(int(n)).ravel() for n in store.image_index])
    covered, valid = pl != 255, gt != 255
    assert row["images"] == len(store)
    assert row["coverage"] == pytest.approx(covered.mean())
    assert row["accuracy"] == pytest.approx((pl == gt)[covered & valid].mean())
    for c, name in enumerate(dataset.class_names):
        labelled_c = (pl == c) & valid
        if labelled_c.any():
            assert row[f"precision_{name}"] == pytest.approx((gt[labelled_c] == c).mean())
        if (gt == c).any():
            assert row[f"recall_{name}"] == pytest.approx((pl[gt == c] == c).mean())
    for key in ("round", "method", "expand", "rule", "labelling", "mean_precision",
                "mean_recall", "precision_undefined", "recall_undefined"):
        assert key in row.index


def test_no_ground_truth_read_with_the_human_oracle_or_without_label_files(env, tmp_path):
    """The quality CSV keeps its row, marked ground_truth "none", with coverage only; the
    pseudo labels are those of the simulated run."""
    import dataclasses
    import shutil

    assert pseudo(env, tmp_path / "truth") == 0
    reference = pd.read_csv(tmp_path / "truth" / "pseudo_quality.csv").iloc[0]
    assert "ground_truth" not in reference.index
    root = tmp_path / "city"
    shutil.copytree(env["fx"].root, root)
    shutil.rmtree(root / "gtFine" / "train")
    unlabelled = {**env, "fx": dataclasses.replace(env["fx"], root=root)}
    runs = {"human": pseudo(env, tmp_path / "human", "--oracle-source", "human"),
            "unlabelled": pseudo(unlabelled, tmp_path / "unlabelled")}
    for name, code in runs.items():
        assert code == 0, name
        row = pd.read_csv(tmp_path / name / "pseudo_quality.csv").iloc[0]
        assert row["ground_truth"] == "none"
        assert row["coverage"] == reference["coverage"] and row["images"] == reference["images"]
        assert row[["accuracy", "mean_precision", "mean_recall", "recall_undefined"]].isna().all()
        truth, mine = PseudoStore(tmp_path / "truth/pseudo.h5"), PseudoStore(tmp_path / name /
                                                                              "pseudo.h5")
        for slot in range(len(truth)):
            np.testing.assert_array_equal(truth.label(slot), mine.label(slot))


def test_dominant_labels_give_one_class_per_region(env, tmp_path):
    assert pseudo(env, tmp_path, labels=env["dominant"], labelling="dominant") == 0
    fx = env["fx"]
    store = PseudoStore(tmp_path / "pseudo.h5")
    state = read_labels(env["dominant"])
    # the CLI's defaults: dominant.void ignore, dominant.rule argmax
    from actseg.stores import NO_LABEL, DominantRule

    dominant = read_oracle(fx.oracle).dominant_classes(DominantRule("ignore", "argmax"))
    assert store.image_index.tolist() == np.flatnonzero(
        (state.labelled & (dominant != NO_LABEL)).any(1)).tolist()
    regions = RegionsStore(fx.regions)
    for slot, n in enumerate(store.image_index):
        region_map = regions.region_map(n)
        inside = state.labelled[n][region_map]
        np.testing.assert_array_equal(store.label(slot)[inside],
                                      dominant[n][region_map[inside]])


@pytest.mark.parametrize("void", ["ignore", "vote"])
def test_an_oracle_without_histograms_gets_them_from_the_ground_truth(env, tmp_path, void):
    """An oracle.h5 written before the region histograms still gives every dominant.* answer
    (computed from the ground truth), so it need not be rebuilt."""
    import shutil

    import h5py

    fx = env["fx"]
    old = tmp_path / "old" / "oracle.h5"
    old.parent.mkdir()
    shutil.copy(fx.oracle, old)
    with h5py.File(old, "a") as f:
        for name in ("hist_sizes", "hist_classes", "hist_counts"):
            del f[name]
    assert read_oracle(old).hist_sizes is None
    outputs = []
    for oracle, folder in ((fx.oracle, tmp_path / "new"), (old, tmp_path / "old")):
        folder.mkdir(exist_ok=True)
        assert main(["pseudo", "--round", "1", "--model", str(env["model"]), "--dataset",
                     "synthetic", "--root", str(fx.root), "--regions", str(fx.regions),
                     "--oracle", str(oracle), "--labels", str(env["dominant"]),
                     "--labelling", "dominant", "--dominant-void", void,
                     "--dominant-rule", "sample", "--seed", "4", "--method", "naive",
                     "--batch-size", "2", "--device", "cpu", "--out",
                     str(folder / "pseudo.h5"), "--quality-csv",
                     str(folder / "quality.csv")]) == 0
        store = PseudoStore(folder / "pseudo.h5")
        outputs.append([store.label(s) for s in range(len(store))])
    assert len(outputs[0]) == len(outputs[1])
    for a, b in zip(*outputs):
        np.testing.assert_array_equal(a, b)


def test_errors_are_clear_and_write_nothing(env, tmp_path, capsys):
    assert pseudo(env, tmp_path, round_=2) == 1
    assert "holds round 1" in capsys.readouterr().err
    assert pseudo(env, tmp_path, labelling="dominant") == 1
    assert "labelling" in capsys.readouterr().err
    assert not (tmp_path / "pseudo.h5").exists()
    assert not (tmp_path / "pseudo_quality.csv").exists()
