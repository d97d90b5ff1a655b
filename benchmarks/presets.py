"""GPU hours of the paper presets (workflow/configs/*-paper.yaml), projected from FLOP counts.

For each preset (merged over config.yaml, as `--configfile config.yaml <preset>` gives
Snakemake) the preset's model is built on the `meta` device (no memory, no arithmetic) and
`torch.utils.flop_counter.FlopCounterMode` counts

- one training step: forward + backward at the preset's batch x crop, and
- one inference forward at the dataset's full image size (Cityscapes 1024x2048; VOC
  nominally 500x375).

A whole run is `rounds` x (stage-1 + stage-2 iterations) training steps plus, per round,
inference over the training pool (acquisition from round 2 on; pseudo labels) and over the
validation split (the evaluation of both stages, and with `train.checkpoint: best_val` or
`best_heldout` one validation every `train.validate_every` iterations of each stage). Every
count is read from the preset; only the dataset sizes (images per split, image size) are
constants here. The pools are taken as the whole training split (an upper bound: acquisition
scores the images that still have an unlabelled region, pseudo labels the images with a
labelled one).

Hours = total FLOPs / (peak x utilisation). The one measured number behind the utilisation
is the paper's: the supplement says the whole Cityscapes run (two stages and pseudo labels,
five rounds) took about 65 hours on one RTX 3090. By default the utilisation is calibrated
so that the RTX 3090 projection of the Cityscapes preset equals those 65 h, so that row
reproduces the paper by construction; the other rows scale it by FLOPs. `--utilisation`
sets it instead. The authors trained in float32 (no autocast in their trainer), i.e. TF32
tensor-core convolutions on Ampere, so the RTX 3090 peak is its dense TF32 figure, 35.6
TFLOPS (`--peak-3090 71` for its dense bf16 figure). The H200 column applies the same
utilisation to its dense bf16 peak, 989 TFLOPS; a second H200 column instead runs the whole
job at the FLOP rate of the measured H200 training step of benchmarks/README.md (39.0
ms/step, bf16 + channels_last, stage-1 loss, batch 4 at 768x768, `benchmarks/model.py`).

What is counted: convolutions (and matmuls), forward and backward, 2 FLOPs per
multiply-add, as FlopCounterMode does. Not counted: batch norm, activations, bilinear
upsampling, the losses, the optimizer, prototype similarities, data loading; PyTorch's
convolution-backward formula ignores groups for the weight gradient, which overcounts the
depthwise convolutions of the separable ASPP and decoder by their channel count, so this
script counts a convolution's weight gradient as its forward FLOPs instead (exact, groups
included).

`--cpu-steps N` (default 2; 0 skips) also times N training steps of the Cityscapes preset's
model at batch 1, 256x256, on one CPU thread, and prints seconds per GFLOP, to show the FLOP
count agrees with a measured rate.

    python benchmarks/presets.py
    python benchmarks/presets.py --utilisation 0.2 --cpu-steps 0
"""

from __future__ import annotations

import argparse
import contextlib
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml
from torch.utils.flop_counter import FlopCounterMode, conv_flop_count

from actseg import schema
from actseg.datasets import HAS_UNDEFINED
from actseg.experiments.validation import raise_schema_errors
from actseg.experiments.variants import merge
from actseg.model import build_model

ROOT = Path(__file__).resolve().parents[1]
PRESETS = ("cityscapes-paper.yaml", "voc-paper.yaml")
PAPER_HOURS_3090 = 65.0  # supplement, section B: the whole Cityscapes run on one RTX 3090
PEAK_3090_TF32 = 35.6e12  # dense TF32 tensor (= its FP32 CUDA-core peak); bf16 dense: 71
PEAK_H200_BF16 = 989e12   # dense bf16 tensor
H200_STEP_MS = 39.0       # benchmarks/README.md: bf16 + cl, stage-1 loss, batch 4, 768x768


@dataclass(frozen=True)
class DatasetSize:
    classes: int
    train_images: int
    val_images: int
    image_hw: tuple[int, int]


# The published splits: Cityscapes fine train/val; VOC 2012 train_aug/val (VOC images are
# at most 500 px on a side, most 500x375 or 375x500).
DATASETS = {
    "cityscapes": DatasetSize(19, 2975, 500, (1024, 2048)),
    "voc": DatasetSize(21, 10582, 1449, (375, 500)),
}


def preset_config(preset: str) -> dict:
    """config.yaml with workflow/configs/<preset> merged over it, checked against the
    schema and with the defaults filled in."""
    base = yaml.safe_load((ROOT / "config.yaml").read_text())
    cfg = merge(base, yaml.safe_load((ROOT / "workflow/configs" / preset).read_text()))
    raise_schema_errors(cfg, preset)
    return schema.fill_defaults(cfg)


def num_outputs(kind: str) -> int:
    return DATASETS[kind].classes + int(HAS_UNDEFINED[kind])


@contextlib.contextmanager
def meta_autocast():
    """The cosine classifier opens `torch.autocast(features.device.type, enabled=False)`,
    which raises for the device type "meta"; map it to "cpu" (it is disabled anyway)."""
    original = torch.autocast

    class Autocast(original):
        def __init__(self, device_type, *args, **kwargs):
            super().__init__("cpu" if device_type == "meta" else device_type, *args, **kwargs)

    torch.autocast = Autocast
    try:
        yield
    finally:
        torch.autocast = original


def conv_backward_flops(grad_out_shape, x_shape, w_shape, _bias, _stride, _padding,
                        _dilation, transposed, _output_padding, _groups, output_mask,
                        out_shape, **kwargs) -> int:
    """Input gradient as PyTorch counts it; weight gradient = the forward's FLOPs (PyTorch's
    formula multiplies by the full in x out channels, ignoring groups)."""
    flops = 0
    if output_mask[0]:
        flops += conv_flop_count(grad_out_shape, w_shape, out_shape[0], not transposed)
    if output_mask[1]:
        flops += conv_flop_count(x_shape, w_shape, grad_out_shape, transposed)
    return flops


def counter() -> FlopCounterMode:
    return FlopCounterMode(display=False, custom_mapping={
        torch.ops.aten.convolution_backward: conv_backward_flops})


def preset_model(cfg: dict, device: str | torch.device = "meta") -> torch.nn.Module:
    """The preset's network, randomly initialised (no pretrained weights are read)."""
    m, kind = cfg["model"], cfg["dataset"]["kind"]
    with torch.device(device):
        return build_model(m["backbone"], DATASETS[kind].classes, m["output_stride"],
                           m["aspp_rates"], head_channels=m.get("head_channels"),
                           stem=m["stem"], num_outputs=num_outputs(kind))


def train_step_flops(model: torch.nn.Module, batch: int, hw: tuple[int, int]) -> int:
    """Forward + backward of one training step on a (batch, 3, H, W) input."""
    model.train()
    device = next(model.parameters()).device
    x = torch.randn(batch, 3, *hw, device=device)
    with meta_autocast(), counter() as fc:
        model(x).float().sum().backward()
    model.zero_grad(set_to_none=True)
    return fc.get_total_flops()


def inference_flops(model: torch.nn.Module, hw: tuple[int, int]) -> int:
    """One eval-mode forward of one image, logits and features (pseudo labels need both)."""
    model.eval()
    device = next(model.parameters()).device
    with torch.no_grad(), meta_autocast(), counter() as fc:
        model(torch.randn(1, 3, *hw, device=device), return_features=True)
    return fc.get_total_flops()


def validations(cfg: dict, iterations: int) -> int:
    """How many times a stage scores its checkpoint (actseg.selection.BestCheckpoint.due)."""
    if cfg["train"]["checkpoint"] == "final":
        return 0
    every = int(cfg["train"]["validate_every"])
    return max(1, iterations // every)


def run_budget(cfg: dict) -> dict:
    """Training steps and inference image passes of a whole run of `cfg`."""
    data = DATASETS[cfg["dataset"]["kind"]]
    rounds = int(cfg["rounds"])
    s1, s2 = int(cfg["stage1"]["iterations"]), int(cfg["stage2"]["iterations"])
    held_out = cfg["train"]["checkpoint"] == "best_heldout"
    scored = min(int(cfg["train"]["heldout_images"]), data.train_images // 2) if held_out \
        else data.val_images
    return {
        "train_steps": rounds * (s1 + s2),
        "select_images": (rounds - 1) * data.train_images,  # model scores from round 2 on
        "pseudo_images": rounds * data.train_images,
        "evaluate_images": rounds * 2 * data.val_images,  # stage 1 and stage 2 models
        "validate_images": rounds * (validations(cfg, s1) + validations(cfg, s2)) * scored,
    }


def preset_flops(preset: str, batch: int | None = None, crop: tuple[int, int] | None = None,
                 device: str = "meta") -> dict:
    """FLOPs of one training step (the preset's batch x crop unless given), one full-size
    inference, and the whole run."""
    cfg = preset_config(preset)
    batch = int(cfg["train"]["batch_size"]) if batch is None else batch
    crop = tuple(cfg["train"]["crop_size"]) if crop is None else tuple(crop)
    model = preset_model(cfg, device)
    step = train_step_flops(model, batch, crop)
    infer = inference_flops(model, DATASETS[cfg["dataset"]["kind"]].image_hw)
    budget = run_budget(cfg)
    images = sum(v for k, v in budget.items() if k.endswith("_images"))
    train_total, infer_total = budget["train_steps"] * step, images * infer
    return {"preset": preset, "cfg": cfg, "batch": batch, "crop": crop, "step": step,
            "inference": infer, **budget, "inference_images": images,
            "train_total": train_total, "inference_total": infer_total,
            "total": train_total + infer_total}


def cpu_rate(preset: str, steps: int, hw=(256, 256)) -> dict:
    """Seconds per GFLOP of real training steps (forward + backward + AdamW) on one thread."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    cfg = preset_config(preset)
    flops = train_step_flops(preset_model(cfg), 1, hw)
    model = preset_model(cfg, "cpu").train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    x = torch.randn(1, 3, *hw)

    def step():
        optimizer.zero_grad(set_to_none=True)
        model(x).float().square().mean().backward()
        optimizer.step()

    step()  # warm-up
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    seconds = (time.perf_counter() - t0) / steps
    return {"flops": flops, "seconds": seconds, "s_per_gflop": seconds / (flops / 1e9)}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--presets", nargs="+", default=list(PRESETS))
    p.add_argument("--utilisation", type=float, default=None,
                   help="fraction of peak sustained over the run (default: calibrated so "
                        "the Cityscapes preset takes the paper's 65 h on the RTX 3090)")
    p.add_argument("--paper-hours", type=float, default=PAPER_HOURS_3090)
    p.add_argument("--peak-3090", type=float, default=PEAK_3090_TF32 / 1e12,
                   help="RTX 3090 peak in TFLOPS (35.6 dense TF32/FP32; 71 dense bf16)")
    p.add_argument("--peak-h200", type=float, default=PEAK_H200_BF16 / 1e12,
                   help="H200 peak in TFLOPS (989 dense bf16)")
    p.add_argument("--h200-step-ms", type=float, default=H200_STEP_MS)
    p.add_argument("--cpu-steps", type=int, default=2)
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    rows = [preset_flops(p) for p in args.presets]
    peak_3090, peak_h200 = args.peak_3090 * 1e12, args.peak_h200 * 1e12
    city = next((r for r in rows if r["cfg"]["dataset"]["kind"] == "cityscapes"), None)
    if city is None:
        city = preset_flops("cityscapes-paper.yaml")
    implied = city["total"] / (args.paper_hours * 3600 * peak_3090)
    util = implied if args.utilisation is None else args.utilisation
    # the measured H200 step: the Cityscapes preset's step (batch 4, 768x768) in 39.0 ms
    h200_rate = city["step"] / (args.h200_step_ms / 1e3)

    print(f"# torch {torch.__version__}; FLOPs from FlopCounterMode on the meta device "
          "(convolutions, forward + backward, 2 per multiply-add)")
    print(f"# calibration: the paper's one measured number, {args.paper_hours:g} h on one "
          f"RTX 3090 for the whole Cityscapes run -> {city['total'] / 1e15:,.0f} PFLOP / "
          f"{args.paper_hours:g} h = {city['total'] / (args.paper_hours * 3600) / 1e12:.2f} "
          f"TFLOPS sustained = {implied:.1%} of {args.peak_3090:g} TFLOPS "
          f"({city['total'] / (args.paper_hours * 3600 * 71e12):.1%} of the 71 TFLOPS bf16 peak)")
    source = "calibrated on the paper's 65 h" if args.utilisation is None else "--utilisation"
    print(f"# utilisation used: {util:.1%} ({source}); RTX 3090 peak {args.peak_3090:g}, "
          f"H200 peak {args.peak_h200:g} TFLOPS")
    print(f"# H200 at the measured step: {args.h200_step_ms:g} ms per Cityscapes step = "
          f"{h200_rate / 1e12:.0f} TFLOPS ({h200_rate / peak_h200:.1%} of its peak), "
          "applied to the whole run")
    print()
    print("| preset | batch x crop | GFLOP / train step | GFLOP / inference (image) | "
          "train steps | inference images | total PFLOP (train + inference) | "
          "RTX 3090 utilisation implied by 65 h | RTX 3090 h | H200 h (same utilisation) | "
          "H200 h (measured step rate) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        h3090 = r["total"] / (peak_3090 * util) / 3600
        h200 = r["total"] / (peak_h200 * util) / 3600
        h200_measured = r["total"] / h200_rate / 3600
        crop = "x".join(map(str, r["crop"]))
        print(f"| {r['preset']} | {r['batch']} x {crop} | {r['step'] / 1e9:,.0f} | "
              f"{r['inference'] / 1e9:,.0f} | {r['train_steps']:,} | "
              f"{r['inference_images']:,} | {r['total'] / 1e15:,.0f} "
              f"({r['train_total'] / 1e15:,.0f} + {r['inference_total'] / 1e15:,.0f}) | "
              f"{implied:.1%} | {h3090:.1f} | {h200:.1f} | {h200_measured:.1f} |")
    print()
    for r in rows:
        print(f"# {r['preset']}: inference images = select {r['select_images']:,} + pseudo "
              f"{r['pseudo_images']:,} + evaluate {r['evaluate_images']:,} + validate "
              f"{r['validate_images']:,} (train.checkpoint {r['cfg']['train']['checkpoint']})")
    if args.cpu_steps > 0:
        c = cpu_rate(city["preset"], args.cpu_steps)
        print(f"# CPU check ({city['preset']} model, batch 1, 256x256, 1 thread, "
              f"{args.cpu_steps} steps after 1 warm-up, forward + backward + AdamW): "
              f"{c['flops'] / 1e9:.1f} GFLOP/step, {c['seconds']:.2f} s/step = "
              f"{c['s_per_gflop'] * 1e3:.1f} ms per GFLOP "
              f"({c['flops'] / c['seconds'] / 1e9:.0f} GFLOPS achieved)")


if __name__ == "__main__":
    main()
