"""The paper's claims tested on the published studies (issue 11, item 3).

Every number is an mIoU in points read from a published long CSV
(docs/results/studies/{study}.csv): per seed, at the last round of the variant unless a claim
says otherwise. Pairwise claims use `actseg.published.compare` (paired by seed: the same seed
makes the same round-1 selection); "largest gap in early rounds" claims give the mean paired
gap per round; the sensitivity claim gives the range of the sweep's means. A claim whose study
is not published yet is listed as pending, never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import pandas as pd

from actseg.published import Claim, chain, claims_markdown, compare, mean_std, spread

SENSITIVITY_LIMIT = 1.5  # points: the paper's "varies by less than 1.5"


class Studies:
    """The published long CSVs of a folder, read on demand."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self._tables: dict[str, pd.DataFrame] = {}

    def has(self, study: str) -> bool:
        return (self.folder / f"{study}.csv").is_file()

    def table(self, study: str) -> pd.DataFrame:
        if study not in self._tables:
            self._tables[study] = pd.read_csv(self.folder / f"{study}.csv")
        return self._tables[study]

    def curve(self, study: str, variant: str, stage: int) -> pd.DataFrame:
        """seed x round table of mIoU (points) of one variant and stage."""
        table = self.table(study)
        rows = table[(table["variant"] == variant) & (table["stage"] == stage)]
        if rows.empty:
            raise KeyError(f"{study}: no rows of variant {variant!r} at stage {stage}")
        return 100 * rows.pivot(index="seed", columns="round", values="miou")

    def final(self, study: str, variant: str, stage: int) -> dict[int, float]:
        """seed -> mIoU at the variant's last round."""
        curve = self.curve(study, variant, stage)
        return curve[curve.columns.max()].to_dict()

    def mean_over_rounds(self, study: str, variant: str, stage: int) -> dict[int, float]:
        """seed -> mIoU averaged over the rounds (the paper's Fig. 2 measure)."""
        return self.curve(study, variant, stage).mean(axis=1).to_dict()


def difference(a: dict[int, float], b: dict[int, float]) -> dict[int, float]:
    return {seed: a[seed] - b[seed] for seed in sorted(set(a) & set(b))}


@dataclass(frozen=True)
class GapByRound:
    """The mean paired gap a - b per round, and whether it is largest where claimed."""

    name: str
    gaps: dict[int, float]  # round -> mean over seeds of (a - b)
    early: Sequence[int]  # the rounds the claim calls early

    @property
    def largest(self) -> int:
        return max(self.gaps, key=self.gaps.get)

    @property
    def verdict(self) -> str:
        return "holds" if self.largest in self.early else "does not hold"


def gap_by_round(studies: Studies, name: str, study: str, a: tuple[str, int],
                 b: tuple[str, int], early: Sequence[int]) -> GapByRound:
    """a, b: (variant, stage)."""
    gap = studies.curve(study, *a) - studies.curve(study, *b)
    return GapByRound(name, gap.mean(axis=0).to_dict(), tuple(early))


@dataclass(frozen=True)
class Sensitivity:
    name: str
    means: dict[str, float]  # variant -> mean over seeds
    width: float
    verdict: str


def sensitivity(studies: Studies, name: str, variants: Sequence[str]) -> Sensitivity:
    values = {v: studies.mean_over_rounds("hyperparams", v, 1) for v in variants}
    width, verdict = spread(values, SENSITIVITY_LIMIT)
    return Sensitivity(name, {v: mean_std(list(s.values()))[0] for v, s in values.items()},
                       width, verdict)


# ------------------------------------------------------------------- the paper's claims


def region_size(s: Studies) -> list[Claim]:
    """Mul > Dom at each size (both stages, last round); the middle size is best; Mul loses
    less than Dom from the middle to the largest size (stage 2)."""
    claims = [compare(f"Mul > Dom at sp{size}, stage {stage}",
                      s.final("region_size", f"mul-sp{size}", stage),
                      s.final("region_size", f"dom-sp{size}", stage))
              for size in (4, 8, 16) for stage in (1, 2)]
    for label in ("mul", "dom"):
        middle = s.final("region_size", f"{label}-sp8", 2)
        claims += [compare(f"{label.title()}: sp8 > sp{size}, stage 2", middle,
                           s.final("region_size", f"{label}-sp{size}", 2)) for size in (4, 16)]
    loss = {label: difference(s.final("region_size", f"{label}-sp8", 2),
                              s.final("region_size", f"{label}-sp16", 2))
            for label in ("mul", "dom")}
    claims.append(compare("sp8 → sp16: Dom loses more than Mul, stage 2", loss["dom"],
                          loss["mul"]))
    return claims


def acquisition(s: Studies) -> list[Claim]:
    ranked = [(v, s.final("acquisition", v, 2)) for v in ("pixbal", "classbal", "bvsb",
                                                           "random")]
    return chain("acquisition, stage 2", ranked)


def losses(s: Studies) -> list[Claim]:
    ours = s.final("losses", "mp-pp", 1)
    return [compare(f"L_MP + L_PP > {name}, stage 1", ours, s.final("losses", variant, 1))
            for variant, name in (("infimum", "Infimum"), ("rc", "RC"))]


def losses_gaps(s: Studies) -> list[GapByRound]:
    return [gap_by_round(s, f"L_MP + L_PP − {name}, stage 1", "losses", ("mp-pp", 1),
                         (variant, 1), early=(1, 2))
            for variant, name in (("infimum", "Infimum"), ("rc", "RC"))]


def pseudo_labels(s: Studies) -> list[Claim]:
    stage1 = s.final("pseudo_labels", "w-proto", 1)  # every variant shares stage 1
    claims = [compare(f"{a} > wo-proto, stage 2", s.final("pseudo_labels", a, 2),
                      s.final("pseudo_labels", "wo-proto", 2))
              for a in ("w-proto", "w-proto-script")]
    claims.append(compare("wo-proto (stage 2) > stage 1", s.final("pseudo_labels",
                                                                   "wo-proto", 2), stage1))
    return claims


def pseudo_gaps(s: Studies) -> list[GapByRound]:
    return [gap_by_round(s, "w-proto − wo-proto, stage 2", "pseudo_labels", ("w-proto", 2),
                         ("wo-proto", 2), early=(1,)),
            gap_by_round(s, "w-proto (stage 2) − stage 1", "pseudo_labels", ("w-proto", 2),
                         ("w-proto", 1), early=(1,))]


def expansion(s: Studies) -> list[Claim]:
    """Expansion helps each labelling (context rows), and Mul (Local) more than Dom."""
    final = {v: s.final("expansion", v, 2) for v in ("local", "local-expand", "dom",
                                                     "dom-expand")}
    claims = [compare(f"{name}+Expand > {name}, stage 2", final[f"{label}-expand"],
                      final[label]) for label, name in (("local", "Local"), ("dom", "Dom"))]
    gain = {label: difference(final[f"{label}-expand"], final[label])
            for label in ("local", "dom")}
    return claims + [compare("expansion gain: Local > Dom, stage 2", gain["local"],
                             gain["dom"])]


def budget(s: Studies) -> list[Claim]:
    return [compare("10 rounds of B/2 ≥ 5 rounds of B, stage 2, equal clicks",
                    s.final("budget", "3350x10", 2), s.final("budget", "6700x5", 2))]


def hyperparams(s: Studies) -> list[Sensitivity]:
    return [sensitivity(s, "κ ∈ {3, 6, 12}", ("kappa3", "default", "kappa12")),
            sensitivity(s, "λ_MP ∈ {4, 8, 16}", ("lambda-mp4", "default", "lambda-mp16")),
            sensitivity(s, "λ_CE ∈ {8, 16, 32}", ("lambda-ce8", "default", "lambda-ce32"))]


PAIRWISE: dict[str, Callable[[Studies], list[Claim]]] = {
    "region_size": region_size, "acquisition": acquisition, "losses": losses,
    "pseudo_labels": pseudo_labels, "expansion": expansion, "budget": budget}
GAPS: dict[str, Callable[[Studies], list[GapByRound]]] = {
    "losses": losses_gaps, "pseudo_labels": pseudo_gaps}


def claims_report(folder: Path) -> str:
    """Markdown: the pairwise claims, the early-round gaps, the sensitivity ranges, and the
    studies still to publish."""
    s = Studies(folder)
    pairwise = [c for study, build in PAIRWISE.items() if s.has(study) for c in build(s)]
    parts = [claims_markdown(pairwise) if pairwise else ""]
    gaps = [g for study, build in GAPS.items() if s.has(study) for g in build(s)]
    if gaps:
        lines = ["| gap | mean over seeds, per round | largest in | claimed | verdict |",
                 "|---|---|---|---|---|"]
        for g in gaps:
            per_round = ", ".join(f"r{t}: {v:+.2f}" for t, v in g.gaps.items())
            lines.append(f"| {g.name} | {per_round} | round {g.largest} | round "
                         f"{'/'.join(map(str, g.early))} | {g.verdict} |")
        parts.append("\n".join(lines) + "\n")
    if s.has("hyperparams"):
        lines = ["| sweep (stage 1, mean over rounds) | mean per value | range | verdict "
                 f"(< {SENSITIVITY_LIMIT} points) |", "|---|---|---|---|"]
        for row in hyperparams(s):
            means = ", ".join(f"{v}: {m:.2f}" for v, m in row.means.items())
            lines.append(f"| {row.name} | {means} | {row.width:.2f} | {row.verdict} |")
        parts.append("\n".join(lines) + "\n")
    pending = [study for study in ("region_size", "budget", "acquisition", "losses",
                                   "pseudo_labels", "expansion", "hyperparams")
               if not s.has(study)]
    if pending:
        parts.append(f"Not yet published (their claims pending): {', '.join(pending)}.\n")
    return "\n".join(p for p in parts if p)


# ------------------------------------------------------------------------- where it lives

README_BEGIN = "<!-- claims table: written by workflow/scripts/publish_study.py -->"
README_END = "<!-- end of the claims table -->"


def readme_block(readme_text: str) -> str:
    """The claims table as the README holds it (between the two markers)."""
    start, end = readme_text.find(README_BEGIN), readme_text.find(README_END)
    if start < 0 or end < start:
        raise ValueError(f"the README lacks the claims markers {README_BEGIN!r} … "
                         f"{README_END!r}")
    return readme_text[start + len(README_BEGIN):end].strip("\n") + "\n"


def write_claims(folder: Path, readme: Path) -> str:
    """Write the report to `folder`/claims.md and between the README's markers."""
    from actseg.fileio import atomic_output

    report = claims_report(folder)
    with atomic_output(Path(folder) / "claims.md") as tmp:
        Path(tmp).write_text("# The paper's claims on the published studies\n\n" + report)
    text = Path(readme).read_text()
    readme_block(text)  # the markers exist
    start = text.index(README_BEGIN) + len(README_BEGIN)
    with atomic_output(readme) as tmp:
        Path(tmp).write_text(text[:start] + "\n" + report + text[text.index(README_END):])
    return report
