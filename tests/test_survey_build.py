"""The survey builder: groups by number of classes, exclusion of undefined regions, the
seeded draw, the assignment plan's constraints, and a survey built through the CLI."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from actseg.cli import main as actseg_main
from actseg.stores import OracleTable
from actseg.survey.forms import CLASS_COUNTS, INSTRUCTIONS, LABELLINGS, SurveyError, load_survey
from actseg.survey.plan import assignment_plan, labelling_choices
from actseg.survey.sampling import class_counts, draw_group, draw_regions

C = 4  # classes 0..3, bit 4 = undefined


def table(multihot, dominant) -> OracleTable:
    multihot = np.asarray(multihot, np.uint32)
    return OracleTable(multihot=multihot, dominant=np.asarray(dominant, np.uint8),
                       area=np.where(multihot > 0, 10, 0).astype(np.int32),
                       trimmed_area=np.full(multihot.shape, 5, np.int32), num_classes=C)


def never(image, region):
    return False


def test_groups_by_trimmed_set_and_excludes_undefined():
    t = table([[0b00001, 0b00011, 0b01011, 0b10001, 0b00001, 0b0, 0b00110]],
              [[0, 1, 3, 0, C, 255, 0]])
    counts, eligible = class_counts(t)
    np.testing.assert_array_equal(counts[0], [1, 2, 3, 1, 1, 0, 2])
    # undefined in the trimmed set (3), undefined dominant (4), absent (5), a dominant
    # class outside the trimmed set (6) are left out
    np.testing.assert_array_equal(eligible[0], [True, True, True, False, False, False, False])


def test_draw_skips_regions_with_void_pixels_and_reports_shortage():
    t = table([[0b0001, 0b0010, 0b0100]], [[0, 1, 2]])
    drawn = draw_group(t, 1, 2, lambda image, region: region == 1, np.random.default_rng(0))
    assert sorted(r.region for r in drawn) == [0, 2]
    assert {r.region: (r.classes, r.dominant) for r in drawn} == {0: ((0,), 0), 2: ((2,), 2)}
    with pytest.raises(SurveyError, match="only 2 regions with 1 class"):
        draw_group(t, 1, 3, lambda image, region: region == 1, np.random.default_rng(0))


def test_draw_is_seeded():
    rng = np.random.default_rng(5)
    multihot = rng.choice([0b0001, 0b0011, 0b0111, 0b0110], size=(6, 30))
    t = table(multihot, np.zeros((6, 30)))
    first, again = draw_regions(t, 5, 3, never), draw_regions(t, 5, 3, never)
    assert first == again
    assert first != draw_regions(t, 5, 4, never)
    for k, regions in first.items():
        assert len(regions) == 5 and len(set(regions)) == 5
        assert all(len(r.classes) == k for r in regions)


def test_labelling_choices_pair_complements():
    choices = labelling_choices()
    assert len(set(choices)) == 8
    for a, b in zip(choices[::2], choices[1::2]):
        assert all(x != y for x, y in zip(a, b))


@pytest.mark.parametrize("participants", [1, 2, 5, 8, 16, 45])
def test_plan_three_forms_one_per_group(participants):
    plan = assignment_plan(participants)
    assert len(plan) == participants
    for forms in plan.values():
        assert len(forms) == 3
        assert sorted(f.split("-")[0] for f in forms) == ["c1", "c2", "c3"]  # no region twice
    uses = Counter(f for forms in plan.values() for f in forms)
    if participants % 2 == 0:
        assert set(uses.values()) == {participants // 2} and len(uses) == 6


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from survey_fixtures import build_city_survey

    return build_city_survey(tmp_path_factory.mktemp("survey")).parent


def test_built_survey_has_six_forms_sharing_regions_per_group(built):
    survey = load_survey(built / "survey")
    assert sorted(survey.forms) == sorted(f"c{k}-{lab}" for k in CLASS_COUNTS
                                          for lab in LABELLINGS)
    for k in CLASS_COUNTS:
        dom, mul = survey.forms[f"c{k}-dominant"], survey.forms[f"c{k}-multiclass"]
        assert [q.patch for q in dom.questions] == [q.patch for q in mul.questions]
        assert dom.instruction == INSTRUCTIONS["dominant"] and mul.multiple
        assert all(len(q.truth) == k for q in mul.questions)
        assert all(len(q.truth) == 1 and q.truth[0] in m.truth
                   for q, m in zip(dom.questions, mul.questions))
    for form in survey.forms.values():
        for question in form.questions:
            assert survey.patch_path(question).is_file()
    shown = json.loads((built / "survey" / "survey.json").read_text())["regions"]
    assert len({(r["image"], r["region"]) for r in shown}) == 9
    assert {r["side"] for r in shown} == {22}  # 360 * 128 / 2048


def test_built_survey_regions_have_no_void_pixel(built):
    from actseg.datasets import open_dataset
    from actseg.stores import RegionsStore

    dataset = open_dataset("synthetic", built / "city", "train")
    store = RegionsStore(built / "regions.h5")
    for region in load_survey(built / "survey").regions:
        mask = store.region_map(region["image"]) == region["region"]
        assert (dataset.load_label(region["image"])[mask] != 255).all()


def test_build_fails_clearly_without_enough_regions(built, capsys):
    code = actseg_main(["survey", "build", "--dataset", "synthetic", "--root",
                        str(built / "city"), "--regions", str(built / "regions.h5"),
                        "--oracle", str(built / "oracle.h5"), "--out", str(built / "big"),
                        "--regions-per-group", "100000"])
    assert code == 1  # a project error (actseg.cli): one line, exit 1
    assert "fewer than the 100000 asked for" in capsys.readouterr().err
