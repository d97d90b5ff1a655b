"""Losses on cosine logits (docs/method.md §5, §6): stage-1 partial-label terms and stage-2 CE.

Inputs shared by the stage-1 losses:
- `logits` (B, K, H, W) raw cosine logits, K = C+1 (channel C is the undefined class, which
  is an ordinary class here) or K = C on a dataset without it (VOC); probabilities are
  `softmax(logits / tau)` in float32.
- `region_map` (B, H, W) int64 region ids, -1 for pixels outside labelled regions.
- `region_multihot` (B, R, K) bool label set Y_r of every region id (R = R_max).
Every pixel of a labelled region inherits the region's whole set; pixels of a region whose set
is empty carry no label. Sums run over the whole batch and are divided by 1 + their count, so
an empty batch gives an exact 0 (no NaN); the trainer skips such steps (`has_labels`).

Speed: the per-pixel terms are masked sums over a flat (pixels, K) view (their backward is
elementwise); L_PP gathers only at its arg-max pixels. On CPU the view holds only the pixels
of labelled regions (a small share of a stage-1 batch); on CUDA it holds every pixel, so
there is no host sync (fixed shapes; input checks become device-side asserts), and the
backward launches while the forward still runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from actseg import schema

EPS = 1e-8  # inside every log of the stage-1 terms, as in the method
TAU = schema.default("model.tau")

LOSSES = ("mp_pp", "infimum", "rc", "dominant")


@dataclass
class LabelledPixels:
    """Per-pixel view of a stage-1 batch: P pixels in raster order (b, h, w), channels last.

    On CPU only the pixels of labelled regions are kept (P = their count; a host sync costs
    nothing there); on CUDA every pixel is kept (P = B·H·W, fixed shapes, no sync) and the
    unlabelled ones carry an empty set. Both give the same sums.
    """

    prob: torch.Tensor  # (P, K) float32 softmax(s/τ)
    labels: torch.Tensor  # (P, K) float32 0/1: Y(x)
    set_size: torch.Tensor  # (P,) |Y(x)|, 0 outside labelled regions
    segment: torch.Tensor  # (P,) int64 global region id b·R + r, -1 = unlabelled
    region_multihot: torch.Tensor  # (B, R, K) bool

    @property
    def single(self) -> torch.Tensor:
        return self.set_size == 1

    @property
    def multi(self) -> torch.Tensor:
        return self.set_size >= 2


def _require(condition: torch.Tensor, message: Callable[[], str]) -> None:
    """Raise ValueError(message()) unless `condition` holds. On CUDA the check is a
    device-side assert instead: a host sync here would stall the launch of the backward."""
    if condition.is_cuda:
        torch._assert_async(condition)
    elif not bool(condition):
        raise ValueError(message())


def _check_inputs(logits: torch.Tensor, region_map: torch.Tensor,
                  region_multihot: torch.Tensor) -> None:
    if logits.dim() != 4:
        raise ValueError(f"logits must be (B, K, H, W), got {tuple(logits.shape)}")
    b, k, h, w = logits.shape
    if tuple(region_map.shape) != (b, h, w):
        raise ValueError(f"region_map {tuple(region_map.shape)} does not match logits "
                         f"{tuple(logits.shape)}")
    if region_multihot.dim() != 3 or region_multihot.shape[0] != b or region_multihot.shape[2] != k:
        raise ValueError(f"region_multihot must be (B={b}, R, K={k}), "
                         f"got {tuple(region_multihot.shape)}")
    r = region_multihot.shape[1]
    _require(((region_map >= -1) & (region_map < r)).all(),
             lambda: f"region ids must lie in [-1, {r - 1}], got "
                     f"[{int(region_map.min())}, {int(region_map.max())}]")


def _pixel_sets(region_map: torch.Tensor, region_multihot: torch.Tensor,
                dtype: torch.dtype = torch.bool) -> torch.Tensor:
    """(B, H, W, K) label set of every pixel; an all-zero row for unlabelled pixels."""
    b, r, k = region_multihot.shape
    table = torch.zeros(b, r + 1, k, dtype=dtype, device=region_multihot.device)
    table[:, :r] = region_multihot.bool()  # row R = "no label"
    ids = torch.where(region_map >= 0, region_map, r).long()
    batch = torch.arange(b, device=ids.device)[:, None, None]
    return table[batch, ids]


def _segments(region_map: torch.Tensor, regions_per_image: int) -> torch.Tensor:
    """(B·H·W,) global region id b·R + r of every pixel in raster order, -1 = unlabelled."""
    b, h, w = region_map.shape
    batch = torch.arange(b, device=region_map.device).repeat_interleave(h * w)
    flat = region_map.reshape(-1).long()
    return torch.where(flat >= 0, batch * regions_per_image + flat, -1)


def labelled_pixels(logits: torch.Tensor, region_map: torch.Tensor,
                    region_multihot: torch.Tensor, tau: float,
                    every_pixel: bool | None = None) -> LabelledPixels:
    """Probabilities and label sets of the batch's pixels, channels last (the per-pixel
    terms are masked sums whose backward is elementwise). `every_pixel` keeps the unlabelled
    pixels too (default: on CUDA only, where selecting them would sync with the host)."""
    _check_inputs(logits, region_map, region_multihot)
    b, k = logits.shape[:2]
    r = region_multihot.shape[1]
    segment = _segments(region_map, r)
    flat = logits.permute(0, 2, 3, 1).reshape(-1, k)
    if not (logits.is_cuda if every_pixel is None else every_pixel):
        # only labelled pixels; nonzero is sorted, so raster order stays
        keep = torch.nonzero(segment >= 0).squeeze(1)
        segment, flat = segment[keep], flat[keep]
    table = torch.zeros(b * r + 1, k, dtype=torch.float32, device=logits.device)
    table[:-1] = region_multihot.reshape(b * r, k).float()  # last row = "no label"
    labels = table[torch.where(segment >= 0, segment, b * r)]
    prob = torch.softmax(flat.float() / tau, dim=1)
    return LabelledPixels(prob, labels, labels.sum(dim=1), segment, region_multihot.bool())


def _masked_mean_plus_one(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Σ_{mask} values / (1 + count): the method's normalisation, exactly 0 when empty."""
    return torch.where(mask, values, 0.0).sum() / (1 + mask.sum())


def _merged_nll(lab: LabelledPixels) -> torch.Tensor:
    """−log Σ_{c∈Y(x)} p_c(x) per pixel; for a single-class pixel this is its CE."""
    return -torch.log((lab.prob * lab.labels).sum(dim=1) + EPS)


def ce_term(lab: LabelledPixels, nll: torch.Tensor | None = None) -> torch.Tensor:
    """L_CE on pixels of single-class regions: Σ −log p_y / (1 + count)."""
    return _masked_mean_plus_one(_merged_nll(lab) if nll is None else nll, lab.single)


def mp_term(lab: LabelledPixels, nll: torch.Tensor | None = None) -> torch.Tensor:
    """L_MP on pixels of multi-class regions: Σ −log Σ_{c∈Y} p_c / (1 + count)."""
    return _masked_mean_plus_one(_merged_nll(lab) if nll is None else nll, lab.multi)


_DUMP_ROWS = 4096  # unlabelled pixels spread over this many scratch rows (low contention)


def pp_term(lab: LabelledPixels) -> torch.Tensor:
    """L_PP: for each multi-class region r in the crop and c ∈ Y_r, −log max_{x∈r} p_c(x),
    summed over the (r, c) terms / (1 + their number).

    Segments are global ids b·R + r. The segment max is taken on detached probabilities
    (scatter_reduce "amax"), the arg-max pixel is the first in raster order among ties
    ("amin" of the pixel's position; the kept pixels are in raster order), and the loss
    gathers that pixel's probability, so the gradient reaches only the arg-max. Fixed shapes
    throughout (no nonzero): no host sync.
    """
    n, k = lab.prob.shape
    if n == 0:  # no labelled pixel kept: no term (and nothing to gather from)
        return lab.prob.sum() * 0.0
    b, r = lab.region_multihot.shape[:2]
    segments = b * r
    prob = lab.prob.detach()
    pixel = torch.arange(n, device=prob.device)
    row = torch.where(lab.segment >= 0, lab.segment, segments + pixel % _DUMP_ROWS)
    index = row[:, None].expand(n, k)
    rows = segments + _DUMP_ROWS
    seg_max = torch.full((rows, k), -1.0, device=prob.device).scatter_reduce(
        0, index, prob, "amax")
    candidate = torch.where(prob == seg_max[row], pixel.int()[:, None], n)
    arg = torch.full((rows, k), n, dtype=torch.int32, device=prob.device).scatter_reduce(
        0, index, candidate, "amin")[:segments].long()
    labels = lab.region_multihot.reshape(segments, k)
    term = (arg < n) & labels & (labels.sum(dim=1, keepdim=True) >= 2)  # present, c ∈ Y_r
    m = lab.prob.gather(0, arg.clamp(max=n - 1))  # p_c at the arg-max of c
    return torch.where(term, -torch.log(m + EPS), 0.0).sum() / (1 + term.sum())


def infimum_term(lab: LabelledPixels) -> torch.Tensor:
    """Infimum loss on multi-class pixels: Σ −log max_{c∈Y} p_c / (1 + count)."""
    best = (lab.prob * lab.labels).amax(dim=1)
    return _masked_mean_plus_one(-torch.log(best + EPS), lab.multi)


def rc_term(lab: LabelledPixels) -> torch.Tensor:
    """RC loss on multi-class pixels: Σ Σ_{c∈Y} w_c (−log p_c) / (1 + count), with
    w_c = p_c / Σ_{k∈Y} p_k detached."""
    masked = lab.prob * lab.labels
    weight = (masked / masked.sum(dim=1, keepdim=True).clamp_min(EPS)).detach()
    per_pixel = (weight * -torch.log(lab.prob + EPS)).sum(dim=1)
    return _masked_mean_plus_one(per_pixel, lab.multi)


def stage1_losses(logits: torch.Tensor, region_map: torch.Tensor,
                  region_multihot: torch.Tensor, tau: float = TAU) -> dict[str, torch.Tensor]:
    """The three stage-1 terms {"ce", "mp", "pp"} of docs/method.md §5 (unweighted)."""
    lab = labelled_pixels(logits, region_map, region_multihot, tau)
    nll = _merged_nll(lab)  # shared by L_CE and L_MP: they differ only in their pixels
    return {"ce": ce_term(lab, nll), "mp": mp_term(lab, nll), "pp": pp_term(lab)}


def infimum_loss(logits: torch.Tensor, region_map: torch.Tensor,
                 region_multihot: torch.Tensor, tau: float = TAU) -> dict[str, torch.Tensor]:
    """Infimum baseline: {"ce" on single-class pixels, "infimum" on multi-class pixels}."""
    lab = labelled_pixels(logits, region_map, region_multihot, tau)
    return {"ce": ce_term(lab), "infimum": infimum_term(lab)}


def rc_loss(logits: torch.Tensor, region_map: torch.Tensor,
            region_multihot: torch.Tensor, tau: float = TAU) -> dict[str, torch.Tensor]:
    """RC baseline: {"ce" on single-class pixels, "rc" on multi-class pixels}."""
    lab = labelled_pixels(logits, region_map, region_multihot, tau)
    return {"ce": ce_term(lab), "rc": rc_term(lab)}


def dominant_ce(logits: torch.Tensor, region_map: torch.Tensor,
                region_multihot: torch.Tensor, tau: float = TAU) -> dict[str, torch.Tensor]:
    """Dom model: CE of the dominant class on every pixel of labelled regions.

    Every region present in `region_map` must carry exactly one class bit.
    """
    lab = labelled_pixels(logits, region_map, region_multihot, tau)
    _require(((lab.set_size == 1) | (lab.segment < 0)).all(),
             lambda: "dominant_ce: every labelled region needs exactly one class bit, got label "
                     f"sets of sizes {sorted(set(lab.set_size[lab.segment >= 0].tolist()))}")
    return {"ce": ce_term(lab)}


def stage2_ce(logits: torch.Tensor, target: torch.Tensor, tau: float = TAU,
              ignore_index: int = 255) -> torch.Tensor:
    """Stage-2 CE of softmax(s/τ) against pseudo labels, mean over the non-ignored pixels
    (0 when there is none)."""
    k = logits.shape[1]
    target = target.long()
    valid = target != ignore_index
    _require((~valid | ((target >= 0) & (target < k))).all(),
             lambda: f"stage2_ce: targets must be in [0, {k - 1}] or {ignore_index}")
    total = F.cross_entropy(logits.float() / tau, target, ignore_index=ignore_index,
                            reduction="sum")
    return total / valid.sum().clamp_min(1)


def has_labels(region_map: torch.Tensor, region_multihot: torch.Tensor) -> bool:
    """Whether a stage-1 batch has any labelled pixel; the trainer skips the step if not."""
    return bool(_pixel_sets(region_map, region_multihot).any())


def combine(terms: Mapping[str, torch.Tensor], lambdas: Mapping[str, float]) -> torch.Tensor:
    """Σ λ_name · term_name over the terms (every term needs a weight)."""
    missing = set(terms) - set(lambdas)
    if missing:
        raise KeyError(f"no weight for loss terms {sorted(missing)}")
    return sum(lambdas[name] * value for name, value in terms.items())


_STAGE1: dict[str, Callable[..., dict[str, torch.Tensor]]] = {
    "mp_pp": stage1_losses, "infimum": infimum_loss, "rc": rc_loss, "dominant": dominant_ce,
}


class Stage1Criterion:
    """Weighted stage-1 loss. λ_CE weighs "ce"; λ_MP weighs the multi-class pixel term
    ("mp", or "infimum"/"rc" for the baselines that replace it); λ_PP weighs "pp"."""

    def __init__(self, loss: str = schema.default("stage1.loss"),
                 lambda_ce: float = schema.default("stage1.lambda_ce"),
                 lambda_mp: float = schema.default("stage1.lambda_mp"),
                 lambda_pp: float = schema.default("stage1.lambda_pp"),
                 tau: float = schema.default("model.tau")):
        if loss not in _STAGE1:
            raise ValueError(f"unknown stage-1 loss {loss!r}; expected one of {LOSSES}")
        self.loss, self.tau = loss, tau
        self.lambdas = {"ce": lambda_ce, "mp": lambda_mp, "pp": lambda_pp,
                        "infimum": lambda_mp, "rc": lambda_mp}

    def __call__(self, logits: torch.Tensor, region_map: torch.Tensor,
                 region_multihot: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        terms = _STAGE1[self.loss](logits, region_map, region_multihot, self.tau)
        return combine(terms, self.lambdas), terms
