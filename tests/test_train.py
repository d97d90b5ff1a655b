"""Training loop: schedule, sampler, datasets, keep_classifier, determinism, resume, errors."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import torch

from actseg.model import build_model
from actseg.stores import PseudoStore, RegionsStore, read_labels, read_oracle
from actseg.train import (InfiniteBatchSampler, NonFiniteLossError, PartialLabelObjective,
                          PixelLabelObjective, TrainSettings, build_optimizer, copy_classifier,
                          poly_lr, resume_path, set_lr, train)
from actseg.trainsets import FullySupervisedDataset, Stage1Dataset, Stage2Dataset
from actseg.transforms import TrainAugment

from pipeline_fixtures import build_round1

TINY_MODEL = dict(backbone="small", output_stride=16, aspp_rates=(1, 2, 3))
CROP = (32, 32)


@pytest.fixture(scope="module")
def fx(tmp_path_factory):
    return build_round1(tmp_path_factory.mktemp("pipeline"))


@pytest.fixture(scope="module")
def train_ds(fx):
    from actseg.datasets import open_dataset

    return open_dataset(fx.dataset_kind, fx.root, "train")


def _stage1_set(fx, train_ds, crop=CROP, scale=(0.5, 2.0)):
    return Stage1Dataset(train_ds, RegionsStore(fx.regions), read_oracle(fx.oracle),
                         read_labels(fx.labels), "multiclass", TrainAugment(crop, scale))


def _model(num_classes, seed=0):
    torch.manual_seed(seed)
    return build_model(num_classes=num_classes, **TINY_MODEL)


def _settings(**kw):
    base = dict(iterations=6, batch_size=2, lr=1e-3, checkpoint_every=3, log_every=2,
                device="cpu", seed=0)
    base.update(kw)
    return TrainSettings(**base)


def _weights(path):
    return torch.load(path, map_location="cpu", weights_only=True)["model"]


def _assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


# ---------------------------------------------------------------------- schedule, optim


def test_poly_lr_values():
    assert poly_lr(1e-3, 0, 100, 0.9, 1e-6) == pytest.approx(1e-3)
    assert poly_lr(1e-3, 50, 100, 0.9, 1e-6) == pytest.approx(1e-3 * 0.5**0.9)
    # clipped, not rescaled: 1e-3 * 0.01**1 = 1e-5 < 2e-5 -> the floor
    assert poly_lr(1e-3, 99, 100, 1.0, 2e-5) == pytest.approx(2e-5)
    assert poly_lr(1e-3, 90, 100, 1.0, 2e-5) == pytest.approx(1e-4)
    assert poly_lr(1e-3, 100, 100, 0.9, 1e-6) == pytest.approx(1e-6)
    values = [poly_lr(1e-3, i, 100, 0.9, 1e-6) for i in range(101)]
    assert all(a > b for a, b in zip(values, values[1:]))


def test_optimizer_groups_and_schedule():
    model = _model(3)
    settings = _settings(lr=2e-4, head_lr_mult=10.0, weight_decay=1e-5, iterations=10)
    opt = build_optimizer(model, settings)
    backbone, head = opt.param_groups
    assert {id(p) for p in backbone["params"]} == {id(p) for p in model.backbone.parameters()}
    assert {id(p) for p in backbone["params"]} | {id(p) for p in head["params"]} == \
        {id(p) for p in model.parameters()}
    assert any(p is model.classifier.weight for p in head["params"])
    assert backbone["weight_decay"] == head["weight_decay"] == 1e-5
    lr = set_lr(opt, 5, settings)
    assert lr == pytest.approx(poly_lr(2e-4, 5, 10, 0.9, 1e-6))
    assert head["lr"] == pytest.approx(poly_lr(2e-3, 5, 10, 0.9, 1e-6))


# ----------------------------------------------------------------------------- sampler


def test_sampler_epochs_are_permutations_and_resume_is_a_suffix():
    sampler = InfiniteBatchSampler(5, 3, seed=7)
    batches = iter(sampler)
    drawn = [next(batches) for _ in range(10)]  # 30 samples = 6 epochs
    flat = [pair for batch in drawn for pair in batch]
    for epoch in range(6):
        assert sorted(p for p, _ in flat[5 * epoch:5 * epoch + 5]) == list(range(5))
    assert len({s for _, s in flat}) == 30  # one augmentation seed per draw
    assert [p for p, _ in flat[:5]] != [p for p, _ in flat[5:10]] or \
        [p for p, _ in flat[5:10]] != [p for p, _ in flat[10:15]]
    resumed = iter(InfiniteBatchSampler(5, 3, seed=7, start_batch=4))
    assert [next(resumed) for _ in range(6)] == drawn[4:]
    other = iter(InfiniteBatchSampler(5, 3, seed=8))
    assert next(other) != drawn[0]


# ---------------------------------------------------------------------------- datasets


def test_stage1_dataset_targets(fx, train_ds):
    oracle = read_oracle(fx.oracle)
    labels = read_labels(fx.labels)
    regions = RegionsStore(fx.regions)
    # scale 1, crop = image size, no flip on this seed -> the untouched maps
    ds = Stage1Dataset(train_ds, regions, oracle, labels, "multiclass",
                       TrainAugment(train_ds.image_size(0), (1.0, 1.0), flip=False))
    assert list(ds.examples) == list(np.flatnonzero(labels.labelled.any(axis=1)))
    for position, index in enumerate(ds.examples):
        image, region_map, multihot = ds[(position, 0)]
        full = regions.region_map(int(index))
        expected = np.where(labels.labelled[index][full], full, -1)
        np.testing.assert_array_equal(region_map.numpy(), expected)
        assert region_map.dtype == torch.int64 and multihot.dtype == torch.bool
        assert multihot.shape == (regions.r_max, oracle.num_classes + 1)
        bits = np.left_shift(1, np.arange(oracle.num_classes + 1))
        for r in range(regions.r_max):
            want = (oracle.multihot[index, r] & bits) > 0 if labels.labelled[index, r] else 0
            np.testing.assert_array_equal(multihot[r].numpy(), want)
        assert image.shape == (3,) + tuple(train_ds.image_size(0))


def test_stage2_and_supervised_datasets(fx, train_ds):
    pseudo = PseudoStore(fx.pseudo)
    aug = TrainAugment(train_ds.image_size(0), (1.0, 1.0), flip=False)
    s2 = Stage2Dataset(train_ds, pseudo, aug)
    assert len(s2) == len(pseudo)
    _, target = s2[(1, 0)]
    np.testing.assert_array_equal(target.numpy(), pseudo.label(1).astype(np.int64))
    full = FullySupervisedDataset(train_ds, aug)
    _, target = full[(2, 0)]
    np.testing.assert_array_equal(target.numpy(), train_ds.load_label(2).astype(np.int64))
    # random augmentation: padded pixels carry 255, values stay in the label vocabulary
    aug = TrainAugment((48, 80), (0.5, 0.6))
    _, target = FullySupervisedDataset(train_ds, aug)[(0, 3)]
    assert target.shape == (48, 80) and (target[40:] == 255).all()


# ---------------------------------------------------------------------- keep_classifier


def test_copy_classifier_copies_exactly_the_classifier(tmp_path):
    source = _model(4, seed=1)
    torch.save({"model": source.state_dict(), "meta": {}}, tmp_path / "prev.pt")
    fresh = _model(4, seed=2)
    before = {k: v.clone() for k, v in fresh.state_dict().items()}
    copy_classifier(fresh, tmp_path / "prev.pt")
    after = fresh.state_dict()
    for key in after:
        if key.startswith("classifier."):
            assert torch.equal(after[key], source.state_dict()[key])
            assert not torch.equal(after[key], before[key])
        else:
            assert torch.equal(after[key], before[key]), key
    torch.save({"model": _model(6).state_dict(), "meta": {}}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="other.pt.*do not match"):
        copy_classifier(fresh, tmp_path / "other.pt")


# ---------------------------------------------------------------------------- the loop


def _train_stage1(fx, train_ds, out, **kw):
    model = _model(train_ds.num_classes)
    train(model, _stage1_set(fx, train_ds), PartialLabelObjective(), _settings(**kw),
          out, out.with_suffix(".csv"), meta={"stage": 1}, progress=False)
    return out


def test_training_is_deterministic_and_writes_log(fx, train_ds, tmp_path, one_thread):
    a = _train_stage1(fx, train_ds, tmp_path / "a.pt")
    b = _train_stage1(fx, train_ds, tmp_path / "b.pt", num_workers=1)  # workers change nothing
    _assert_same_weights(_weights(a), _weights(b))
    initial = _model(train_ds.num_classes).state_dict()
    assert not torch.equal(_weights(a)["classifier.weight"], initial["classifier.weight"])
    log = pd.read_csv(tmp_path / "a.csv")
    assert list(log.columns) == ["iteration", "ce", "mp", "pp", "total", "lr",
                                 "images_per_s", "skipped"]
    assert log["iteration"].tolist() == [2, 3, 4, 6]  # every 2 and at the checkpoint (3)
    assert np.isfinite(log["total"]).all()
    assert not resume_path(a).exists()
    assert not list(tmp_path.glob(".*partial"))
    meta = torch.load(a, weights_only=True)["meta"]
    assert meta["stage"] == 1 and meta["iterations"] == 6


class _Interrupt(Exception):
    pass


def test_resumed_run_equals_uninterrupted_run(fx, train_ds, tmp_path, monkeypatch):
    whole = _train_stage1(fx, train_ds, tmp_path / "whole.pt")
    import actseg.train as train_module

    real_step = train_module._step

    def dying_step(*args):
        if args[-1] == 5:  # iteration 5 (1-based): after the checkpoint at 3
            raise _Interrupt
        return real_step(*args)

    monkeypatch.setattr(train_module, "_step", dying_step)
    out = tmp_path / "resumed.pt"
    with pytest.raises(_Interrupt):
        _train_stage1(fx, train_ds, out)
    assert resume_path(out).exists() and not out.exists()
    monkeypatch.setattr(train_module, "_step", real_step)
    _train_stage1(fx, train_ds, out)
    _assert_same_weights(_weights(whole), _weights(out))
    log = pd.read_csv(tmp_path / "resumed.csv")
    assert log["iteration"].tolist() == [2, 3, 4, 6]
    whole_log = pd.read_csv(tmp_path / "whole.csv")
    for col in ("ce", "mp", "pp", "total", "lr"):
        np.testing.assert_allclose(log[col], whole_log[col], rtol=1e-6)


@pytest.mark.parametrize("content,message", [
    ({"extra": {"run_key": {"lr": 123}}, "iteration": 3}, "other settings"),
    (b"garbage", "unreadable resume file"),
])
def test_stale_or_corrupt_resume_file_is_ignored(fx, train_ds, tmp_path, caplog, content,
                                                 message):
    out = tmp_path / "x.pt"
    if isinstance(content, bytes):
        resume_path(out).write_bytes(content)
    else:
        torch.save(content, resume_path(out))
    _train_stage1(fx, train_ds, out, iterations=2)
    assert message in caplog.text
    assert out.exists() and not resume_path(out).exists()


class _NaNAfter(PartialLabelObjective):
    def __init__(self, bad_call):
        super().__init__()
        self.calls, self.bad_call = 0, bad_call

    def __call__(self, logits, targets):
        self.calls += 1
        total, terms = super().__call__(logits, targets)
        if self.calls == self.bad_call:
            terms = {**terms, "pp": terms["pp"] * math.nan}
            total = total + terms["pp"]
        return total, terms


def test_non_finite_loss_names_iteration_and_terms(fx, train_ds, tmp_path):
    with pytest.raises(NonFiniteLossError, match=r"iteration 2: ce=[0-9.]+, mp=[0-9.]+, "
                                                 r"pp=nan, total=nan"):
        train(_model(train_ds.num_classes), _stage1_set(fx, train_ds), _NaNAfter(2),
              _settings(), tmp_path / "nan.pt", tmp_path / "nan.csv", {}, progress=False)
    assert not (tmp_path / "nan.pt").exists()


class _NeverLabelled(PixelLabelObjective):
    def has_labels(self, targets):
        return False


def test_steps_without_labels_are_skipped(fx, train_ds, tmp_path):
    model = _model(train_ds.num_classes)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    train(model, FullySupervisedDataset(train_ds, TrainAugment(CROP)), _NeverLabelled(),
          _settings(iterations=4, log_every=4), tmp_path / "s.pt", tmp_path / "s.csv", {},
          progress=False)
    _assert_same_weights(before, _weights(tmp_path / "s.pt"))
    log = pd.read_csv(tmp_path / "s.csv")
    assert log["skipped"].tolist() == [3, 1] and log["total"].isna().all()


def test_pixel_objective_ignores_255():
    objective = PixelLabelObjective(tau=0.5)
    logits = torch.randn(1, 3, 2, 2, requires_grad=True)
    target = torch.tensor([[[0, 255], [2, 255]]])
    total, terms = objective(logits, [target])
    probs = torch.log_softmax(logits / 0.5, dim=1)
    expected = -(probs[0, 0, 0, 0] + probs[0, 2, 1, 0]) / 2
    assert total.item() == pytest.approx(expected.item(), rel=1e-6)
    assert objective.has_labels([target]) and not objective.has_labels([target * 0 + 255])


# ------------------------------------------------------------------------------- CLI


def _cli_args(fx, out, stage, iterations, checkpoint_every, extra=()):
    args = [sys.executable, "-m", "actseg", "train", "--stage", str(stage), "--dataset",
            fx.dataset_kind, "--root", str(fx.root), "--out", str(out), "--log-csv",
            str(out.with_suffix(".csv")), "--aspp-rates", "1", "2", "3",
            "--iterations", str(iterations), "--batch-size", "2", "--lr", "1e-3",
            "--crop-size", "32", "32", "--checkpoint-every", str(checkpoint_every),
            "--device", "cpu", "--threads", "1", "--seed", "3"]
    if stage == 1:
        args += ["--regions", str(fx.regions), "--oracle", str(fx.oracle), "--labels",
                 str(fx.labels)]
    if stage == 2:
        args += ["--pseudo", str(fx.pseudo)]
    return args + list(extra)


@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_cli_help(command):
    result = subprocess.run([sys.executable, "-m", "actseg", command, "--help"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    expected = {"train": ["--stage", "--checkpoint-every", "--init-classifier", "--pseudo"],
                "evaluate": ["--stage", "--model", "--stage1-csv", "--previous"]}[command]
    assert all(option in result.stdout for option in expected)


def test_cli_missing_stage_inputs_is_a_clear_error(fx, tmp_path):
    args = _cli_args(fx, tmp_path / "m.pt", 1, 2, 1)
    cut = args.index("--regions")
    result = subprocess.run(args[:cut], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "--stage 1 needs --regions --oracle --labels" in result.stderr


@pytest.mark.slow
def test_stage2_cli_then_evaluate_curve(fx, tmp_path):
    env = dict(os.environ)
    s1, s2 = tmp_path / "stage1.pt", tmp_path / "stage2.pt"
    for out, stage in ((s1, 1), (s2, 2)):
        subprocess.run(_cli_args(fx, out, stage, 4, 2), check=True, env=env, timeout=300)
    common = [sys.executable, "-m", "actseg", "evaluate", "--dataset", fx.dataset_kind,
              "--root", str(fx.root), "--round", "1", "--labels", str(fx.labels),
              "--device", "cpu"]
    subprocess.run(common + ["--model", str(s1), "--stage", "1", "--out",
                             str(tmp_path / "stage1_miou.csv")], check=True, timeout=300)
    subprocess.run(common + ["--model", str(s2), "--stage", "2", "--stage1-csv",
                             str(tmp_path / "stage1_miou.csv"), "--out",
                             str(tmp_path / "miou.csv")], check=True, timeout=300)
    curve = pd.read_csv(tmp_path / "miou.csv")
    state = read_labels(fx.labels)
    assert curve[["round", "stage"]].values.tolist() == [[1, 1], [1, 2]]
    assert (curve["clicks"] == state.clicks_per_round[0]).all()
    assert (curve["regions"] == state.regions_per_round[0]).all()
    assert ((curve["miou"] >= 0) & (curve["miou"] <= 1)).all()
    meta = torch.load(s2, weights_only=True)["meta"]
    assert meta["stage"] == 2


@pytest.mark.slow
def test_sigkill_then_rerun_resumes_and_matches_uninterrupted(fx, tmp_path):
    iterations, every = 400, 5
    killed = tmp_path / "killed.pt"
    proc = subprocess.Popen(_cli_args(fx, killed, 1, iterations, every),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while not resume_path(killed).exists():
        assert proc.poll() is None, "training ended before writing a resume file"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    second = subprocess.run(_cli_args(fx, killed, 1, iterations, every), capture_output=True,
                            text=True, timeout=300)  # as a rerun beside an orphaned job
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert second.returncode == 1 and f"process {proc.pid} is still writing it" in \
        second.stderr, second.stderr
    assert "Traceback" not in second.stderr
    assert not killed.exists()
    rerun = subprocess.run(_cli_args(fx, killed, 1, iterations, every), capture_output=True,
                           text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    resumed_at = [line for line in rerun.stderr.splitlines() if "resumed from iteration" in line]
    assert resumed_at, rerun.stderr
    start = int(resumed_at[0].split("resumed from iteration")[1].split()[0])
    assert 0 < start < iterations and start % every == 0
    assert killed.exists() and not resume_path(killed).exists()
    whole = tmp_path / "whole.pt"
    subprocess.run(_cli_args(fx, whole, 1, iterations, every), check=True, timeout=600,
                   capture_output=True)
    _assert_same_weights(_weights(whole), _weights(killed))
    log = pd.read_csv(killed.with_suffix(".csv"))
    assert log["iteration"].is_monotonic_increasing and log["iteration"].iloc[-1] == iterations
    assert log["iteration"].tolist() == pd.read_csv(whole.with_suffix(".csv"))["iteration"].tolist()


def test_stage1_dataset_dominant_labelling_gives_one_bit(fx, train_ds):
    oracle = read_oracle(fx.oracle)
    labels = read_labels(fx.labels)
    ds = Stage1Dataset(train_ds, RegionsStore(fx.regions), oracle, labels, "dominant",
                       TrainAugment(CROP))
    for position, index in enumerate(ds.examples[:3]):
        _, _, multihot = ds[(position, 1)]
        labelled = labels.labelled[index]
        assert (multihot[torch.from_numpy(labelled)].sum(dim=1) == 1).all()
        assert not multihot[torch.from_numpy(~labelled)].any()
        winners = multihot.float().argmax(dim=1).numpy()[labelled]
        np.testing.assert_array_equal(winners, oracle.dominant[index][labelled])


@pytest.mark.parametrize("void", ["ignore", "vote", "class"])
def test_stage1_dataset_dominant_rule_answers_or_trains_nothing(fx, train_ds, void):
    """A bought region whose dominant answer is void (dominant.void ignore / vote) is no
    labelled region of the training set: no bits and no pixels; under ignore the void
    pixels of an answered region are unlabelled too."""
    from actseg.stores import NO_LABEL, DominantRule

    oracle, labels = read_oracle(fx.oracle), read_labels(fx.labels)
    rule = DominantRule(void, "argmax")
    regions = RegionsStore(fx.regions)
    ds = Stage1Dataset(train_ds, regions, oracle, labels, "dominant",
                       TrainAugment(train_ds.image_size(0), (1.0, 1.0), flip=False), rule)
    answer = oracle.dominant_classes(rule)
    trained = labels.labelled & (answer != NO_LABEL)
    assert list(ds.examples) == list(np.flatnonzero(trained.any(axis=1)))
    for position, index in enumerate(ds.examples[:3]):
        _, region_map, multihot = ds[(position, 0)]
        full = regions.region_map(int(index))
        keep = trained[index][full]
        if void == "ignore":
            keep &= train_ds.load_label(int(index)) != 255
        np.testing.assert_array_equal(region_map.numpy(), np.where(keep, full, -1))
        got = multihot.numpy()
        assert (got.sum(axis=1) == trained[index]).all()
        np.testing.assert_array_equal(got[trained[index]].argmax(axis=1),
                                      answer[index][trained[index]])


# ------------------------------------------------------------- resume on changed inputs


def _dying_at(monkeypatch, iteration):
    """Make training raise _Interrupt at `iteration` (1-based), as a kill would."""
    import actseg.train as train_module

    real_step = train_module._step

    def dying_step(*args):
        if args[-1] == iteration:
            raise _Interrupt
        return real_step(*args)

    monkeypatch.setattr(train_module, "_step", dying_step)
    return lambda: monkeypatch.setattr(train_module, "_step", real_step)


def test_killed_run_with_changed_labels_restarts_and_equals_a_clean_run(
        fx, tmp_path, monkeypatch, caplog, one_thread):
    """kill, then change the labels (as a budget change would) at the same path: the rerun
    must not resume the weights trained on the old labels (issue 17, item 2)."""
    from actseg.cli import main

    from pipeline_fixtures import make_labels

    labels = tmp_path / "labels.h5"
    make_labels(fx.regions, fx.oracle, labels, fraction=0.3)

    def run(out):
        argv = _cli_args(fx, out, 1, 6, 3)[3:]
        argv[argv.index(str(fx.labels))] = str(labels)
        return main(argv)

    out = tmp_path / "stage1.pt"
    restore = _dying_at(monkeypatch, 5)
    with pytest.raises(_Interrupt):
        run(out)
    restore()
    assert resume_path(out).exists()
    make_labels(fx.regions, fx.oracle, labels, fraction=0.6, seed=1)  # a bigger budget
    assert run(out) == 0
    assert "starting from scratch" in caplog.text and "labels" in caplog.text
    assert "resumed from iteration" not in caplog.text
    clean = tmp_path / "clean.pt"
    assert run(clean) == 0
    _assert_same_weights(_weights(clean), _weights(out))


def test_a_live_holder_of_the_lock_refuses_a_second_run_and_a_dead_ones_is_taken_over(
        fx, train_ds, tmp_path):
    from actseg.fileio import host_name
    from actseg.locks import LockedError, lock_path

    out = tmp_path / "x.pt"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock_path(out).write_text(f"{host_name()} {sleeper.pid}\n")
        with pytest.raises(LockedError, match=f"process {sleeper.pid} is still writing it"):
            _train_stage1(fx, train_ds, out, iterations=2)
    finally:
        sleeper.kill()
        sleeper.wait()
    _train_stage1(fx, train_ds, out, iterations=2)  # the holder is dead: a stale lock
    assert out.exists() and not lock_path(out).exists()


def test_best_checkpoint_selection_writes_the_best_weights(fx, train_ds, tmp_path, one_thread):
    """Scores 0.2, 0.9, 0.1 at iterations 2, 4, 6: the checkpoint is iteration 4's model."""
    from test_selection import Scripted

    objective = PartialLabelObjective()
    snapshots = {}

    class Recording(Scripted):
        def __call__(self, model):
            snapshots[len(snapshots)] = {k: v.clone() for k, v in model.state_dict().items()}
            return super().__call__(model)

    out = tmp_path / "s.pt"
    train(_model(train_ds.num_classes), _stage1_set(fx, train_ds), objective, _settings(),
          out, tmp_path / "log.csv", {"num_classes": train_ds.num_classes}, progress=False,
          validation=(Recording([0.2, 0.9, 0.1]), 2))
    saved = torch.load(out, map_location="cpu", weights_only=True)
    _assert_same_weights(saved["model"], snapshots[1])
    assert saved["meta"]["selected_iteration"] == 4
    assert not (tmp_path / "s.pt.best.pt").exists()
