"""Published study results (issue 11): the files under docs/results/studies/ parse and match
the study definitions of config.yaml (skipped while nothing is published); the publishing
step and the claims statistics on hand-made numbers."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import yaml
from workflow_runs import REPO

from actseg import published
from actseg.experiments.validation import validate_config

FOLDER = REPO / published.PUBLISHED


def config() -> dict:
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    validate_config(cfg)  # defaults filled in
    return cfg


@pytest.mark.parametrize("study", list(yaml.safe_load((REPO / "config.yaml").read_text())
                                       ["studies"]))
def test_published_study_matches_config(study, monkeypatch, tmp_path):
    if study not in published.published_studies(FOLDER):
        pytest.skip(f"{study}: nothing published in {published.PUBLISHED} yet (issue 11, "
                    "item 2: run the study, then workflow/scripts/publish_study.py)")
    monkeypatch.chdir(tmp_path)  # validation may look at dataset roots
    problems = published.check_published(FOLDER, study, config())
    assert not problems, "\n".join(problems)
    readme = (FOLDER / "README.md").read_text()
    section = published.parse_sections(readme)[study]
    for field in ("command:", "commit:", "machine:", "wall time:"):
        assert field in section, f"README.md section {study} lacks {field}"


def test_nothing_published_is_not_a_study():
    unknown = set(published.published_studies(FOLDER)) - set(config()["studies"])
    assert not unknown, f"published files of studies config.yaml lacks: {sorted(unknown)}"


def fake_study(figures, study, variants, seeds, rounds, drop=None, stages=(1, 2)):
    rows = [{"study": study, "variant": v, "labelling": "multiclass", "seed": s, "round": t,
             "stage": st, "clicks": 100 * t, "miou": 0.3 + 0.01 * t}
            for v in variants for s in seeds for t in range(1, rounds[v] + 1) for st in stages]
    if drop is not None:
        rows.pop(drop)
    table = pd.DataFrame(rows)
    figures.mkdir(parents=True, exist_ok=True)
    table.to_csv(figures / f"{study}.csv", index=False)
    summary = table.groupby(["variant", "stage", "round"], sort=False).agg(
        miou_mean=("miou", "mean"), miou_std=("miou", "std"), seeds=("seed", "nunique"))
    summary.reset_index().to_csv(figures / f"{study}_summary.csv", index=False)
    (figures / f"{study}.png").write_bytes(b"\x89PNG\r\n\x1a\n")


def test_publish_then_check(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = config()
    spec = cfg["studies"]["budget"]
    rounds = published.expected_runs(cfg, "budget")
    fake_study(tmp_path / "figures", "budget", list(spec["variants"]), spec["seeds"],
               {v: r for v, (_, r) in rounds.items()})
    dest = tmp_path / "published"
    copied = published.publish("budget", tmp_path / "figures", dest, "snakemake x", 3725.0,
                               REPO, machine_="2 CPU cores, no GPU")
    assert sorted(p.name for p in copied) == ["budget.csv", "budget.png", "budget_summary.csv"]
    assert published.check_published(dest, "budget", cfg) == []
    assert "- commit: " in (dest / "README.md").read_text()
    published.publish("budget", tmp_path / "figures", dest, "snakemake y", 60.0, REPO,
                      machine_="16 CPU cores, GPU H200", commit_="abc123", jobs=241)
    readme = (dest / "README.md").read_text()
    assert readme.count("## budget") == 1 and "snakemake y" in readme
    assert "- commit: abc123\n" in readme and "- jobs run by the command: 241 (" in readme
    assert "1 h 02 min 05 s" not in readme and "0 h 01 min 00 s" in readme
    assert published.published_studies(dest) == ["budget"]


def test_publishing_keeps_other_sections_and_their_hand_notes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = config()
    for study in ("budget", "losses"):
        spec = cfg["studies"][study]
        rounds = published.expected_runs(cfg, study)
        fake_study(tmp_path / "figures", study, list(spec["variants"]), spec["seeds"],
                   {v: r for v, (_, r) in rounds.items()})
    dest = tmp_path / "published"
    published.publish("budget", tmp_path / "figures", dest, "snakemake b", 60.0, REPO,
                      machine_="2 CPU cores, no GPU", commit_="abc123")
    readme = dest / "README.md"
    readme.write_text(readme.read_text().replace("- commit: abc123",
                                                 "- commit: abc123 (a note by hand)"))
    published.publish("losses", tmp_path / "figures", dest, "snakemake l", 60.0, REPO,
                      machine_="2 CPU cores, no GPU", commit_="def456")
    text = readme.read_text()
    assert "## budget\n\n- command: `snakemake b`\n- commit: abc123 (a note by hand)\n" in text
    assert "## losses\n\n- command: `snakemake l`\n" in text
    assert published.parse_sections(text) == published.parse_sections(
        text.replace("## budget\n\n", "## budget\n"))  # one canonical form


def test_check_names_what_differs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = config()
    fake_study(tmp_path, "budget", ["6700x5"], [0, 1, 2], {"6700x5": 5})
    problems = published.check_published(tmp_path, "budget", cfg)
    assert any("variants ['6700x5']" in p for p in problems)
    fake_study(tmp_path, "budget", ["6700x5", "3350x10"], [0, 1, 2],
               {"6700x5": 5, "3350x10": 10}, drop=3)
    problems = published.check_published(tmp_path, "budget", cfg)
    assert problems and "6700x5" in problems[0] and "missing [(0, 2, 2)]" in problems[0]


def test_a_stage1_study_has_stage1_rows_only(tmp_path, monkeypatch):
    """losses is a stage-1 study (`stages: [1]`): its rows are stage 1's, every one there."""
    monkeypatch.chdir(tmp_path)
    cfg = config()
    assert published.expected_stages(cfg, "losses") == (1,)
    variants = ["mp-pp", "infimum", "rc"]
    fake_study(tmp_path, "losses", variants, [0, 1, 2], {v: 5 for v in variants}, stages=(1,))
    assert published.check_published(tmp_path, "losses", cfg) == []
    fake_study(tmp_path, "losses", variants, [0, 1, 2], {v: 5 for v in variants}, drop=3,
               stages=(1,))
    problems = published.check_published(tmp_path, "losses", cfg)
    assert problems and "mp-pp" in problems[0] and "missing [(0, 4, 1)]" in problems[0]
    fake_study(tmp_path, "losses", variants, [0, 1, 2], {v: 5 for v in variants})
    problems = published.check_published(tmp_path, "losses", cfg)
    assert problems and "extra [(0, 1, 2)" in problems[0]
    assert published.check_published(tmp_path, "acquisition", cfg)[0].endswith("missing")


def test_claims_on_hand_made_numbers():
    mul = {0: 40.0, 1: 42.0, 2: 44.0}
    dom = {0: 38.0, 1: 41.0, 2: 43.5}
    claim = published.compare("Mul > Dom", mul, dom)
    assert (claim.a_mean, claim.b_mean) == (42.0, pytest.approx(40.833333))
    assert claim.a_std == pytest.approx(2.0)
    assert claim.differences == {0: 2.0, 1: 1.0, 2: 0.5}
    assert claim.diff_mean == pytest.approx(7 / 6) and claim.verdict == "holds"
    assert published.compare("Dom > Mul", dom, mul).verdict == "does not hold"
    mixed = published.compare("x", {0: 1.0, 1: 2.0, 2: 3.0}, {0: 1.5, 1: 1.0, 2: 3.2})
    # diffs -0.5, +1.0, -0.2: mean +0.1 -> neither all positive nor clearly negative
    assert mixed.verdict == "within noise"
    # mean -0.1, std 0.7: |mean| < std / sqrt(3)
    assert published.verdict([-0.8, -0.1, 0.6]) == "within noise"
    assert published.verdict([-0.8, -0.6, -0.4]) == "does not hold"
    assert published.verdict([-1.0, -1.2, 0.05]) == "does not hold"  # mean -0.72, se 0.39
    assert math.isclose(published.mean_std([5.0])[1], 0.0)
    ranked = published.chain("acquisition", [("pixbal", {0: 4.0}), ("classbal", {0: 3.0}),
                                             ("random", {0: 3.5})])
    assert [c.name for c in ranked] == ["acquisition: pixbal > classbal",
                                        "acquisition: classbal > random"]
    assert [c.verdict for c in ranked] == ["holds", "does not hold"]
    width, verdict = published.spread({"k3": {0: 40.0, 1: 41.0}, "k12": {0: 41.0, 1: 42.2}},
                                      1.5)
    assert width == pytest.approx(1.1) and verdict == "holds"
    table = published.claims_markdown([claim])
    assert "| Mul > Dom | 42.00 ± 2.00 | 40.83 ± 2.75 | s0: +2.00, s1: +1.00, s2: +0.50 |" \
        in table and "Verdict rule:" in table
    with pytest.raises(ValueError, match="no seed in common"):
        published.compare("x", {0: 1.0}, {1: 1.0})


def test_readme_and_claims_md_hold_the_published_claims():
    """The claims table in README.md and docs/results/studies/claims.md is what the
    published CSVs give (publish_study.py rewrites both)."""
    from actseg.claims import claims_report, readme_block

    report = claims_report(FOLDER)
    assert readme_block((REPO / "README.md").read_text()) == report
    if published.published_studies(FOLDER):
        assert (FOLDER / "claims.md").read_text().endswith(report)


def test_write_claims_replaces_only_the_block(tmp_path):
    from actseg.claims import README_BEGIN, README_END, write_claims

    readme = tmp_path / "README.md"
    readme.write_text(f"# x\nbefore\n{README_BEGIN}\nold table\n{README_END}\nafter\n")
    report = write_claims(tmp_path, readme)
    text = readme.read_text()
    assert "old table" not in text and text.startswith("# x\nbefore\n")
    assert text.endswith(f"{README_END}\nafter\n") and report in text
    assert (tmp_path / "claims.md").read_text().endswith(report)
    readme.write_text("no markers")
    with pytest.raises(ValueError, match="lacks the claims markers"):
        write_claims(tmp_path, readme)
