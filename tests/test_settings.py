"""Each setting is declared once, in the schema: the per-rule settings map and its domain
rules, run settings split off by the schema's annotation, the CLI resolving a config file,
JSON settings and override options the same way, and no default declared anywhere else
(argparse options, TrainSettings fields, constructor parameters)."""

from __future__ import annotations

import argparse
import importlib
import inspect
import json

import pytest
import yaml

from actseg import schema
from actseg.cli import COMMANDS, CommandError
from actseg.commands.options import resolve_settings
from actseg.experiments import jobs


def config(**overrides) -> dict:
    from actseg.experiments.variants import merge

    return schema.fill_defaults(merge({}, overrides))


def settings_of(job: str, cfg: dict, round_: int | None = None) -> tuple[dict, dict]:
    return jobs.split_run(jobs.JOBS[job], jobs.from_config(jobs.JOBS[job], cfg, round_))


# ------------------------------------------------------------------------- domain rules


def test_round_one_is_random_and_reads_no_acquisition_setting():
    first, _ = settings_of("select", config(acquisition={"kappa": 12.0}), 1)
    assert first["method"] == "random"
    assert not {"kappa", "ban_undefined", "amp"} & set(first)
    later, run = settings_of("select", config(), 2)
    assert later["method"] == "pixbal" and later["kappa"] == 6.0 and later["ban_undefined"]
    assert run == {"batch_size": 16, "device": "auto"}


def test_kappa_only_for_pixbal():
    assert "kappa" not in settings_of("select", config(acquisition={"method": "bvsb"}), 2)[0]
    random, _ = settings_of("select", config(acquisition={"method": "random"}), 3)
    assert "ban_undefined" not in random and "kappa" not in random


def test_dominant_labelling_means_dominant_loss():
    dom, _ = settings_of("train_stage1", config(labelling="dominant"))
    assert dom["loss"] == "dominant" and "lambda_mp" not in dom and "lambda_pp" not in dom
    assert dom["dominant_lr_mult"] == 2.0
    mul, _ = settings_of("train_stage1", config())
    assert "dominant_lr_mult" not in mul


def test_dominant_lr_multiplier_by_hand():
    from types import SimpleNamespace

    from actseg.commands.train import stage_lr

    assert stage_lr(SimpleNamespace(lr=2e-5, dominant_lr_mult=2.0)) == 4e-5
    assert stage_lr(SimpleNamespace(lr=2e-5, dominant_lr_mult=None)) == 2e-5
    rc, _ = settings_of("train_stage1", config(stage1={"loss": "rc"}))
    assert rc["loss"] == "rc" and "lambda_mp" in rc and "lambda_pp" not in rc


def test_dominant_answer_settings_only_where_they_decide_labels():
    """dominant.void / dominant.rule reach stage 1 and pseudo labels of dominant labels of
    the simulated oracle, nothing else; the seed reaches pseudo labels under sample only."""
    dom = config(labelling="dominant")
    stage1, _ = settings_of("train_stage1", dom)
    assert (stage1["dominant_void"], stage1["dominant_rule"]) == ("ignore", "argmax")
    assert "oracle_source" not in stage1
    pseudo, _ = settings_of("pseudo", dom)
    assert pseudo["dominant_void"] == "ignore" and "seed" not in pseudo
    sampled, _ = settings_of("pseudo", config(labelling="dominant", seed=3,
                                              dominant={"rule": "sample"}))
    assert sampled["dominant_rule"] == "sample" and sampled["seed"] == 3
    for cfg in (config(), config(dominant={"void": "class", "rule": "sample"}),
                config(labelling="dominant", oracle={"source": "human"})):
        for job in ("train_stage1", "pseudo"):
            assert not {"dominant_void", "dominant_rule"} & set(settings_of(job, cfg)[0])
        assert "seed" not in settings_of("pseudo", cfg)[0]
    for job in ("select", "train_stage2", "evaluate", "oracle"):
        assert not {"dominant_void", "dominant_rule"} & set(settings_of(job, dom, 2)[0])


def test_multiclass_settings_are_unchanged_by_the_dominant_keys():
    """The default experiment's jobs keep their settings (no rerun, same folders)."""
    from actseg.experiments import branches

    base = config()
    other = config(dominant={"void": "class", "rule": "sample"})
    for node in ("select", "train_stage1", "pseudo_labels", "train_stage2"):
        assert branches.provenance(base, node, 2) == branches.provenance(other, node, 2)
    dom = config(labelling="dominant")
    dom_class = config(labelling="dominant", dominant={"void": "class"})
    # round 1 buys the same regions; its stage-1 model (and so round 2's ranking) differs
    assert branches.provenance(dom, "select", 1) == branches.provenance(dom_class, "select", 1)
    assert branches.provenance(dom, "train_stage1", 1) != branches.provenance(
        dom_class, "train_stage1", 1)


def test_ban_undefined_is_no_setting_without_an_undefined_class():
    voc = config(dataset={"kind": "voc", "root": "data/VOC2012"})
    assert "ban_undefined" not in settings_of("select", voc, 2)[0]
    assert "ban_undefined" not in settings_of("human_queue", voc, 2)[0]
    city = config(dataset={"kind": "cityscapes", "root": "data/cityscapes"})
    assert settings_of("select", city, 2)[0]["ban_undefined"] is True


def test_rule_only_when_expanding_and_compactness_only_for_slic():
    assert "rule" not in settings_of("pseudo", config(pseudo={"expand": False}))[0]
    assert "compactness" not in settings_of("regions", config(regions={"method": "grid"}))[0]
    assert settings_of("regions", config())[0]["compactness"] == 10.0


def test_numbers_are_typed_by_the_schema():
    """6 and 6.0 are one setting (one JSON text, no rerun), as argparse's float was."""
    assert jobs.settings_json(settings_of("select", config(acquisition={"kappa": 6}), 2)[0]) \
        == jobs.settings_json(settings_of("select", config(), 2)[0])


def test_run_settings_are_exactly_the_annotated_keys():
    annotated = {key for key in schema.setting_keys() if schema.is_run_setting(key)}
    assert annotated == {"device", "threads", "workers", "region_jobs", "acquisition.batch_size",
                         "oracle.url",
                         "train.num_workers",
                         "train.checkpoint_every", "train.log_every", "train.channels_last",
                         "pseudo.batch_size", "evaluate.batch_size"}
    for name, job in jobs.JOBS.items():
        values = jobs.from_config(job, config(), 2)
        settings, run = jobs.split_run(job, values)
        assert {job.keys[o] for o in run} <= annotated, name
        assert not {job.keys[o] for o in settings} & annotated, name


def test_every_mapped_key_is_a_schema_setting():
    keys = set(schema.setting_keys())
    for name, job in jobs.JOBS.items():
        assert set(job.keys.values()) <= keys, name


# ----------------------------------------------------------------------------- the CLI


def parse(command: str, argv: list[str]) -> argparse.Namespace:
    module = importlib.import_module(f"actseg.commands.{command}")
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    return parser.parse_args(argv)


SELECT_PATHS = ["--round", "2", "--regions", "r.h5", "--oracle", "o.h5", "--out", "l.h5"]


def test_cli_resolves_a_config_file_like_the_workflow(tmp_path):
    path = tmp_path / "my.yaml"
    path.write_text(yaml.safe_dump({"budget": 50, "acquisition": {"method": "bvsb"}}))
    args = parse("select", SELECT_PATHS + ["--config", str(path)])
    values = resolve_settings(args, "select", 2)
    expected = jobs.from_config(jobs.JOBS["select"],
                                config(budget=50, acquisition={"method": "bvsb"}), 2)
    assert values == expected and args.budget == 50 and args.kappa is None


def test_cli_precedence_option_over_json_over_config(tmp_path):
    path = tmp_path / "my.yaml"
    path.write_text(yaml.safe_dump({"budget": 50, "seed": 4}))
    settings = json.dumps({"budget": 70, "labelling": "dominant"})
    args = parse("select", SELECT_PATHS + ["--config", str(path), "--settings", settings,
                                           "--budget", "90"])
    values = resolve_settings(args, "select", 2)
    assert (values["budget"], values["labelling"], values["seed"]) == (90, "dominant", 4)
    (tmp_path / "s.json").write_text(settings)
    args = parse("select", SELECT_PATHS + ["--settings", f"@{tmp_path / 's.json'}"])
    assert resolve_settings(args, "select", 2)["budget"] == 70


def test_cli_reports_bad_settings(tmp_path):
    args = parse("select", SELECT_PATHS + ["--settings", "{not json"])
    with pytest.raises(CommandError, match="settings"):
        resolve_settings(args, "select", 2)
    (tmp_path / "bad.yaml").write_text("budgte: 3\n")
    args = parse("select", SELECT_PATHS + ["--config", str(tmp_path / "bad.yaml")])
    with pytest.raises(CommandError, match="did you mean 'budget'"):
        resolve_settings(args, "select", 2)


# ------------------------------------------------------------- no default outside the schema

# Options that are not settings of the config: where to read and write, how many worker
# processes, and the generator's difficulty constants (not exposed in the config).
NOT_SETTINGS = {"split", "workers", "images", "title", "force", "noise", "blur", "texture",
                "colour_overlap", "lighting", "help",
                "host", "port"}  # where the survey server listens (a process option)


def command_parsers():
    for name in COMMANDS:
        parser = argparse.ArgumentParser()
        importlib.import_module(f"actseg.commands.{name}").add_arguments(parser)
        yield name, parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                yield from ((f"{name} {sub}", p) for sub, p in action.choices.items())


def test_argparse_declares_no_default_of_a_setting():
    for name, parser in command_parsers():
        for action in parser._actions:
            if action.default in (None, False, argparse.SUPPRESS) or \
                    isinstance(action, argparse._SubParsersAction):
                continue
            assert action.dest in NOT_SETTINGS, f"actseg {name} --{action.dest} has a default"


def test_train_settings_defaults_are_the_schema_defaults():
    from dataclasses import MISSING, fields

    from actseg.train import SETTING_KEYS, TrainSettings

    for item in fields(TrainSettings):
        if item.default is not MISSING:
            assert item.default == schema.default(SETTING_KEYS[item.name]), item.name
    settings = TrainSettings(iterations=1, batch_size=1, lr=1.0)
    assert set(settings.run_key()) == {k for k, key in SETTING_KEYS.items()
                                       if not schema.is_run_setting(key)}


def constructor_defaults():
    from actseg import acquire, losses, pseudo, train

    keys = {"tau": "model.tau", "kappa": "acquisition.kappa",
            "ban_undefined": "acquisition.ban_undefined", "loss": "stage1.loss",
            "lambda_ce": "stage1.lambda_ce", "lambda_mp": "stage1.lambda_mp",
            "lambda_pp": "stage1.lambda_pp", "rule": "pseudo.rule", "expand": "pseudo.expand"}
    for function in (losses.Stage1Criterion, train.PartialLabelObjective,
                     train.PixelLabelObjective, acquire.PoolScorer, acquire.score_pool,
                     pseudo.localize_and_expand, pseudo.pseudo_label_image, losses.stage2_ce,
                     losses.stage1_losses):
        for name, param in inspect.signature(function).parameters.items():
            if name in keys and param.default is not inspect.Parameter.empty:
                yield function.__qualname__, name, param.default, keys[name]


def test_constructor_defaults_are_the_schema_defaults():
    checked = list(constructor_defaults())
    assert len(checked) >= 15
    for where, name, value, key in checked:
        assert value == schema.default(key), f"{where}({name}={value!r}) vs {key}"


def test_options_render_for_the_shell():
    rendered = jobs.render_options({"batch_size": 4, "device": "cpu", "pretrained": None,
                                    "ban_undefined": False, "expand": True,
                                    "crop_size": [32, 48], "root": "my city"})
    assert rendered == ("--batch-size 4 --device cpu --no-ban-undefined --expand "
                        "--crop-size 32 48 --root 'my city'")
    assert jobs.render_repeated("run", ["a:1", "b c"]) == "--run a:1 --run 'b c'"
