"""The survey definition, `survey.json` in a survey folder beside `patches/`: the class names,
the six forms (each a list of questions with the true answer), the regions the patches show
and the assignment plan. `survey build` writes it; the server and the report read it.

A question's id and its patch's id are names made by the builder (`c2-multiclass-07`,
`g2-07`); the server looks them up here and never turns a request into a path.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from actseg.fileio import atomic_output

LABELLINGS = ("dominant", "multiclass")
CLASS_COUNTS = (1, 2, 3)
# The paper's instructions (supplement Sec. A), the second without its stray article.
INSTRUCTIONS = {
    "dominant": "Select the dominant class that corresponds to the inside of the red boundary.",
    "multiclass": "Select all classes that exist within the red boundary.",
}
SURVEY_FILE = "survey.json"
PATCH_FOLDER = "patches"


class SurveyError(Exception):
    """A survey cannot be built or read; the message says why."""


def form_id(n_classes: int, labelling: str) -> str:
    return f"c{n_classes}-{labelling}"


def patch_id(n_classes: int, position: int) -> str:
    return f"g{n_classes}-{position + 1:02d}"


@dataclass(frozen=True)
class Question:
    id: str
    form: str
    patch: str
    truth: tuple[int, ...]  # the true class set (one class for a dominant question)


@dataclass(frozen=True)
class Form:
    id: str
    n_classes: int
    labelling: str
    instruction: str
    questions: tuple[Question, ...]

    @property
    def multiple(self) -> bool:
        """Several classes may be selected (multi-class labelling)."""
        return self.labelling == "multiclass"


@dataclass
class Survey:
    class_names: list[str]
    forms: dict[str, Form]
    plan: dict[str, tuple[str, ...]]  # participant -> the ids of its forms, in order
    regions: list[dict] = field(default_factory=list)  # what each patch shows (provenance)
    attrs: dict = field(default_factory=dict)
    folder: Path | None = None

    def __post_init__(self):
        self._questions = {q.id: q for form in self.forms.values() for q in form.questions}

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def question(self, question_id: str) -> Question | None:
        return self._questions.get(question_id)

    def patch_path(self, question: Question) -> Path:
        return Path(self.folder) / PATCH_FOLDER / f"{question.patch}.png"


def _form_json(form: Form) -> dict:
    return {**asdict(form), "questions": [asdict(q) for q in form.questions]}


def write_survey(folder: str | Path, survey: Survey) -> Path:
    path = Path(folder) / SURVEY_FILE
    data = {"class_names": survey.class_names, "attrs": survey.attrs,
            "forms": [_form_json(f) for f in survey.forms.values()],
            "plan": {p: list(forms) for p, forms in survey.plan.items()},
            "regions": survey.regions}
    with atomic_output(path) as tmp:
        Path(tmp).write_text(json.dumps(data, indent=1))
    return path


def _form(entry: dict) -> Form:
    questions = tuple(Question(q["id"], q["form"], q["patch"], tuple(q["truth"]))
                      for q in entry["questions"])
    return Form(entry["id"], entry["n_classes"], entry["labelling"], entry["instruction"],
                questions)


def load_survey(folder: str | Path) -> Survey:
    path = Path(folder) / SURVEY_FILE
    try:
        data = json.loads(path.read_text())
        forms = {f.id: f for f in map(_form, data["forms"])}
        plan = {p: tuple(ids) for p, ids in data["plan"].items()}
        survey = Survey(data["class_names"], forms, plan, data.get("regions", []),
                        data.get("attrs", {}), Path(folder))
    except FileNotFoundError:
        raise SurveyError(f"{path}: no survey here (build one with `actseg survey build`)") \
            from None
    except (ValueError, KeyError, TypeError) as err:
        raise SurveyError(f"{path}: not a survey definition ({err!r})") from None
    unknown = {f for forms in plan.values() for f in forms} - set(forms)
    if unknown:
        raise SurveyError(f"{path}: the plan names unknown forms {sorted(unknown)}")
    return survey
