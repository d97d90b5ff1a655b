"""`actseg pretrain`: pretrain a backbone on the procedural texture-and-shape domain
(`actseg.pretext`) -> a backbone state dict that `model.pretrained` loads, plus a JSON
provenance file (command, seed, code version, sha256) beside it."""

from __future__ import annotations

import argparse
import logging

from actseg.cli import CommandError

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="backbone weights to write (.pt)")
    parser.add_argument("--backbone", default="small")
    parser.add_argument("--stem", default="deep", choices=("deep", "standard"))
    parser.add_argument("--output-stride", type=int, default=16, choices=(8, 16))
    parser.add_argument("--iterations", type=int, default=3000)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--size", type=int, nargs=2, default=(128, 128), metavar=("H", "W"),
                        help="pretext image size")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--num-workers", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    import hashlib
    import json
    import sys
    import time
    from pathlib import Path

    import torch

    from actseg import __version__
    from actseg.checkpoint import load_checkpoint
    from actseg.fileio import atomic_output
    from actseg.model import build_model
    from actseg.pretext import PretextDataset
    from actseg.train import PixelLabelObjective, TrainSettings, train

    if args.iterations < 1 or args.batch_size < 1:
        raise CommandError("--iterations and --batch-size must be >= 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    dataset = PretextDataset(tuple(args.size), seed=args.seed)
    torch.manual_seed(args.seed)
    model = build_model(args.backbone, dataset.num_classes, args.output_stride, stem=args.stem)
    settings = TrainSettings(iterations=args.iterations, batch_size=args.batch_size,
                             lr=args.lr, seed=args.seed, num_workers=args.num_workers,
                             checkpoint_every=max(100, args.iterations // 10),
                             device=args.device)
    out = Path(args.out)
    start = time.perf_counter()
    # the whole pretext model sits beside the output while training, so that a killed run
    # resumes from its <full>.resume.pt; only the backbone is kept
    full = out.with_name(f".{out.stem}.pretext.pt")
    train(model, dataset, PixelLabelObjective(), settings, full, out.with_suffix(".log.csv"),
          {"stage": "pretext", "backbone": args.backbone})
    state = load_checkpoint(full)["model"]
    full.unlink()
    backbone = {k[len("backbone."):]: v for k, v in state.items() if k.startswith("backbone.")}
    with atomic_output(out) as tmp_out:
        torch.save(backbone, tmp_out)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    provenance = {"command": "python -m actseg pretrain " + " ".join(sys.argv[2:]),
                  "actseg_version": __version__, "torch_version": torch.__version__,
                  "seed": args.seed, "iterations": args.iterations,
                  "batch_size": args.batch_size, "size": list(args.size), "lr": args.lr,
                  "backbone": args.backbone, "stem": args.stem,
                  "domain": "actseg.pretext: texture families " + ", ".join(dataset.class_names),
                  "sha256": digest, "seconds": round(time.perf_counter() - start, 1)}
    with atomic_output(out.with_suffix(".json")) as tmp_json:
        Path(tmp_json).write_text(json.dumps(provenance, indent=2) + "\n")
    log.info("wrote %s (sha256 %s)", out, digest[:12])
    return 0
