"""No model is trained twice (issue 11, item 1): every round file lives in one folder per
distinct job provenance (actseg.experiments.branches). The dry-run counts are checked
against the number of distinct trainings computed here by hand from config.yaml's study
definitions, with the method's dependency rules written out independently of the code:

- round 1 selects at random: its selection depends on seed, regions, labelling and budget
  only; rounds >= 2 add the acquisition method (and kappa, for PixBal only);
- stage 1 of round t adds its loss settings (dominant labels train with the dominant loss:
  lambda_ce and the learning-rate factor, no lambda_mp / lambda_pp);
- stage 2 adds the pseudo-label settings (sources for prototypes only, the overlap rule
  only when expanding)."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest
import yaml
from workflow_runs import REPO, job_counts, snakemake

CONFIG = yaml.safe_load((REPO / "config.yaml").read_text())
STUDIES = list(CONFIG["studies"])


def merged(overrides: dict, base: dict | None = None) -> dict:
    out = copy.deepcopy(CONFIG if base is None else base)
    out.pop("studies", None)
    for key, value in overrides.items():
        if isinstance(value, dict):
            out[key] = merged(value, out.get(key, {})) if isinstance(out.get(key), dict) \
                else value
        else:
            out[key] = value
    return out


def stage1_identity(cfg: dict, t: int) -> tuple:
    s1, acq = cfg["stage1"], cfg["acquisition"]
    if cfg["labelling"] == "dominant":
        loss = ("dominant", s1["lambda_ce"], s1["dominant_lr_mult"])
    else:
        loss = (s1["loss"], s1["lambda_ce"], s1["lambda_mp"],
                s1["lambda_pp"] if s1["loss"] == "mp_pp" else None)
    scored = None
    if t >= 2:
        scored = (acq["method"], acq["kappa"] if acq["method"] == "pixbal" else None)
    return (cfg["seed"], cfg["regions"]["size"], cfg["labelling"], cfg["budget"], loss,
            scored, t)


def stage2_identity(cfg: dict, t: int) -> tuple:
    p = cfg["pseudo"]
    return (stage1_identity(cfg, t), p["method"], p["expand"],
            p["sources"] if p["method"] == "prototype" else None,
            p["rule"] if p["expand"] else None)


def distinct_trainings(studies: list[str]) -> tuple[int, int]:
    """(stage-1 trainings, stage-2 trainings) that the studies need, each counted once."""
    stage1, stage2 = set(), set()
    for study in studies:
        spec = CONFIG["studies"][study]
        for overrides in spec["variants"].values():
            for seed in spec["seeds"]:
                cfg = merged({**overrides, "seed": seed})
                for t in range(1, cfg["rounds"] + 1):
                    stage1.add(stage1_identity(cfg, t))
                    if 2 in spec.get("stages", [1, 2]):  # a stage-1 study trains no stage 2
                        stage2.add(stage2_identity(cfg, t))
    return len(stage1), len(stage2)


def test_the_hand_count_matches_the_issue():
    """Spot checks of the independent count: pseudo_labels trains stage 1 once per seed
    and round; acquisition shares round 1; hyperparams' kappa variants share round 1."""
    assert distinct_trainings(["pseudo_labels"]) == (5 * 3, 4 * 5 * 3)
    assert distinct_trainings(["acquisition"]) == ((1 + 4 * 4) * 3,) * 2
    assert distinct_trainings(["hyperparams"]) == ((5 + 7 * 4) * 3, 0)  # stages: [1]
    assert distinct_trainings(["losses"]) == ((5 + 2 * 5) * 3, 0)
    assert distinct_trainings(["budget"]) == ((5 + 10) * 3,) * 2


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("studies")
    shutil.copy(REPO / "config.yaml", work / "config.yaml")
    return work


@pytest.mark.slow
@pytest.mark.parametrize("study", STUDIES)
def test_each_study_trains_every_model_once(workdir, study):
    result = snakemake(workdir, f"results/figures/{study}.csv", "-n", timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    counts = job_counts(result.stdout)
    stage1, stage2 = distinct_trainings([study])
    assert (counts["train_stage1"], counts.get("train_stage2", 0)) == (stage1, stage2)
    # evaluations and pseudo labels follow their trainings; nothing runs twice, and a
    # stage-1 study (losses, hyperparams) runs no stage-2 job at all
    assert counts["evaluate_stage1"] == stage1
    assert counts.get("evaluate_stage2", 0) == counts.get("pseudo_labels", 0) == stage2


@pytest.mark.slow
def test_all_studies_together_train_every_model_once(workdir):
    """Studies share trainings with each other and with the default experiment."""
    targets = [f"results/figures/{study}.csv" for study in STUDIES]
    result = snakemake(workdir, *targets, "results/round5/miou.csv", "-n", timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    counts = job_counts(result.stdout)
    stage1, stage2 = distinct_trainings(STUDIES)
    assert (counts["train_stage1"], counts["train_stage2"]) == (stage1, stage2)


# ---------------------------------------------------------- folders (no Snakemake needed)


@pytest.fixture
def experiments(tmp_path, monkeypatch):
    from actseg.experiments.validation import validate_config

    monkeypatch.chdir(tmp_path)

    def build(studies: dict):
        return validate_config({"studies": copy.deepcopy(studies)})
    return build


ROUND_NAMES = ("labels.h5", "stage1.pt", "stage1_miou.csv", "pseudo.h5", "stage2.pt",
               "miou.csv")


def layout(experiments, exp: str, rounds=(1, 2, 3)) -> dict:
    cfg = experiments.config(exp)
    return {(t, name): experiments.path(cfg, t, name) for t in rounds for name in ROUND_NAMES}


def test_stage2_change_shares_the_stage1_branch(experiments):
    """A stage-2 or pseudo-label setting moves stage 2 only; the default experiment keeps
    results/round{t}/ and the variant reads its stage-1 branch there."""
    exps = experiments({"s": {"seeds": [0], "variants": {
        "lr": {"stage2": {"lr": 0.1}}, "naive": {"pseudo": {"method": "naive"}}}}})
    default = layout(exps, "")
    assert default[(2, "stage1.pt")] == "results/round2/stage1.pt"
    lr = layout(exps, "studies/s/lr/seed0/")
    for (t, name), path in lr.items():
        moved = name in ("stage2.pt", "miou.csv")
        assert (path != default[(t, name)]) == moved, (t, name, path)
    assert lr[(2, "stage2.pt")].startswith("results/runs/train_stage2-")
    naive = layout(exps, "studies/s/naive/seed0/")
    for (t, name), path in naive.items():
        assert (path != default[(t, name)]) == (name in ("pseudo.h5", "stage2.pt",
                                                         "miou.csv")), (t, name)


def test_equal_round1_settings_share_round1(experiments):
    exps = experiments({"s": {"seeds": [0, 1], "variants": {
        "k3": {"acquisition": {"kappa": 3.0}}, "random": {"acquisition": {"method": "random"}},
        "k3-again": {"acquisition": {"kappa": 3.0}}}}})
    default = layout(exps, "")
    k3 = layout(exps, "studies/s/k3/seed0/")
    assert all(k3[(1, name)] == default[(1, name)] for name in ROUND_NAMES)
    assert all(k3[(t, name)] != default[(t, name)] for t in (2, 3) for name in ROUND_NAMES)
    assert layout(exps, "studies/s/k3-again/seed0/") == k3
    random = layout(exps, "studies/s/random/seed0/")
    assert random[(1, "stage1.pt")] == default[(1, "stage1.pt")]
    assert random[(2, "labels.h5")] not in (default[(2, "labels.h5")], k3[(2, "labels.h5")])
    seed1 = layout(exps, "studies/s/k3/seed1/")
    assert not set(seed1.values()) & set(k3.values())  # another seed shares nothing
    # rounds >= 2 of one branch share a folder; every file is in its rule's folder
    assert Path(k3[(2, "stage1.pt")]).parent.parent == Path(k3[(3, "stage1.pt")]).parent.parent
    assert "/runs/train_stage1-" in k3[(2, "stage1.pt")]


def test_folders_do_not_depend_on_the_listed_studies(experiments):
    """A config listing a subset of the studies, or in another order, reuses the files."""
    a = {"one": {"seeds": [1], "variants": {"dom": {"labelling": "dominant"}}}}
    b = {"zero": {"seeds": [1], "variants": {"x": {"stage1": {"lambda_ce": 4.0}}}}, **a}
    first = layout(experiments(a), "studies/one/dom/seed1/")
    second = layout(experiments(b), "studies/one/dom/seed1/")
    assert first == second


def test_folders_do_not_depend_on_the_checkout(experiments):
    """The shipped weights resolve to this checkout's absolute path for the job, but the
    folder keys name them as the config does, so results move between machines."""
    from actseg.experiments import branches

    shipped = {"model": {"pretrained": "workflow/weights/small-pretext.pt"}}
    exps = experiments({"s": {"seeds": [1], "variants": {"v": shipped}}})
    text = json.dumps(sorted(branches.provenance(exps.config("studies/s/v/seed1/"),
                                                 "evaluate_stage2", 2)))
    assert str(REPO) not in text and "workflow/weights/small-pretext.pt" in text


def test_a_keyed_folder_resolves_to_its_settings(experiments):
    from actseg.experiments.variants import UnknownExperiment

    exps = experiments({"s": {"seeds": [0], "variants": {"lr": {"stage2": {"lr": 0.1}}}}})
    path = exps.path(exps.config("studies/s/lr/seed0/"), 2, "stage2.pt")
    folder = path[len("results/"):-len("round2/stage2.pt")]
    assert exps.config(folder)["stage2"]["lr"] == 0.1
    with pytest.raises(UnknownExperiment, match="no job of this config"):
        exps.config("runs/train_stage2-000000000000/")
