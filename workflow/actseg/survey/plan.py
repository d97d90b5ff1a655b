"""The assignment plan: each participant answers three of the six forms, one per number of
classes, so no participant sees a region twice (the dominant and the multi-class form of a
group ask about the same regions; groups share none).

The eight choices of labelling per group come in complementary pairs (DDD then MMM, DDM then
MMD, ...), so any even number of participants answers every form equally often. The order of
a participant's three forms rotates with its number, spreading fatigue over the groups.
"""

from __future__ import annotations

import itertools

from actseg.survey.forms import CLASS_COUNTS, LABELLINGS, form_id


def labelling_choices() -> list[tuple[str, ...]]:
    """The 2^3 labellings of groups (1, 2, 3), each followed by its complement."""
    first_halves = [c for c in itertools.product(LABELLINGS, repeat=len(CLASS_COUNTS))
                    if c[0] == LABELLINGS[0]]
    other = {LABELLINGS[0]: LABELLINGS[1], LABELLINGS[1]: LABELLINGS[0]}
    return [c for choice in first_halves for c in (choice, tuple(other[x] for x in choice))]


def participant_id(index: int) -> str:
    return f"p{index + 1:02d}"


def assignment_plan(participants: int) -> dict[str, tuple[str, ...]]:
    """{participant id: its three form ids in answering order}."""
    choices = labelling_choices()
    plan = {}
    for index in range(participants):
        forms = [form_id(k, lab) for k, lab in zip(CLASS_COUNTS, choices[index % len(choices)])]
        shift = index % len(forms)
        plan[participant_id(index)] = tuple(forms[shift:] + forms[:shift])
    return plan
