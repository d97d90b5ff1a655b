"""`actseg pretrain`: pretrain the network on the procedural texture-and-shape domain
(`actseg.pretext`) -> its state dict without the pretext classifier (backbone, ASPP and
decoder) that `model.pretrained` loads, plus a JSON provenance file (command, settings, code
version, sha256) beside it."""

from __future__ import annotations

import argparse
import logging

from actseg.cli import CommandError
from actseg.commands.options import (add_settings_arguments, add_threads_argument,
                                     resolve_settings, set_threads)

log = logging.getLogger(__name__)

PRETEXT_OUTPUT_STRIDE = 16  # a property of the pretext model; weights load at any stride


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="backbone weights to write (.pt)")
    add_settings_arguments(parser, "pretrain")
    add_threads_argument(parser)


def run(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    import torch

    from actseg.model import build_model
    from actseg.pretext import PretextDataset
    from actseg.train import PixelLabelObjective, TrainSettings, train

    settings = resolve_settings(args, "pretrain")
    set_threads(args)
    dataset = PretextDataset(tuple(args.size), seed=args.seed)
    torch.manual_seed(args.seed)
    model = build_model(args.backbone, output_stride=PRETEXT_OUTPUT_STRIDE, stem=args.stem,
                        num_outputs=dataset.num_classes)
    train_settings = TrainSettings(
        iterations=args.iterations, batch_size=args.batch_size, lr=args.lr,
        head_lr_mult=args.head_lr_mult, seed=args.seed, num_workers=args.num_workers,
        checkpoint_every=max(100, args.iterations // 20), device=args.device,
        amp=args.amp)
    out = Path(args.out)
    start = time.perf_counter()
    # the whole pretext model sits beside the output while training, so that a killed run
    # resumes from its <full>.resume.pt; all but its classifier is kept
    full = out.with_name(f".{out.stem}.pretext.pt")
    try:
        train(model, dataset, PixelLabelObjective(), train_settings, full,
              out.with_suffix(".log.csv"), {"stage": "pretext", "backbone": args.backbone})
    except (ValueError, RuntimeError) as err:
        raise CommandError(str(err)) from err
    full.unlink()  # the trained model is still in memory
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("classifier.")}
    write_weights(out, state, settings, time.perf_counter() - start)
    return 0


def write_weights(out, state: dict, settings: dict, seconds: float) -> None:
    """The weights' state dict to `out`, its provenance to `out` .json (atomically)."""
    import hashlib
    import json
    import shlex
    from pathlib import Path

    import torch

    from actseg import __version__
    from actseg.experiments.jobs import settings_json
    from actseg.fileio import atomic_output
    from actseg.pretext import FAMILIES, KINDS

    with atomic_output(out) as tmp:
        torch.save(state, tmp)
    digest = hashlib.sha256(Path(out).read_bytes()).hexdigest()
    command = ["python", "-m", "actseg", "pretrain", "--out", str(out),
               "--settings", settings_json(settings)]
    provenance = {"command": shlex.join(command),
                  "settings": settings, "output_stride": PRETEXT_OUTPUT_STRIDE,
                  "actseg_version": __version__, "torch_version": torch.__version__,
                  "domain": ("actseg.pretext: (texture family, kind of piece) pairs; families "
                             + ", ".join(FAMILIES) + "; kinds " + ", ".join(KINDS)),
                  "parts": "backbone, ASPP and decoder (not the pretext classifier)",
                  "sha256": digest, "seconds": round(seconds, 1)}
    with atomic_output(Path(out).with_suffix(".json")) as tmp:
        Path(tmp).write_text(json.dumps(provenance, indent=2) + "\n")
    log.info("wrote %s (sha256 %s)", out, digest[:12])
