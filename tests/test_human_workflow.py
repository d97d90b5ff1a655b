"""End to end on the tiny config, two rounds: with `oracle.source: human` Snakemake stops at
once while answers are missing, a scripted annotator answers truthfully through the HTTP
server, Snakemake continues to round 2's evaluation, and the labels equal the simulated
run's; a noisy second annotator shows up in the agreement report. A pool without train
ground truth runs through round 1's evaluation."""

from __future__ import annotations

import shutil
import threading

import numpy as np
import pandas as pd
import pytest
import yaml

from actseg.human.app import OracleApp, RoundQueues
from actseg.human.quality import annotator_report
from actseg.human.store import QueueStore
from actseg.stores import read_labels, read_oracle
from actseg.survey.server import make_server
from conftest import tiny_config
from human_annotator import HttpAnnotator
from workflow_runs import snakemake

pytestmark = pytest.mark.slow
RUN = ("--cores", "2", "--resources", "gpu=1")
TARGET = "results/round2/miou.csv"
ORACLE = "results/regions/tiny-grid8/oracle.h5"


def workdir(tmp_path, name, source):
    cfg = tiny_config()
    cfg["rounds"], cfg["oracle"]["source"], cfg["oracle"]["repeat_fraction"] = 2, source, 0.5
    work = tmp_path / name
    work.mkdir()
    (work / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return work


@pytest.fixture
def server(tmp_path):
    work = workdir(tmp_path, "human", "human")
    store = QueueStore(work / "results/human/answers.sqlite")
    store.add_participants(["a01", "a02"])
    http = make_server(OracleApp(RoundQueues(work / "results"), store, 32))
    threading.Thread(target=http.serve_forever, daemon=True).start()
    yield work, store, f"http://127.0.0.1:{http.server_port}"
    http.shutdown()
    http.server_close()


def test_human_loop_equals_the_simulated_run(tmp_path, server):
    work, store, url = server
    simulated = workdir(tmp_path, "simulated", "simulated")
    assert snakemake(simulated, TARGET, *RUN).returncode == 0
    assert snakemake(work, ORACLE, *RUN).returncode == 0  # the truth the script answers from
    oracle = read_oracle(work / ORACLE)
    tokens = store.tokens()
    truthful = HttpAnnotator(url, tokens["a01"], oracle)
    for round_ in (1, 2):
        stopped = snakemake(work, TARGET, *RUN)
        assert stopped.returncode != 0
        assert f"round {round_}: the human oracle's answers are not complete" in stopped.stderr
        assert "queries open" in stopped.stderr and "http://127.0.0.1:8765/" in stopped.stderr
        assert truthful.run()
        HttpAnnotator(url, tokens["a02"], oracle).run(noise=1.0)  # the repeats, all wrong
    result = snakemake(work, TARGET, *RUN)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (work / TARGET).exists()
    for round_ in (1, 2):
        human = read_labels(work / f"results/round{round_}/labels.h5")
        machine = read_labels(simulated / f"results/round{round_}/labels.h5")
        np.testing.assert_array_equal(human.labelled_round, machine.labelled_round)
        np.testing.assert_array_equal(human.scores, machine.scores)
        assert human.clicks_per_round == machine.clicks_per_round
        assert human.regions_per_round == machine.regions_per_round
    report = annotator_report(store.answers()).set_index("annotator")
    assert report.loc["a02", "repeated"] > 0 and report.loc["a02", "agreement"] < 1


def test_human_loop_without_train_ground_truth(tmp_path):
    """The training pool has no label files: regions, the pool, the queue, labels, stage 1,
    pseudo labels (quality CSV marked "no ground truth"), stage 2 and round 1's evaluation
    run on the validation split's ground truth alone."""
    cfg = tiny_config()
    cfg["rounds"], cfg["oracle"]["source"], cfg["oracle"]["repeat_fraction"] = 1, "human", 0.0
    work = tmp_path / "unlabelled"
    work.mkdir()
    (work / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    # the truth the script answers from, then every trace of train ground truth goes
    assert snakemake(work, ORACLE, *RUN).returncode == 0
    oracle = read_oracle(work / ORACLE)
    shutil.rmtree(work / "results/regions")
    train_labels = work / cfg["dataset"]["root"] / "gtFine" / "train"
    assert any(train_labels.rglob("*_gtFine_labelIds.png"))
    shutil.rmtree(train_labels)
    target = "results/round1/miou.csv"
    store = QueueStore(work / "results/human/answers.sqlite")
    store.add_participants(["a01"])
    http = make_server(OracleApp(RoundQueues(work / "results"), store, 32))
    threading.Thread(target=http.serve_forever, daemon=True).start()
    try:
        stopped = snakemake(work, target, *RUN)
        assert "round 1: the human oracle's answers are not complete" in stopped.stderr, \
            stopped.stdout + stopped.stderr
        url = f"http://127.0.0.1:{http.server_port}"
        assert HttpAnnotator(url, store.tokens()["a01"], oracle).run()
    finally:
        http.shutdown()
        http.server_close()
    result = snakemake(work, target, *RUN)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not (work / ORACLE).exists() and not train_labels.exists()
    quality = pd.read_csv(work / "results/round1/pseudo_quality.csv").iloc[0]
    assert quality["ground_truth"] == "none" and quality["images"] > 0
    assert 0 < quality["coverage"] <= 1 and np.isnan(quality["accuracy"])
    miou = pd.read_csv(work / target)
    assert len(miou) == 2 and miou["miou"].notna().all()
