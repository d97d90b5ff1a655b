"""Small surveys for the survey tests.

    hand_survey(folder)   six forms of two questions over 4 classes, written by hand
                          (truth below), with 2x2 PNG patches; participants p01..p03
    build_city_survey(folder)   a real one through `actseg synth | regions | oracle |
                          survey build` on a 4-image 64x128 city (about a second)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from actseg.cli import main as actseg_main
from actseg.survey.forms import (INSTRUCTIONS, PATCH_FOLDER, Form, Question, Survey, form_id,
                                 patch_id, write_survey)

CLASS_NAMES = ["road", "car", "sky", "tree"]
# per group: the multi-class truth of its two regions; the dominant truth is the first class
TRUTH = {1: [(0,), (1,)], 2: [(0, 1), (1, 2)], 3: [(0, 1, 2), (1, 2, 3)]}
DOMINANT = {1: [0, 1], 2: [0, 2], 3: [1, 3]}
PLAN = {"p01": ("c1-dominant", "c2-multiclass", "c3-dominant"),
        "p02": ("c1-dominant", "c2-multiclass", "c3-multiclass"),
        "p03": ("c1-multiclass", "c2-dominant", "c3-dominant")}


def _forms(k: int) -> list[Form]:
    forms = []
    for labelling, truths in (("dominant", [(d,) for d in DOMINANT[k]]),
                              ("multiclass", TRUTH[k])):
        fid = form_id(k, labelling)
        questions = tuple(Question(f"{fid}-{i + 1:02d}", fid, patch_id(k, i), truth)
                          for i, truth in enumerate(truths))
        forms.append(Form(fid, k, labelling, INSTRUCTIONS[labelling], questions))
    return forms


def hand_survey(folder: str | Path) -> Survey:
    folder = Path(folder)
    forms = {f.id: f for k in TRUTH for f in _forms(k)}
    (folder / PATCH_FOLDER).mkdir(parents=True, exist_ok=True)
    for k in TRUTH:
        for i in range(2):
            pixels = np.full((2, 2, 3), 40 * k + i, np.uint8)
            Image.fromarray(pixels).save(folder / PATCH_FOLDER / f"{patch_id(k, i)}.png")
    survey = Survey(CLASS_NAMES, forms, PLAN, [], {}, folder)
    write_survey(folder, survey)
    return survey


def build_city_survey(folder: str | Path, per_group: int = 3, participants: int = 4) -> Path:
    from pipeline_fixtures import make_city, make_regions_and_oracle

    folder = Path(folder)
    root = make_city(folder / "city", n_train=4, n_val=1, height=64, width=128)
    regions, oracle = make_regions_and_oracle(root, folder)
    code = actseg_main(["survey", "build", "--dataset", "synthetic", "--root", str(root),
                        "--regions", str(regions), "--oracle", str(oracle),
                        "--out", str(folder / "survey"), "--regions-per-group", str(per_group),
                        "--participants", str(participants), "--seed", "1"])
    assert code == 0
    return folder / "survey"
