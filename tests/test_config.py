"""The config schema and the experiment layer's config checks (actseg.experiments): bad
configs fail with the offending key named; good partial configs get their defaults; study
variants resolve to merged settings and shared paths. A few tests run Snakemake itself to
show that it stops before any job (marked slow)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml
from workflow_runs import REPO, job_counts, snakemake

from actseg.experiments.validation import ConfigError, validate_config

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    shutil.copy(REPO / "config.yaml", tmp_path / "config.yaml")
    return tmp_path


def dry_run_with(workdir: Path, overrides: dict, *targets: str):
    (workdir / "extra.yaml").write_text(yaml.safe_dump(overrides))
    # targets first: --configfile takes several values and would swallow them
    return snakemake(workdir, *targets, "-n", "--quiet", "rules", "--configfile", "extra.yaml",
                     timeout=120)


def test_schema_is_draft_2020_12_and_closed_everywhere():
    import jsonschema

    schema = yaml.safe_load(SCHEMA.read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)

    def objects(node, path="config"):
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node:
                yield path, node
            for key, value in node.items():
                yield from objects(value, f"{path}.{key}")
        elif isinstance(node, list):
            for item in node:
                yield from objects(item, path)

    found = list(objects(schema))
    assert len(found) >= 10
    for path, node in found:
        assert node.get("additionalProperties") is False, path
        for key, prop in node["properties"].items():
            assert prop.get("description"), f"{path}.{key} has no description"
            if path != "config.properties.studies.additionalProperties" or key == "seeds":
                assert "default" in prop, f"{path}.{key} has no default"


def test_default_config_is_valid_and_complete():
    """config.yaml holds every schema key (it documents the default experiment)."""
    import jsonschema

    schema = yaml.safe_load(SCHEMA.read_text())
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    jsonschema.Draft202012Validator(schema).validate(config)
    for key, prop in schema["properties"].items():
        if key != "studies":
            assert key in config, key
        if prop.get("type") == "object" and "properties" in prop and key != "studies":
            missing = set(prop["properties"]) - set(config[key])
            assert not missing, f"config.yaml lacks {key}.{sorted(missing)}"


BAD_CONFIGS = [
    ({"budgte": 10}, ["budgte", "did you mean 'budget'"]),
    ({"regions": {"sizee": 4}}, ["regions.sizee", "did you mean 'size'"]),
    ({"regions": {"size": 0}}, ["regions.size", "minimum"]),
    ({"acquisition": {"method": "entropy"}}, ["acquisition.method", "entropy"]),
    ({"rounds": "five"}, ["rounds", "integer"]),
    ({"device": "tpu"}, ["device", "tpu"]),
    ({"stage2": {"lr": -1}}, ["stage2.lr"]),
    ({"train": {"crop_size": [128]}}, ["train.crop_size"]),
    ({"train": {"crop_size": [1025, 1025]}}, ["train.crop_size", "exceeds"]),
    ({"train": {"scale_range": [2.0, 0.5]}}, ["train.scale_range", "low exceeds high"]),
    ({"dataset": {"kind": "cityscapes", "root": "no/such/tree"}},
     ["dataset.root", "does not exist"]),
    ({"model": {"pretrained": "missing.pth"}}, ["model.pretrained", "missing.pth"]),
    ({"studies": {"s": {"variants": {"v": {"regions": {"sise": 16}}}}}},
     ["studies.s.variants.v", "regions.sise"]),
    ({"studies": {"s": {"variants": {"v": {"threads": 4}}}}},
     ["studies.s.variants.v", "threads"]),
    ({"studies": {"s": {"seeds": [0, 0], "variants": {"v": {}}}}}, ["studies.s.seeds"]),
]


def default_config_with(overrides: dict) -> dict:
    from actseg.experiments.variants import merge

    return merge(yaml.safe_load((REPO / "config.yaml").read_text()), overrides)


@pytest.mark.parametrize("overrides, expected", BAD_CONFIGS,
                         ids=[next(iter(o)) + str(i) for i, (o, _) in enumerate(BAD_CONFIGS)])
def test_bad_config_is_refused_naming_the_key(tmp_path, monkeypatch, overrides, expected):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as caught:
        validate_config(default_config_with(overrides))
    message = str(caught.value)
    assert message.startswith("invalid configuration")
    for text in expected:
        assert text in message, f"{text!r} not in:\n{message}"


@pytest.mark.slow
def test_bad_config_stops_snakemake_before_any_job(workdir):
    result = dry_run_with(workdir, {"budgte": 10})
    assert result.returncode != 0
    message = result.stderr + result.stdout
    assert "invalid configuration" in message and "did you mean 'budget'" in message
    assert not (workdir / "results").exists()


def test_synthetic_root_holding_other_files_is_refused(tmp_path, monkeypatch):
    """kind synthetic regenerates its root with --force: never over someone's data."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mydata").mkdir()
    (tmp_path / "mydata" / "precious.txt").write_text("keep me")
    with pytest.raises(ConfigError) as caught:
        validate_config(default_config_with({"dataset": {"root": "mydata"}}))
    assert "dataset.root mydata holds files that are not a generated synthetic city" in \
        str(caught.value)
    assert (tmp_path / "mydata" / "precious.txt").exists()


def test_partial_config_gets_defaults(tmp_path, monkeypatch):
    """A config with one key: every other key takes its schema default."""
    from actseg import schema

    monkeypatch.chdir(tmp_path)
    cfg = {"rounds": 2}
    validate_config(cfg)
    assert cfg["rounds"] == 2 and cfg["studies"] == {}
    for key in schema.setting_keys():
        if key != "rounds":
            assert schema.lookup(cfg, key) == schema.default(key), key


@pytest.mark.slow
def test_partial_config_dry_run(tmp_path):
    (tmp_path / "config.yaml").write_text("rounds: 2\n")
    result = snakemake(tmp_path, "-n", "--quiet", "rules", timeout=120)
    assert result.returncode == 0, result.stderr
    counts = job_counts(result.stdout)
    assert counts == {"synthesize_synthetic": 1, "regions": 1, "oracle": 1, "select": 2,
                      "train_stage1": 2, "evaluate_stage1": 2, "pseudo_labels": 2,
                      "train_stage2": 2, "evaluate_stage2": 2, "all": 1}


@pytest.mark.slow
def test_study_variant_runs_in_keyed_folders_with_shared_regions(workdir):
    studies = {"studies": {"size": {"seeds": [0, 1], "variants": {
        "sp16": {"regions": {"size": 16}}, "sp8": {}}}}}
    result = dry_run_with(workdir, studies, "results/figures/size.csv",
                          "results/round1/labels.h5")
    assert result.returncode == 0, result.stderr
    counts = job_counts(result.stdout)
    # sp16 needs its own regions and oracle; sp8 shares the default experiment's
    assert counts["regions"] == 2 and counts["oracle"] == 2
    # sp8 seed 0 is the default experiment: 3 of the 4 runs are new, 5 rounds each
    assert counts["select"] == counts["train_stage2"] == 4 * 5

    full = snakemake(workdir, "results/figures/size.csv", "-n", "--configfile", "extra.yaml",
                     timeout=120)
    assert "results/regions/synthetic-slic16/regions.h5" in full.stdout
    assert "results/round1/stage1.pt" in full.stdout
    assert re.search(r"results/runs/train_stage1-[0-9a-f]{12}/round1/stage1\.pt", full.stdout)
    assert '"size": 16' not in full.stdout  # shell commands are not printed without -p
    printed = snakemake(workdir, "results/figures/size.csv", "-n", "-p", "--configfile",
                        "extra.yaml", timeout=120).stdout
    assert '"seed": 1' in printed and '"size": 16' in printed


@pytest.mark.slow
def test_unknown_study_is_named(workdir):
    result = dry_run_with(workdir, {}, "results/figures/nosuch.csv")
    assert result.returncode != 0
    assert "no study 'nosuch'" in result.stderr + result.stdout


def test_experiment_helpers(tmp_path, monkeypatch):
    """config() merges overrides over the defaults and takes the seed from the name;
    equal jobs of different experiments share one path (tests/test_sharing.py)."""
    from actseg.experiments import paths
    from actseg.experiments.variants import UnknownExperiment

    monkeypatch.chdir(tmp_path)
    experiments = validate_config({"studies": {
        "a": {"seeds": [0, 1], "variants": {"same": {}, "lr": {"stage2": {"lr": 0.1}}}},
        "b": {"variants": {"lr2": {"stage2": {"lr": 0.1}}, "dom": {"labelling": "dominant"}}},
    }})
    cfg = experiments.config("studies/a/lr/seed1/")
    assert (cfg["stage2"]["lr"], cfg["stage2"]["iterations"], cfg["seed"]) == (0.1, 300, 1)
    assert paths.regionset_name(experiments.config("studies/b/dom/seed0/")) == "synthetic-slic8"
    with pytest.raises(UnknownExperiment, match="no study 'c'"):
        experiments.config("studies/c/x/seed0/")
    with pytest.raises(UnknownExperiment, match="has no variant 'x'"):
        experiments.config("studies/a/x/seed0/")
    runs = experiments.study_runs("b")
    # equal settings run once: b's lr2 reads a's lr curves (one path per distinct job)
    a_lr = {seed: experiments.study_runs("a")[2 + i][3] for i, seed in enumerate((0, 1))}
    assert [run[:3] for run in runs] == [("lr2", "multiclass", s) for s in (0, 1, 2)] + \
        [("dom", "dominant", s) for s in (0, 1, 2)]
    assert [runs[0][3], runs[1][3]] == [a_lr[0], a_lr[1]]
    assert all(re.fullmatch(r"results/runs/evaluate_stage2-[0-9a-f]{12}/round5/miou\.csv",
                            run[3]) for run in runs)
    assert experiments.study_runs("a")[0][3] == "results/round5/miou.csv"  # = default


def test_a_stage1_study_reads_stage1_curves(tmp_path, monkeypatch):
    """`stages: [1]`: each run is read round by round from stage1_miou.csv (so the figure
    needs no stage 2); the default is both stages, from the last round's miou.csv."""
    monkeypatch.chdir(tmp_path)
    experiments = validate_config({"rounds": 3, "studies": {
        "s1": {"seeds": [0], "stages": [1], "variants": {"same": {}}},
        "both": {"seeds": [0], "variants": {"same": {}}}}})
    assert experiments.study("both", "x")["stages"] == [1, 2]  # the schema's default
    assert [run[3] for run in experiments.study_runs("s1")] == [
        f"results/round{t}/stage1_miou.csv" for t in (1, 2, 3)]
    assert [run[3] for run in experiments.study_runs("both")] == ["results/round3/miou.csv"]
    with pytest.raises(ConfigError, match="stages"):
        validate_config({"studies": {"x": {"stages": [2], "variants": {"v": {}}}}})


def test_shared_names_that_differ_are_refused(tmp_path, monkeypatch):
    """Two experiments writing one region set with different settings cannot both run."""
    monkeypatch.chdir(tmp_path)
    cfg = {"studies": {"s": {"variants": {"trim": {"regions": {"trim_width": 1.0}}}}}}
    with pytest.raises(ConfigError, match="share the name 'synthetic-slic8'"):
        validate_config(cfg)


def test_targets_and_inputs_follow_the_rounds():
    from actseg.experiments import jobs, paths

    targets = paths.experiment_targets("", 2)
    assert len(targets) == 2 * len(paths.ROUND_FILES) and targets[-1] == "results/round2/miou.png"
    cfg = default_config_with({})
    from actseg import schema
    schema.fill_defaults(cfg)
    def at(t, name):
        return paths.round_path("x/", t, name)

    assert "previous" not in jobs.select_inputs(cfg, at, 1)
    assert jobs.select_inputs(cfg, at, 2)["model"] == "results/x/round1/stage1.pt"
    random = default_config_with({"acquisition": {"method": "random"}})
    assert "model" not in jobs.select_inputs(random, at, 2)
    assert jobs.stage1_inputs(cfg, at, 2)["init_classifier"] == "results/x/round1/stage1.pt"
    clean = default_config_with({"stage1": {"keep_classifier": False}})
    assert "init_classifier" not in jobs.stage1_inputs(clean, at, 2)


# ------------------------------------------------- non-finite numbers, numeric strings


@pytest.mark.parametrize("overrides, key", [
    ({"stage1": {"lr": float("nan")}}, "stage1.lr: nan"),
    ({"model": {"tau": float("inf")}}, "model.tau: inf"),
    ({"acquisition": {"kappa": float("nan")}}, "acquisition.kappa: nan"),
    ({"train": {"scale_range": [0.5, float("inf")]}}, "train.scale_range[1]: inf"),
    ({"studies": {"s": {"variants": {"v": {"stage2": {"lr": float("nan")}}}}}},
     "studies.s.variants.v.stage2.lr: nan"),
])
def test_non_finite_numbers_are_refused_naming_the_key(tmp_path, monkeypatch, overrides, key):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="is not a finite number") as caught:
        validate_config(default_config_with(overrides))
    assert key in str(caught.value)


def test_numeric_strings_become_numbers_where_the_schema_wants_them(tmp_path, monkeypatch):
    """Snakemake's --config passes nested values as strings."""
    monkeypatch.chdir(tmp_path)
    cfg = default_config_with({"dataset": {"synthetic": {"n_train": "40", "height": "128"}},
                               "stage1": {"lr": "2e-3"}, "train": {"crop_size": ["64", "64"]},
                               "studies": {"s": {"variants": {"v": {"budget": "600"}}}}})
    validate_config(cfg)
    assert cfg["dataset"]["synthetic"]["n_train"] == 40 and cfg["stage1"]["lr"] == 2e-3
    assert cfg["train"]["crop_size"] == [64, 64]
    assert cfg["studies"]["s"]["variants"]["v"]["budget"] == 600
    with pytest.raises(ConfigError, match="rounds: 'three' is not of type 'integer'"):
        validate_config(default_config_with({"rounds": "three"}))


@pytest.mark.slow
def test_nested_config_on_the_command_line(workdir):
    nested = ("dataset={kind: synthetic, root: results/data/x, synthetic: "
              "{n_train: 40, n_val: 10, height: 128, width: 256, seed: 0}}")
    result = snakemake(workdir, "-n", "--quiet", "rules", "--config", nested, timeout=120)
    assert result.returncode == 0, result.stderr
