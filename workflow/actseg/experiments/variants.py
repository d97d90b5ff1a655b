"""The experiments of a validated config: the default one and every (study, variant, seed),
each a full config (the variant's overrides merged over the defaults). No job runs twice:
every round file lives in one folder per distinct provenance (`branches`), the default
experiment's under results/round{t}/, the others under results/runs/{rule}-{hash}/."""

from __future__ import annotations

import copy
import functools
import json
import re

from actseg.experiments import branches, paths

# An experiment's name (not a path: its files live in keyed folders, see `path`).
STUDY_PREFIX = re.compile(r"studies/(?P<study>[^/]+)/(?P<variant>[^/]+)/seed(?P<seed>\d+)/")
RUNS_FOLDER = re.compile(branches.RUNS_FOLDER)


class UnknownExperiment(KeyError):
    """A path names a study, variant or region set that the config does not define."""

    def __str__(self):
        return str(self.args[0])


def merge(base: dict, overrides: dict) -> dict:
    """A deep copy of `base` with `overrides` merged in (nested dicts merged key by key)."""
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def base_config(cfg: dict) -> dict:
    """The default experiment: the validated config without the studies section."""
    return {key: value for key, value in cfg.items() if key != "studies"}


class Experiments:
    """The experiments of one validated config (`validation.validate_config` builds it)."""

    def __init__(self, cfg: dict):
        self.cfg = cfg
        self.studies = cfg.get("studies", {})
        self._hashes = {}

    @functools.cache
    def config(self, exp: str) -> dict:
        """The settings of experiment `exp` ("" = default; "studies/{s}/{v}/seed{n}/" =
        variant v of study s with seed n) or of a keyed folder "runs/{rule}-{hash}/" (those
        of any experiment whose job writes there: they agree on every setting the job's
        files depend on). Callers must not modify the result."""
        if exp == "":
            return base_config(self.cfg)
        if RUNS_FOLDER.fullmatch(exp):
            if exp not in self.folders():
                raise UnknownExperiment(
                    f"results/{exp}: no job of this config writes to this folder (its "
                    "settings changed, or it is another config's); folders are listed by "
                    "`Experiments.folders`")
            return self.folders()[exp]
        match = STUDY_PREFIX.fullmatch(exp)
        if match is None:
            raise UnknownExperiment(f"results/{exp}: not an experiment path (results/round{{t}}"
                                    " or results/runs/{rule}-{hash}/round{t}/)")
        variants = self.study(match["study"], f"results/{exp}")["variants"]
        if match["variant"] not in variants:
            raise UnknownExperiment(
                f"results/{exp}: study {match['study']!r} has no variant {match['variant']!r}"
                f" (variants: {', '.join(variants)})")
        cfg = merge(base_config(self.cfg), variants[match["variant"]])
        cfg["seed"] = int(match["seed"])
        return cfg

    def experiment_names(self):
        """"" (the default experiment) and "studies/{s}/{v}/seed{n}/" of every variant."""
        yield ""
        for study, spec in self.studies.items():
            for variant in spec["variants"]:
                for seed in spec["seeds"]:
                    yield paths.study_prefix(study, variant, seed)

    def _hash(self, cfg: dict, node: str, round_: int) -> str:
        key = (json.dumps(cfg, sort_keys=True), node, branches.round_class(round_))
        if key not in self._hashes:
            self._hashes[key] = branches.provenance_hash(cfg, node, key[2])
        return self._hashes[key]

    def folder(self, cfg: dict, node: str, round_: int) -> str:
        """The {exp} of the folder holding `node`'s files of round t in experiment `cfg`:
        "" where the default experiment's job is the same, else "runs/{node}-{hash}/"."""
        digest = self._hash(cfg, node, round_)
        if digest == self._hash(self.config(""), node, round_):
            return ""
        return f"runs/{node}-{digest}/"

    def path(self, cfg: dict, round_: int, name: str) -> str:
        """results/{folder}round{t}/{name}: where round t's file `name` of experiment `cfg`
        is built (once, whichever experiments read it)."""
        return paths.round_path(self.folder(cfg, branches.FILES[name], round_), round_, name)

    def at(self, cfg: dict):
        """at(t, name) -> path, for jobs.*_inputs."""
        return lambda round_, name: self.path(cfg, round_, name)

    @functools.cache
    def folders(self) -> dict:
        """{keyed folder "runs/{rule}-{hash}/": the config of an experiment writing there}
        over every experiment of the config (rounds 1 and 2: later rounds share round 2's
        folder)."""
        nodes = set(branches.FILES.values())
        folders = {}
        for exp in self.experiment_names():
            cfg = self.config(exp)
            human = cfg["oracle"]["source"] == "human"
            for node in nodes:
                if node.startswith("human_") and not human:
                    continue
                for round_ in range(1, min(cfg["rounds"], 2) + 1):
                    folder = self.folder(cfg, node, round_)
                    if folder:
                        folders.setdefault(folder, cfg)
        return folders

    def study(self, name: str, where: str) -> dict:
        if name not in self.studies:
            raise UnknownExperiment(f"{where}: no study {name!r} in the config "
                                    f"(studies: {', '.join(self.studies) or 'none'})")
        return self.studies[name]

    def all_configs(self):
        """(where, config) of the default experiment and every study variant (at its first
        seed: datasets and region sets do not depend on the seed)."""
        yield "config", self.config("")
        for study, spec in self.studies.items():
            for variant in spec["variants"]:
                prefix = paths.study_prefix(study, variant, spec["seeds"][0])
                yield f"studies.{study}.variants.{variant}", self.config(prefix)

    @functools.cache
    def registry(self) -> dict:
        """{"datasets": name -> a config using it, "regionsets": name -> a config using it};
        raises ConfigError when two experiments would share a path but differ in what it
        holds."""
        from actseg.experiments.validation import ConfigError

        tables = {"datasets": {}, "regionsets": {}}
        problems = []
        for where, cfg in self.all_configs():
            for table, name, identity in (
                (tables["datasets"], paths.dataset_name(cfg), paths.dataset_identity(cfg)),
                (tables["regionsets"], paths.regionset_name(cfg),
                 paths.regionset_identity(cfg)),
            ):
                if name not in table:
                    table[name] = (identity, cfg, where)
                elif table[name][0] != identity:
                    problems.append(
                        f"{where} and {table[name][2]} share the name {name!r} in results/ "
                        f"but differ: {table[name][0]} vs {identity} (use another "
                        "dataset.root folder name, or equal region settings)")
        if problems:
            raise ConfigError(problems)
        return {kind: {name: cfg for name, (_, cfg, _) in table.items()}
                for kind, table in tables.items()}

    def regionset_config(self, name: str) -> dict:
        try:
            return self.registry()["regionsets"][name]
        except KeyError:
            raise UnknownExperiment(f"results/regions/{name}: no experiment uses this region "
                                    "set") from None

    def study_runs(self, study: str) -> list[tuple[str, str, int, str]]:
        """[(variant, labelling, seed, curve path)] of every run of the study, config
        order; the curve is read from its folder (equal variants read the same file). A
        stage-1 study (`stages: [1]`) reads each round's stage1_miou.csv, one entry per
        round, so that no stage 2 is built for it."""
        spec = self.study(study, f"results/figures/{study}.csv")
        runs = []
        for variant in spec["variants"]:
            for seed in spec["seeds"]:
                cfg = self.config(paths.study_prefix(study, variant, seed))
                if 2 in spec["stages"]:
                    curves = [self.path(cfg, cfg["rounds"], "miou.csv")]
                else:
                    curves = [self.path(cfg, t, "stage1_miou.csv")
                              for t in range(1, cfg["rounds"] + 1)]
                runs.extend((variant, cfg["labelling"], seed, curve) for curve in curves)
        return runs

    def qualitative_models(self) -> dict[str, str]:
        """The default experiment's stage-2 models of rounds 1, middle and last (1/3/5)."""
        last = self.cfg["rounds"]
        rounds = sorted({1, (last + 1) // 2, last})
        return {f"round {t}": paths.round_path("", t, "stage2.pt") for t in rounds}
