"""The embedded synthetic city: a Cityscapes-layout dataset generated from a seed.

    generate(out, seed=0, n_train=300, n_val=100, height=128, width=256, workers=2)

writes `leftImg8bit/{split}/{city}/{city}_{seq}_000019_leftImg8bit.png` and
`gtFine/{split}/{city}/..._gtFine_labelIds.png` (real Cityscapes label ids, void ids included)
plus `manifest.json` and `README` at the root, so `open_dataset("synthetic", out, split)`
reads it with the Cityscapes reader. Each image draws from its own random stream seeded by
(seed, split, index): parallel generation is bit-identical to serial. The tree is built in
a temporary sibling folder and renamed onto `out` when complete.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from actseg import schema
from actseg.datasets.cityscapes import IMAGE_SUFFIX, LABEL_SUFFIX
from actseg.datasets.common import DatasetError
from actseg.datasets.synthetic import MANIFEST, README_TITLE, read_manifest
from actseg.fileio import disk_full_named, make_temp_dir
from actseg.synth.render import Difficulty, render
from actseg.synth.scene import RARE_FORCED, compose_scene

__all__ = ["Difficulty", "generate", "image_relpaths", "read_manifest", "synthesize"]

log = logging.getLogger(__name__)

SPLITS = ("train", "val")
IMAGES_PER_CITY = 100
FRAME = "000019"  # the annotated frame of a Cityscapes snippet
SIZE = {key: schema.default(f"dataset.synthetic.{key}")
        for key in ("seed", "n_train", "n_val", "height", "width")}
FORMAT = 1  # bump when the generator's output for the same settings changes


def synthesize(seed: int, split: str, index: int, height: int, width: int,
               difficulty: Difficulty = Difficulty()) -> tuple[np.ndarray, np.ndarray]:
    """Image `index` of `split`: ((H, W, 3) uint8 RGB, (H, W) uint8 Cityscapes label ids)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, SPLITS.index(split), index]))
    canvas = compose_scene(rng, height, width, forced=RARE_FORCED[index % len(RARE_FORCED)])
    return render(canvas, rng, difficulty), canvas.label


def _city_count(n_images: int) -> int:
    return -(-n_images // IMAGES_PER_CITY)


def image_relpaths(split: str, index: int, n_train: int) -> tuple[str, str]:
    """(image, label) paths relative to the root; val cities are numbered after train's."""
    offset = _city_count(n_train) if split == "val" else 0
    city = f"synthcity{index // IMAGES_PER_CITY + offset:02d}"
    stem = f"{city}_{index:06d}_{FRAME}"
    return (f"leftImg8bit/{split}/{city}/{stem}{IMAGE_SUFFIX}",
            f"gtFine/{split}/{city}/{stem}{LABEL_SUFFIX}")


def _write_one(state: tuple[Path, dict, list[tuple[str, int]]], task: int) -> np.ndarray:
    """Render and write one image/label pair; return its label-id histogram (256,)."""
    root, settings, tasks = state
    split, index = tasks[task]
    image, label = synthesize(settings["seed"], split, index, settings["height"],
                              settings["width"], Difficulty(**settings["difficulty"]))
    for rel, array in zip(image_relpaths(split, index, settings["n_train"]), (image, label)):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(array).save(path, format="PNG")
    return np.bincount(label.ravel(), minlength=256)


def _settings(seed: int, n_train: int, n_val: int, height: int, width: int,
              difficulty: Difficulty) -> dict:
    for name, value, low in (("seed", seed, 0), ("n_train", n_train, 1), ("n_val", n_val, 1),
                             ("height", height, 32), ("width", width, 32)):
        if not isinstance(value, (int, np.integer)) or value < low:
            flag = name.replace("_", "-")
            raise ValueError(f"{name} (--{flag}) must be an integer >= {low}, got {value!r}")
    for name, value in dataclasses.asdict(difficulty).items():
        if not np.isfinite(value) or value < 0:
            flag = name.replace("_", "-")
            raise ValueError(f"difficulty {name} (--{flag}) must be a finite number >= 0, "
                             f"got {value!r}")
    return {"format": FORMAT, "seed": int(seed), "n_train": int(n_train), "n_val": int(n_val),
            "height": int(height), "width": int(width),
            "difficulty": {k: float(v) for k, v in dataclasses.asdict(difficulty).items()}}


def generate(out: str | os.PathLike, seed: int = SIZE["seed"], n_train: int = SIZE["n_train"],
             n_val: int = SIZE["n_val"], height: int = SIZE["height"],
             width: int = SIZE["width"], workers: int = 1,
             difficulty: Difficulty = Difficulty(), force: bool = False) -> Path:
    """Write the synthetic city to `out`; return its path.

    A folder already generated with the same settings is left as it is. Another non-empty
    folder raises DatasetError unless `force` (then it is replaced once the new tree is done).
    """
    from actseg.parallel import map_images

    out = Path(out)
    settings = _settings(seed, n_train, n_val, height, width, difficulty)
    if out.exists() and _check_existing(out, settings, force):
        log.info("%s already holds the synthetic city with these settings", out)
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = make_temp_dir(out)  # also removes those of dead writers
    try:
        tasks = [(split, i) for split, n in zip(SPLITS, (n_train, n_val)) for i in range(n)]
        with disk_full_named(out):
            histograms = list(map_images(_write_one, (tmp, settings, tasks), len(tasks),
                                         workers, desc="synth"))
            _write_manifest(tmp, settings, tasks, histograms)
        os.chmod(tmp, 0o755)
        _replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _check_existing(out: Path, settings: dict, force: bool) -> bool:
    """True when `out` already holds this dataset; raise when it holds something else."""
    if not out.is_dir():
        raise DatasetError(f"{out}: exists and is not a folder")
    if not any(out.iterdir()):
        return False
    manifest = read_manifest(out)
    if manifest is not None and manifest.get("settings") == settings:
        return True
    if not force:
        what = "a synthetic city with other settings" if manifest else "other files"
        raise DatasetError(f"{out}: already holds {what}; remove it or pass force=True (--force)")
    return False


def _write_manifest(root: Path, settings: dict, tasks: list[tuple[str, int]],
                    histograms: list[np.ndarray]) -> None:
    pixels = {split: np.zeros(256, np.int64) for split in SPLITS}
    for (split, _), histogram in zip(tasks, histograms):
        pixels[split] += histogram
    manifest = {
        "generator": "actseg synthetic city",
        "settings": settings,
        "images": {split: settings[f"n_{split}"] for split in SPLITS},
        "label_id_pixels": {split: {str(i): int(c) for i, c in enumerate(counts) if c}
                            for split, counts in pixels.items()},
    }
    from actseg import __version__

    manifest["actseg_version"] = __version__
    (root / "README").write_text(
        f"{README_TITLE}, in the Cityscapes layout (leftImg8bit/, gtFine/\n"
        "with official Cityscapes label ids). Regenerate with:\n"
        f"  python -m actseg synth --out DIR --seed {settings['seed']} --n-train "
        f"{settings['n_train']} --n-val {settings['n_val']} --height {settings['height']} "
        f"--width {settings['width']}" + "".join(
            f" --{k.replace('_', '-')} {v}" for k, v in settings["difficulty"].items()) + "\n"
        "manifest.json holds the settings and the pixel count of every label id per split.\n"
    )
    (root / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")


def _replace_dir(new: Path, out: Path) -> None:
    """Rename `new` onto `out`, moving an old `out` aside first and deleting it after."""
    if out.exists() and any(out.iterdir()):
        old = make_temp_dir(out, ".old")
        os.replace(out, old / "tree")
        os.replace(new, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(new, out)
