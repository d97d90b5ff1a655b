"""The claims table (issue 11, item 3) on hand-made study CSVs whose answers are known."""

from __future__ import annotations

import pandas as pd
import pytest

from actseg import claims


def write_study(folder, study, curves, stages=(1, 2)):
    """curves: {variant: {seed: [mIoU of round 1, 2, ...] (fractions)}}; stage s adds
    0.01 * (s - 1) so that stage 2 is one point above stage 1."""
    rows = [{"study": study, "variant": variant, "labelling": "multiclass", "seed": seed,
             "round": t, "stage": stage, "clicks": 100 * t, "miou": value + 0.01 * (stage - 1)}
            for variant, seeds in curves.items() for seed, values in seeds.items()
            for t, value in enumerate(values, start=1) for stage in stages]
    pd.DataFrame(rows).to_csv(folder / f"{study}.csv", index=False)


def test_pairwise_values_and_verdicts(tmp_path):
    write_study(tmp_path, "budget", {
        "6700x5": {0: [0.1, 0.30], 1: [0.1, 0.32], 2: [0.1, 0.34]},
        "3350x10": {0: [0.1, 0.2, 0.31], 1: [0.1, 0.2, 0.31], 2: [0.1, 0.2, 0.35]}})
    [claim] = claims.budget(claims.Studies(tmp_path))
    # last rounds, stage 2 (+1 point): 3350x10 32/32/36 vs 6700x5 31/33/35
    assert claim.differences == pytest.approx({0: 1.0, 1: -1.0, 2: 1.0})
    assert claim.a_mean == pytest.approx(100 / 3 + 0.0)  # (32 + 32 + 36) / 3
    assert claim.verdict == "within noise"


def test_gain_claims_pair_differences_by_seed(tmp_path):
    write_study(tmp_path, "expansion", {
        "local": {0: [0.20], 1: [0.22]}, "local-expand": {0: [0.25], 1: [0.26]},
        "dom": {0: [0.20], 1: [0.20]}, "dom-expand": {0: [0.21], 1: [0.22]}})
    local, dom, claim = claims.expansion(claims.Studies(tmp_path))
    assert local.differences == pytest.approx({0: 5.0, 1: 4.0})
    assert dom.differences == pytest.approx({0: 1.0, 1: 2.0})
    # gains: Local 5, 4; Dom 1, 2 -> differences 4, 2
    assert claim.differences == pytest.approx({0: 4.0, 1: 2.0})
    assert claim.verdict == "holds"


def test_gap_by_round_finds_the_largest(tmp_path):
    write_study(tmp_path, "losses", {
        "mp-pp": {0: [0.20, 0.30, 0.40], 1: [0.22, 0.30, 0.40]},
        "infimum": {0: [0.10, 0.28, 0.39], 1: [0.12, 0.28, 0.41]},
        "rc": {0: [0.19, 0.20, 0.40], 1: [0.21, 0.20, 0.40]}}, stages=(1,))
    s = claims.Studies(tmp_path)
    infimum, rc = claims.losses_gaps(s)
    assert infimum.gaps == pytest.approx({1: 10.0, 2: 2.0, 3: 0.0})
    assert (infimum.largest, infimum.verdict) == (1, "holds")
    assert (rc.largest, rc.verdict) == (2, "holds")  # round 2 is early too
    better_than_infimum, _ = claims.losses(s)
    assert better_than_infimum.differences == pytest.approx({0: 1.0, 1: -1.0})


def test_sensitivity_uses_the_mean_over_rounds(tmp_path):
    flat = {0: [0.2, 0.4], 1: [0.2, 0.4]}
    curves = {v: flat for v in ("default", "kappa3", "kappa12", "lambda-mp4", "lambda-mp16",
                                "lambda-ce8", "lambda-ce32")}
    curves["kappa12"] = {0: [0.2, 0.44], 1: [0.2, 0.44]}  # mean over rounds 32 vs 30
    write_study(tmp_path, "hyperparams", curves, stages=(1,))
    kappa, mp, ce = claims.hyperparams(claims.Studies(tmp_path))
    assert kappa.means == pytest.approx({"kappa3": 30.0, "default": 30.0, "kappa12": 32.0})
    assert (kappa.width, kappa.verdict) == (pytest.approx(2.0), "does not hold")
    assert (mp.width, mp.verdict) == (0.0, "holds")


def test_report_lists_what_is_pending(tmp_path):
    write_study(tmp_path, "expansion", {
        "local": {0: [0.20]}, "local-expand": {0: [0.25]},
        "dom": {0: [0.20]}, "dom-expand": {0: [0.21]}})
    report = claims.claims_report(tmp_path)
    assert "| expansion gain: Local > Dom, stage 2 |" in report
    assert "Not yet published (their claims pending): region_size, budget, acquisition, " \
           "losses, pseudo_labels, hyperparams." in report
    with pytest.raises(KeyError, match="no rows of variant 'nosuch'"):
        claims.Studies(tmp_path).final("expansion", "nosuch", 2)
