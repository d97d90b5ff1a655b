"""`actseg survey build`: draw the regions, render their patches and write the survey folder
(`patches/g{k}-{nn}.png`, then `survey.json`, written last: its presence means the folder is
complete).

Both forms of a group ask about the same regions in the same order; the dominant form's
truth is the region's dominant class, the multi-class form's its trimmed class set.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from PIL import Image

from actseg.fileio import atomic_output
from actseg.survey.forms import (INSTRUCTIONS, LABELLINGS, PATCH_FOLDER, Form, Question,
                                 Survey, form_id, patch_id, write_survey)
from actseg.survey.patches import patch_side, render_patch
from actseg.survey.plan import assignment_plan
from actseg.survey.sampling import SampledRegion, VoidCheck, draw_regions


def write_patch(path: Path, pixels) -> None:
    with atomic_output(path) as tmp:
        Image.fromarray(pixels).save(tmp, format="PNG")


def render_group(dataset, regions_store, regions: list[SampledRegion], n_classes: int,
                 side_at_cityscapes: int, folder: Path) -> list[dict]:
    """Write the patches of one group; return what each shows (for survey.json)."""
    shown = []
    for position, region in enumerate(regions):
        image = dataset.load_image(region.image)
        height, width = image.shape[:2]
        side = patch_side(side_at_cityscapes, height, width)
        mask = regions_store.region_map(region.image) == region.region
        name = patch_id(n_classes, position)
        write_patch(folder / PATCH_FOLDER / f"{name}.png",
                    render_patch(image, mask, side, side_at_cityscapes))
        shown.append({"patch": name, "image_id": dataset.image_ids[region.image],
                      "side": side, **asdict(region)})
    return shown


def group_forms(n_classes: int, regions: list[SampledRegion]) -> list[Form]:
    """The dominant and the multi-class form of one group."""
    forms = []
    for labelling in LABELLINGS:
        fid = form_id(n_classes, labelling)
        questions = tuple(
            Question(f"{fid}-{position + 1:02d}", fid, patch_id(n_classes, position),
                     (region.dominant,) if labelling == "dominant" else region.classes)
            for position, region in enumerate(regions))
        forms.append(Form(fid, n_classes, labelling, INSTRUCTIONS[labelling], questions))
    return forms


def build_survey(dataset, regions_store, table, out: str | Path, regions_per_group: int,
                 side_at_cityscapes: int, participants: int, seed: int,
                 attrs: dict | None = None) -> Survey:
    out = Path(out)
    groups = draw_regions(table, regions_per_group, seed, VoidCheck(dataset, regions_store))
    shown, forms = [], {}
    for n_classes, regions in groups.items():
        shown += render_group(dataset, regions_store, regions, n_classes, side_at_cityscapes,
                              out)
        forms.update({f.id: f for f in group_forms(n_classes, regions)})
    survey = Survey(list(dataset.class_names), forms, assignment_plan(participants), shown,
                    dict(attrs or {}), out)
    write_survey(out, survey)
    return survey
