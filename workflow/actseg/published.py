"""Published study results (issue 11, items 2 and 3): copying a finished study's figure
files into the repository with their provenance, checking published files against the
study definitions of config.yaml, and the claims table's statistics.

Layout of the published folder (PUBLISHED, relative to the checkout):

    docs/results/studies/{study}.csv            long table: variant, seed, round, stage, miou...
    docs/results/studies/{study}_summary.csv    mean / std over seeds per variant, stage, round
    docs/results/studies/{study}.png            the figure
    docs/results/studies/README.md              one provenance section per study

`workflow/scripts/publish_study.py` is the command-line wrapper of `publish`;
`tests/test_published.py` runs `check_published` on whatever is published.
"""

from __future__ import annotations

import math
import os
import platform
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from statistics import mean, stdev
from typing import Sequence

PUBLISHED = Path("docs/results/studies")
SUFFIXES = (".csv", "_summary.csv", ".png")
README_HEAD = ("# Published study results\n\nCopied from `results/figures/` by "
               "`workflow/scripts/publish_study.py`; checked against `config.yaml` by "
               "`tests/test_published.py`. One section per study: the exact command, the "
               "commit, the machine and the wall time.\n")


def study_files(folder: Path, study: str) -> list[Path]:
    return [Path(folder) / f"{study}{suffix}" for suffix in SUFFIXES]


def published_studies(folder: Path) -> list[str]:
    """Studies with a long CSV in `folder` (summaries excluded)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.csv") if not p.stem.endswith("_summary"))


def expected_runs(cfg: dict, study: str) -> dict[str, tuple[list[int], int]]:
    """{variant: (seeds, rounds)} of a study in a config (defaults filled in)."""
    spec = cfg["studies"][study]
    return {variant: (list(spec["seeds"]), int(overrides.get("rounds", cfg["rounds"])))
            for variant, overrides in spec["variants"].items()}


def expected_stages(cfg: dict, study: str) -> tuple[int, ...]:
    """The stages the study's figure shows ([1, 2] unless the study says `stages: [1]`)."""
    return tuple(cfg["studies"][study].get("stages", (1, 2)))


def check_published(folder: Path, study: str, cfg: dict) -> list[str]:
    """Problems of a published study (empty when its files parse and match `cfg`): every
    variant at every seed, rounds 1..R of the variant and the study's stages, nothing else."""
    import pandas as pd

    problems = [f"{path}: missing" for path in study_files(folder, study) if not path.is_file()]
    if problems:
        return problems
    if study not in cfg["studies"]:
        return [f"{study}: no such study in config.yaml"]
    long_csv, summary_csv, png = study_files(folder, study)
    if png.read_bytes()[:4] != b"\x89PNG":
        problems.append(f"{png}: not a PNG")
    table = pd.read_csv(long_csv)
    expected, stages = expected_runs(cfg, study), expected_stages(cfg, study)
    if list(dict.fromkeys(table["variant"])) != list(expected):
        problems.append(f"{long_csv}: variants {list(dict.fromkeys(table['variant']))}, "
                        f"config.yaml has {list(expected)}")
    for variant, (seeds, rounds) in expected.items():
        rows = table[table["variant"] == variant]
        wanted = {(s, t, stage) for s in seeds for t in range(1, rounds + 1) for stage in stages}
        found = set(zip(rows["seed"], rows["round"], rows["stage"]))
        if found != wanted or len(rows) != len(wanted):
            problems.append(f"{long_csv}: {variant}: (seed, round, stage) rows differ from "
                            f"seeds {seeds} x rounds 1..{rounds} x stages {list(stages)} "
                            f"(missing {sorted(wanted - found)[:4]}, extra "
                            f"{sorted(found - wanted)[:4]}, {len(rows)} rows)")
        if rows["miou"].isna().any():
            problems.append(f"{long_csv}: {variant}: empty miou")
    summary = pd.read_csv(summary_csv)
    for variant, (seeds, rounds) in expected.items():
        rows = summary[summary["variant"] == variant]
        want = len(stages) * rounds
        if len(rows) != want or set(rows["seeds"]) != {len(seeds)}:
            problems.append(f"{summary_csv}: {variant}: {len(rows)} rows (want {want}) "
                            f"or seeds {sorted(set(rows['seeds']))} != {len(seeds)}")
    return problems


# ------------------------------------------------------------------------------ publishing


def machine() -> str:
    """Cores and GPU (or none) of this machine, in words."""
    words = f"{os.cpu_count()} CPU cores ({platform.machine()}, {platform.system()})"
    try:
        import torch
        if torch.cuda.is_available():
            return f"{words}, GPU {torch.cuda.get_device_name(0)}"
    except ImportError:
        pass
    return f"{words}, no GPU"


def commit(repository: Path) -> str:
    try:
        head = subprocess.run(["git", "-C", str(repository), "rev-parse", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(repository), "status", "--porcelain"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return head + (" (with uncommitted changes)" if dirty else "")


def provenance_section(study: str, command: str, commit_: str, machine_: str,
                       wall_s: float, jobs: int | None = None) -> str:
    hours, rest = divmod(int(round(wall_s)), 3600)
    ran = ("" if jobs is None else f"- jobs run by the command: {jobs} (jobs that earlier "
           "runs had built, e.g. shared variants, were reused, not counted)\n")
    return (f"## {study}\n\n- command: `{command}`\n- commit: {commit_}\n"
            f"- machine: {machine_}\n- wall time: {hours} h {rest // 60:02d} min "
            f"{rest % 60:02d} s ({wall_s:.0f} s)\n{ran}- files: "
            + ", ".join(f"`{p.name}`" for p in study_files(Path("."), study)) + "\n")


def publish(study: str, figures: Path, dest: Path, command: str, wall_s: float,
            repository: Path, machine_: str | None = None, commit_: str | None = None,
            jobs: int | None = None) -> list[Path]:
    """Copy `figures`/{study}.csv, _summary.csv and .png to `dest` and record (replace) the
    study's provenance section in `dest`/README.md. Returns the copied files. `commit_`
    names the commit that ran it when that is not the checkout's HEAD."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    sources = study_files(figures, study)
    missing = [str(p) for p in sources if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"study {study} is not finished: missing {', '.join(missing)}")
    copied = [Path(shutil.copyfile(src, dest / src.name)) for src in sources]
    readme = dest / "README.md"
    sections = parse_sections(readme.read_text() if readme.is_file() else "")
    sections[study] = provenance_section(study, command, commit_ or commit(repository),
                                         machine_ or machine(), wall_s, jobs)
    readme.write_text(README_HEAD + "".join(f"\n{sections[name]}" for name in sorted(sections)))
    return copied


def parse_sections(text: str) -> dict[str, str]:
    """{study: its '## study' section} of a README written by `publish`."""
    bodies, name = {}, None
    for line in text.splitlines(keepends=True):
        if line.startswith("## "):
            name = line[3:].strip()
            bodies[name] = ""
        elif name is not None:
            bodies[name] += line
    # canonical form (one blank line under the heading), whatever hand edits left
    return {name: f"## {name}\n\n{body.strip()}\n" for name, body in bodies.items()}


# ------------------------------------------------------------------------------- claims

VERDICT_RULE = ("holds: every seed's paired difference a − b is positive; does not hold: "
                "every one is negative, or their mean is negative and larger in size than "
                "its standard error (std / √seeds); within noise: otherwise")


@dataclass(frozen=True)
class Claim:
    """`a` > `b` tested on per-seed values (seed -> number, e.g. final mIoU in points)."""

    name: str
    a_mean: float
    a_std: float
    b_mean: float
    b_std: float
    differences: dict[int, float]  # seed -> a - b (paired: the same seed, same round 1)
    diff_mean: float
    diff_std: float
    verdict: str


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    values = list(values)
    return mean(values), (stdev(values) if len(values) > 1 else 0.0)


def verdict(differences: Sequence[float]) -> str:
    """VERDICT_RULE on paired per-seed differences a - b."""
    diffs = list(differences)
    centre, spread = mean_std(diffs)
    error = spread / math.sqrt(len(diffs))
    if all(d > 0 for d in diffs):
        return "holds"
    if all(d < 0 for d in diffs) or (centre < 0 and -centre > error):
        return "does not hold"
    return "within noise"


def compare(name: str, a: dict[int, float], b: dict[int, float]) -> Claim:
    """The claim `a > b` over the seeds both have, paired by seed."""
    seeds = sorted(set(a) & set(b))
    if not seeds:
        raise ValueError(f"{name}: no seed in common")
    diffs = {s: a[s] - b[s] for s in seeds}
    (am, asd), (bm, bsd) = mean_std([a[s] for s in seeds]), mean_std([b[s] for s in seeds])
    dm, dsd = mean_std(diffs.values())
    return Claim(name, am, asd, bm, bsd, diffs, dm, dsd, verdict(diffs.values()))


def chain(name: str, ranked: Sequence[tuple[str, dict[int, float]]]) -> list[Claim]:
    """A >= B >= C ...: one pairwise claim per neighbouring pair."""
    return [compare(f"{name}: {x} > {y}", a, b)
            for (x, a), (y, b) in zip(ranked, ranked[1:])]


def claims_markdown(claims: Sequence[Claim]) -> str:
    """The claims table: mean ± std of each side, paired per-seed differences, verdict."""
    lines = ["| claim | a (mean ± std) | b (mean ± std) | a − b per seed | a − b (mean ± std) "
             "| verdict |", "|---|---|---|---|---|---|"]
    for c in claims:
        per_seed = ", ".join(f"s{s}: {d:+.2f}" for s, d in c.differences.items())
        lines.append(f"| {c.name} | {c.a_mean:.2f} ± {c.a_std:.2f} | {c.b_mean:.2f} ± "
                     f"{c.b_std:.2f} | {per_seed} | {c.diff_mean:+.2f} ± {c.diff_std:.2f} | "
                     f"{c.verdict} |")
    return "\n".join(lines) + f"\n\nVerdict rule: {VERDICT_RULE}.\n"


def spread(variants: dict[str, dict[int, float]], limit: float) -> tuple[float, str]:
    """(max - min of the variants' means over seeds, verdict) for "varies by < limit":
    holds when the range is below `limit`, else does not hold."""
    means = [mean_std(list(seeds.values()))[0] for seeds in variants.values()]
    width = max(means) - min(means)
    return width, "holds" if width < limit else "does not hold"
