"""Table 1 on a hand-made answer set, checked against numbers computed by hand, and the
outlier rule."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from survey_fixtures import hand_survey

from actseg.survey.outliers import outlier_participants
from actseg.survey.report import report
from actseg.survey.store import Answer, AnswerStore
from actseg.survey.table1 import form_results, jaccard, table1

# participant, question, classes, ms (truth: c1-dominant 0 | 1; c2-multiclass {0,1} | {1,2};
# c3-dominant 1 | 3)
ANSWERS = [
    ("p01", "c1-dominant-01", (0,), 1000), ("p01", "c1-dominant-02", (2,), 3000),  # JS 1, 0
    ("p02", "c1-dominant-01", (0,), 2000), ("p02", "c1-dominant-02", (1,), 2000),  # 1, 1
    ("p01", "c2-multiclass-01", (0, 1), 4000), ("p01", "c2-multiclass-02", (1,), 2000),  # 1, 1/2
    ("p02", "c2-multiclass-01", (0, 1, 3), 5000),  # 2/3
    ("p02", "c2-multiclass-02", (1, 2), 5000),  # 1
    ("p01", "c3-dominant-01", (1,), 3000), ("p01", "c3-dominant-02", (3,), 5000),  # 1, 1
    ("p03", "c3-dominant-01", (1,), 9000),  # p03 stopped here: an incomplete form, left out
]


def answers() -> list[Answer]:
    return [Answer(p, q, q.rsplit("-", 1)[0], c, len(c), len(c), ms)
            for p, q, c, ms in ANSWERS]


def test_jaccard():
    assert jaccard({0, 1}, {1}) == 0.5 and jaccard({0, 1}, {0, 1, 3}) == 2 / 3
    assert jaccard({2}, {2}) == 1 and jaccard({2}, {3}) == 0


def row(table, query, classes):
    (match,) = table[(table["query"] == query) & (table["classes"] == classes)].to_dict("records")
    return match


def test_table1_by_hand(tmp_path):
    survey = hand_survey(tmp_path)
    results = form_results(survey, answers())
    assert len(results) == 5  # p03's half form is not a result
    table = table1(results)
    assert list(zip(table["query"], table["classes"])) == [
        ("Dominant", "1"), ("Dominant", "3"), ("Dominant", "average"),
        ("Multi-class", "2"), ("Multi-class", "average")]
    expected = {  # column: (mean, std) by hand, std with ddof 1
        ("Dominant", "1"): {"total_time_s": (4.0, 0.0), "clicks": (2.0, 0.0),
                            "time_per_click_s": (2.0, 0.0),
                            "accuracy": (75.0, 50 / math.sqrt(2))},
        ("Dominant", "3"): {"total_time_s": (8.0, math.nan), "clicks": (2.0, math.nan),
                            "time_per_click_s": (4.0, math.nan), "accuracy": (100.0, math.nan)},
        ("Dominant", "average"): {"total_time_s": (16 / 3, math.sqrt(16 / 3)),
                                  "clicks": (2.0, 0.0),
                                  "time_per_click_s": (8 / 3, math.sqrt(4 / 3)),
                                  "accuracy": (250 / 3, 100 * math.sqrt(1 / 12))},
        ("Multi-class", "2"): {"total_time_s": (8.0, math.sqrt(8)),
                               "clicks": (4.0, math.sqrt(2)),
                               "time_per_click_s": (2.0, 0.0),
                               "accuracy": (100 * (0.75 + 5 / 6) / 2,
                                            100 * (5 / 6 - 0.75) / math.sqrt(2))},
    }
    for (query, classes), columns in expected.items():
        got = row(table, query, classes)
        for column, (mean, std) in columns.items():
            assert got[f"{column}_mean"] == pytest.approx(mean), (query, classes, column)
            if math.isnan(std):
                assert math.isnan(got[f"{column}_std"])
            else:
                assert got[f"{column}_std"] == pytest.approx(std), (query, classes, column)
    assert row(table, "Multi-class", "average")["participants"] == 2


def test_report_writes_csv_markdown_plot(tmp_path):
    survey = hand_survey(tmp_path / "survey")
    store = AnswerStore(tmp_path / "a.sqlite")
    store.add_participants(survey.plan)
    for answer in answers():
        store.record(answer)
    table, excluded = report(survey, store, tmp_path / "out", outlier_iqr=None)
    assert excluded == []
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "out/table1.csv", dtype={"classes": str}),
                                  table, check_dtype=False)
    text = (tmp_path / "out/table1.md").read_text()
    assert "| Query | # of classes | Participants | Total time (s) | Total clicks |" in text
    assert "| Dominant | 1 | 2 | 4.0±0.0 | 2.0±0.0 | 2.00±0.00 | 75.00±35.36 |" in text
    assert "| Dominant | 3 | 1 | 8.0±– | 2.0±– | 4.00±– | 100.00±– |" in text
    assert (tmp_path / "out/table1.png").read_bytes().startswith(b"\x89PNG")
    forms = pd.read_csv(tmp_path / "out/forms.csv")
    assert len(forms) == 5 and not forms["excluded"].any()


def test_outlier_rule_uses_tukey_fences_per_form():
    times = [10, 11, 12, 13, 100]  # Q1 11, Q3 13: k = 3 fences [5, 19]
    results = pd.DataFrame({"participant": [f"p{i}" for i in range(5)], "form": "c1-dominant",
                            "total_time_s": times, "accuracy": [0.9, 0.9, 1.0, 0.9, 1.0]})
    assert outlier_participants(results, 3.0) == ["p4"]
    assert outlier_participants(results, 50.0) == []
    assert outlier_participants(results, None) == []
    results.loc[1, "accuracy"] = 0.1  # Q1 0.9, Q3 1.0: fences [0.6, 1.3]
    assert outlier_participants(results, 3.0) == ["p1", "p4"]
