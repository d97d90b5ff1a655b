"""The report's outlier rule, explicit and configurable (`survey.outlier_iqr`, k): a
participant is excluded when, in any of its forms, the total time or the accuracy lies
outside Tukey's fences [Q1 - k·IQR, Q3 + k·IQR] of that form's values over all
participants. k = None excludes no one. (The paper excluded 5 of 45 participants "in terms
of time and accuracy" without stating its rule.)
"""

from __future__ import annotations

import pandas as pd

OUTLIER_METRICS = ("total_time_s", "accuracy")


def outside_fences(values: pd.Series, k: float) -> pd.Series:
    q1, q3 = values.quantile(0.25), values.quantile(0.75)
    spread = k * (q3 - q1)
    return (values < q1 - spread) | (values > q3 + spread)


def outlier_participants(results: pd.DataFrame, k: float | None) -> list[str]:
    """Sorted ids of the participants the rule excludes."""
    if k is None or results.empty:
        return []
    flagged = pd.Series(False, index=results.index)
    for metric in OUTLIER_METRICS:
        flagged |= results.groupby("form")[metric].transform(lambda v: outside_fences(v, k))
    return sorted(results.loc[flagged, "participant"].unique())
