"""Stage-2 pseudo labels (docs/method.md §6): prototype localisation, label expansion, baselines.

For one image with features `F` (D, H, W), class probabilities `q` (C+1, H, W) (softmax at
temperature 1, a reference quirk), a region map and the oracle label sets `Y_r` of the
labelled regions:

1. prototype `mu_{r,c}` = feature at `argmax_{x in r} q_c(x)` for every labelled `r`, `c in Y_r`
   (ties: lowest pixel index);
2. each pixel of a labelled `r` takes the class of its most similar prototype of `r` (inner
   product; ties: lowest class), `sigma(x)` being that similarity;
3. `theta_{r,c}` = lower median of `sigma` over the pixels of `r` that chose `c` (as
   `torch.median` in the reference), 1.0 when none did (taken literally: with unit features
   no similarity exceeds it, bar rounding);
4. expansion into the regions 8-adjacent to `r` (from the precomputed adjacency):
   - `rule="reference"` — for each labelled source `r`, a pixel is accepted when SOME
     prototype of `r` has similarity strictly above its own threshold, and it takes the class
     of the most similar prototype of `r` over ALL of `r`'s prototypes, whether or not that
     one passed its own threshold (docs/method.md: "accepted when some prototype's similarity
     exceeds that prototype's own threshold, and takes the class of the most similar
     prototype"; the published code does exactly this). A pixel accepted by several sources
     gets the label of the one with the highest region id (the reference writes sources in
     increasing id order, each overwriting the previous);
   - `rule="clean"` — over all prototypes of all labelled regions adjacent to the pixel's
     region, the most similar wins (ties: lowest source id, then lowest class), and the pixel
     is accepted only if that winning prototype exceeds its own threshold;
5. labelled regions keep their step-2 labels (expansion only writes unlabelled regions);
   every other pixel is 255.

Everything is vectorised over regions and pixels, using the precomputed adjacency: the pixels
that matter (labelled regions and their unlabelled neighbours) are grouped by region with one
sort; every such pixel gets its candidate prototypes (its own region's, or those of the
labelled regions adjacent to its region) by CSR expansion; similarities of the
(pixel, candidate) pairs are computed in chunks of consecutive pixels, one small dense matmul
per chunk over cache-line runs of the features; arg-max, lower median, acceptance and overlap
decisions are segment operations (`scatter_reduce`, sorts). No per-region mask, dilation or
Python loop over regions or pixels (only over pixel chunks).

Labels are class indices 0..C, where C is the undefined class: the stage-2 CE runs over C+1
channels, so C is a legitimate target (the reference keeps it too). On a dataset without the
undefined class (VOC) there are C channels and labels 0..C-1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from actseg import schema
from actseg.upsampled import banded

IGNORE = 255
METHODS = ("prototype", "naive", "naive_all")
RULES = ("reference", "clean")
SOURCES = ("all", "multi")
RULE, EXPAND = schema.default("pseudo.rule"), schema.default("pseudo.expand")
POSITION_CHUNK = 4096  # pixels per dense similarity block


# ----------------------------------------------------------------------- segment helpers


def _as_tensor(x, device=None) -> torch.Tensor:
    t = torch.from_numpy(np.ascontiguousarray(x)) if isinstance(x, np.ndarray) else x
    return t.to(device) if device is not None else t


def expand_runs(starts: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Concatenate the integer ranges `[starts[i], starts[i] + lengths[i])`.

    Returns `(owner, value)`: for each element, the run it came from and its value.
    """
    lengths = lengths.long()
    owner = torch.repeat_interleave(torch.arange(len(lengths), device=lengths.device), lengths)
    run_start = torch.cumsum(lengths, 0) - lengths
    value = torch.arange(len(owner), device=lengths.device) - run_start[owner] + starts[owner]
    return owner, value


def segment_argmax(values: torch.Tensor, segment: torch.Tensor, candidate: torch.Tensor,
                   num_segments: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per segment, the max of `values` and the LOWEST `candidate` attaining it.

    Empty segments get `-inf` and the sentinel `candidate.max() + 1` (or 0 if none).
    """
    best = torch.full((num_segments,), -torch.inf, dtype=values.dtype, device=values.device)
    best = best.scatter_reduce(0, segment, values, "amax", include_self=True)
    sentinel = int(candidate.max()) + 1 if len(candidate) else 0
    masked = torch.where(values == best[segment], candidate, torch.full_like(candidate, sentinel))
    winner = torch.full((num_segments,), sentinel, dtype=candidate.dtype, device=values.device)
    winner = winner.scatter_reduce(0, segment, masked, "amin", include_self=True)
    return best, winner


def segment_lower_median(values: torch.Tensor, segment: torch.Tensor, num_segments: int,
                         empty: float) -> torch.Tensor:
    """Lower median of `values` per segment (element `(n-1)//2` of the sorted run); `empty`
    where a segment has no element."""
    by_value = torch.sort(values, stable=True).indices
    order = by_value[torch.sort(segment[by_value], stable=True).indices]
    counts = torch.bincount(segment, minlength=num_segments)
    starts = torch.cumsum(counts, 0) - counts
    out = torch.full((num_segments,), empty, dtype=values.dtype, device=values.device)
    has = counts > 0
    out[has] = values[order[starts[has] + (counts[has] - 1) // 2]]
    return out


@dataclass
class PixelGroups:
    """The pixels of a subset of regions, grouped by region (ascending pixel index within).

    Position `i` of every per-position tensor is pixel `pixels[i]` of region `region[i]`.
    """

    pixels: torch.Tensor  # (U,) flat pixel ids
    region: torch.Tensor  # (U,) region of each position, non-decreasing


def group_pixels(flat_regions: torch.Tensor, wanted: torch.Tensor) -> PixelGroups:
    """Pixel lists of the regions with `wanted[r]`, by one stable sort of their pixels."""
    ascending = torch.nonzero(wanted[flat_regions]).squeeze(1)
    order = torch.sort(flat_regions[ascending], stable=True).indices
    pixels = ascending[order]
    return PixelGroups(pixels, flat_regions[pixels])


def _offsets(counts: torch.Tensor) -> torch.Tensor:
    return torch.cat([counts.new_zeros(1), torch.cumsum(counts, 0)])


@dataclass
class FeatureLines:
    """Access to the features of the grouped pixels by whole cache lines, without copying.

    Slot k stands for the `line` consecutive pixels `block[k]*line ...`; position i's
    feature sits in column `column[i]` (strictly increasing with i) of the slots laid side by
    side. Similarities read the slots of one chunk at a time (`slots`), so the features are
    copied in 64-byte runs into a buffer that stays in cache, never into one (D, U) array.
    """

    flat: torch.Tensor  # (D, H*W) view of the features
    block: torch.Tensor  # (S,) line index of each slot
    column: torch.Tensor  # (U,)
    line: int
    dtype: torch.dtype

    def slots(self, first: int, stop: int) -> torch.Tensor:
        """(D, (stop - first) * line) features of slots first..stop-1."""
        lines = self.flat.reshape(self.flat.shape[0], -1, self.line)
        picked = lines.index_select(1, self.block[first:stop])
        return picked.reshape(self.flat.shape[0], -1).to(self.dtype)


def feature_lines(features: torch.Tensor, groups: PixelGroups, dtype: torch.dtype,
                  line: int = 16) -> FeatureLines:
    """Index the (D, H, W) `features` of the grouped pixels by cache lines (FeatureLines)."""
    flat = features.reshape(features.shape[0], -1)
    line = next(b for b in (line, 8, 4, 2, 1) if flat.shape[1] % b == 0)
    pixels = groups.pixels
    block = pixels // line
    new = torch.ones(len(pixels), dtype=torch.bool, device=pixels.device)
    # a new slot per line, and per region so that columns keep increasing
    new[1:] = (block[1:] != block[:-1]) | (groups.region[1:] != groups.region[:-1])
    slot = torch.cumsum(new, 0) - 1
    return FeatureLines(flat, block[new], slot * line + pixels % line, line, dtype)


def block_similarity(features: FeatureLines, prototypes: torch.Tensor, trip_pos: torch.Tensor,
                     trip_proto: torch.Tensor, chunk: int = POSITION_CHUNK) -> torch.Tensor:
    """Inner products of the features at `trip_pos[i]` with `prototypes[trip_proto[i]]`.

    `trip_pos` ascending. Positions are cut into contiguous chunks (a few regions each, as
    positions are grouped by region); the few prototypes a chunk needs meet its feature
    columns in one small dense matmul, then the needed entries are picked. No D-vector is
    gathered per pair.
    """
    out = torch.empty(len(trip_pos), dtype=features.dtype, device=trip_pos.device)
    num_pos = len(features.column)
    starts = torch.arange(0, num_pos, chunk, device=trip_pos.device)
    bounds = torch.searchsorted(trip_pos, torch.cat([starts, starts.new_tensor([num_pos])]))
    last = torch.clamp(starts + chunk, max=num_pos) - 1
    first_slot = (features.column[starts] // features.line).tolist()
    stop_slot = (features.column[last] // features.line + 1).tolist()
    bounds = bounds.tolist()
    for i in range(len(starts)):
        t0, t1 = bounds[i], bounds[i + 1]
        if t0 == t1:
            continue
        protos, inverse = torch.unique(trip_proto[t0:t1], return_inverse=True)
        block = prototypes[protos] @ features.slots(first_slot[i], stop_slot[i])
        column = features.column[trip_pos[t0:t1]] - first_slot[i] * features.line
        out[t0:t1] = block.reshape(-1).index_select(0, inverse * block.shape[1] + column)
    return out


# ------------------------------------------------------------------------------ steps


@dataclass
class Bands:
    """The grouped positions split by band of rows of a band source (`actseg.upsampled`).

    `order` lists the positions band by band, ascending inside a band (so still grouped by
    region); band b holds `order[offsets[b]:offsets[b+1]]`; `local[i]` is position i's
    rank inside its band.
    """

    of_pos: torch.Tensor  # (U,) band of each position
    order: torch.Tensor  # (U,)
    offsets: torch.Tensor  # (B+1,)
    local: torch.Tensor  # (U,)
    rows: int
    width: int


def split_bands(source, groups: PixelGroups) -> Bands:
    _, height, width = source.shape
    rows = source.band_rows
    of_pos = groups.pixels // (rows * width)
    order = torch.sort(of_pos, stable=True).indices
    offsets = _offsets(torch.bincount(of_pos, minlength=-(-height // rows)))
    local = torch.empty_like(order)
    local[order] = torch.arange(len(order), device=order.device) - offsets[of_pos[order]]
    return Bands(of_pos, order, offsets, local, rows, width)


def _band_runs(keys: torch.Tensor, num_bands: int):
    """Yield `(band, members)`: the indices of `keys` equal to each present band, ascending."""
    order = torch.sort(keys, stable=True).indices
    offsets = _offsets(torch.bincount(keys, minlength=num_bands)).tolist()
    for b in range(num_bands):
        if offsets[b + 1] > offsets[b]:
            yield b, order[offsets[b]:offsets[b + 1]]


def _band(source, bands: Bands, b: int) -> torch.Tensor:
    y0 = b * bands.rows
    return source.band(y0, min(source.shape[1], y0 + bands.rows))


def banded_similarity(source, bands: Bands, groups: PixelGroups, prototypes: torch.Tensor,
                      trip_pos: torch.Tensor, trip_proto: torch.Tensor, dtype: torch.dtype
                      ) -> torch.Tensor:
    """`block_similarity` band by band: only one band of full-resolution features exists
    at a time. With one band (resident features) it is exactly `block_similarity`."""
    sims = torch.empty(len(trip_pos), dtype=dtype, device=trip_pos.device)
    for b, members in _band_runs(bands.of_pos[trip_pos], len(bands.offsets) - 1):
        pos = bands.order[bands.offsets[b]:bands.offsets[b + 1]]
        sub = PixelGroups(groups.pixels[pos] - b * bands.rows * bands.width, groups.region[pos])
        lines = feature_lines(_band(source, bands, b), sub, dtype)
        sims[members] = block_similarity(lines, prototypes, bands.local[trip_pos[members]],
                                         trip_proto[members])
    return sims


@dataclass
class Prototypes:
    """Prototypes of one image, ordered by (region, class)."""

    region: torch.Tensor  # (K,) source region
    cls: torch.Tensor  # (K,) class index 0..C
    vectors: torch.Tensor  # (K, D)
    offsets: torch.Tensor  # (R+1,) prototypes of region r: offsets[r]:offsets[r+1]


def find_prototypes(fetch, probs: torch.Tensor, groups: PixelGroups,
                    label_pos: torch.Tensor, multihot: torch.Tensor) -> Prototypes:
    """Step 1: the feature at the per-(region, class) arg-max of q, lowest pixel on ties.

    `fetch(positions)` gives the (n, D) features of grouped positions; `probs` (C+1, L) at
    the labelled positions
    `label_pos`. Positions ascend with the pixel index inside a region, so the lowest
    position attaining the max is the lowest pixel index.
    """
    num_regions, num_channels = multihot.shape
    label_region = groups.region[label_pos]
    pixel, cls = torch.nonzero(multihot[label_region], as_tuple=True)  # c in Y_r only
    seg = label_region[pixel] * num_channels + cls
    _, winner = segment_argmax(probs[cls, pixel], seg, label_pos[pixel],
                               num_regions * num_channels)
    region, cls = torch.nonzero(multihot, as_tuple=True)
    vectors = fetch(winner[region * num_channels + cls])
    return Prototypes(region, cls, vectors, _offsets(multihot.sum(1)))


@dataclass
class Candidates:
    """(position, prototype) triples to score, ordered by (position, source region, class).

    A labelled region's pixels meet its own prototypes (step 2); a pixel of an unlabelled
    region meets the prototypes of every labelled region 8-adjacent to it (step 4).
    """

    pos: torch.Tensor  # (T,) position
    proto: torch.Tensor  # (T,) prototype id
    pair: torch.Tensor  # (T,) id of the (position, source region) pair, consecutive


def candidates(groups: PixelGroups, protos: Prototypes, labelled: torch.Tensor,
               adjacency: torch.Tensor | None) -> Candidates:
    """Build the triples with CSR expansions only (no loop over regions or pixels)."""
    num_regions = len(labelled)
    own = torch.nonzero(labelled).squeeze(1)
    owner, source = own, own  # (region whose pixels are scored, region giving prototypes)
    if adjacency is not None:
        src, tgt = expansion_edges(adjacency, labelled)
        owner, source = torch.cat([own, tgt]), torch.cat([own, src])
    order = torch.sort(owner * num_regions + source).indices  # by owner, then source
    owner, source = owner[order], source[order]
    first = protos.offsets[source]
    link_of_cand, cand_proto = expand_runs(first, protos.offsets[source + 1] - first)
    cand_offsets = _offsets(torch.bincount(owner[link_of_cand], minlength=num_regions))
    region = groups.region
    trip_pos, cand = expand_runs(cand_offsets[region], cand_offsets[region + 1]
                                 - cand_offsets[region])
    link = link_of_cand[cand]
    new_pair = torch.ones(len(link), dtype=torch.bool, device=link.device)
    new_pair[1:] = (trip_pos[1:] != trip_pos[:-1]) | (link[1:] != link[:-1])
    return Candidates(trip_pos, cand_proto[cand], torch.cumsum(new_pair, 0) - 1)


def expansion_edges(adjacency: torch.Tensor, labelled: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Directed (source, target) pairs: labelled source, unlabelled 8-adjacent target."""
    adjacency = adjacency.reshape(-1, 2).long()
    src = torch.cat([adjacency[:, 0], adjacency[:, 1]])
    tgt = torch.cat([adjacency[:, 1], adjacency[:, 0]])
    keep = labelled[src] & ~labelled[tgt] & (src != tgt)
    codes = torch.unique(src[keep] * len(labelled) + tgt[keep])  # dedupe
    return codes // len(labelled), codes % len(labelled)


def localize(sims: torch.Tensor, cand: Candidates, protos: Prototypes, groups: PixelGroups,
             label_pos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Steps 2-3, plus the clean rule's winner for the other positions.

    Returns per position the best similarity and the lowest best prototype (global order
    (source, class): lowest class inside a region, lowest source id across regions), and
    the thresholds theta (K,): lower median of sigma over the pixels that chose each
    prototype, 1.0 where none did.
    """
    best, winner = segment_argmax(sims, cand.pos, cand.proto, len(groups.region))
    threshold = segment_lower_median(best[label_pos], winner[label_pos], len(protos.cls),
                                     empty=1.0)
    return best, winner, threshold


def reference_expansion(sims: torch.Tensor, cand: Candidates, protos: Prototypes,
                        threshold: torch.Tensor, num_pos: int
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """Reference step 4: per (pixel, source) pair, accept if any prototype of the source
    passes its own threshold, label with the source's most similar prototype; a pixel
    accepted by several sources takes the highest source id (pairs ascend by source)."""
    num_pairs = int(cand.pair[-1]) + 1 if len(cand.pair) else 0
    _, pair_winner = segment_argmax(sims, cand.pair, cand.proto, num_pairs)
    passes = (sims > threshold[cand.proto]).int()
    pair_ok = torch.zeros(num_pairs, dtype=torch.int32, device=sims.device)
    pair_ok = pair_ok.scatter_reduce(0, cand.pair, passes, "amax").bool()
    pair_pos = torch.zeros(num_pairs, dtype=torch.long, device=sims.device)
    pair_pos[cand.pair] = cand.pos
    last = torch.full((num_pos,), -1, dtype=torch.long, device=sims.device)
    ok = torch.nonzero(pair_ok).squeeze(1)
    last = last.scatter_reduce(0, pair_pos[ok], ok, "amax")
    pos = torch.nonzero(last >= 0).squeeze(1)
    return pos, protos.cls[pair_winner[last[pos]]]


# --------------------------------------------------------------------------- public API


@dataclass
class ImageInputs:
    """One image's inputs, flattened and on one device."""

    flat_regions: torch.Tensor  # (H*W,) int64
    multihot: torch.Tensor  # (R, C+1) bool, only labelled regions that have pixels
    shape: tuple[int, int]

    @property
    def labelled(self) -> torch.Tensor:
        return self.multihot.any(1)


def _prepare(probs, region_map, region_multihot, device) -> ImageInputs:
    probs = _as_tensor(probs, device)
    region_map = _as_tensor(region_map, device).long()
    multihot = _as_tensor(region_multihot, device).bool()
    if probs.dim() != 3 or region_map.shape != probs.shape[1:]:
        raise ValueError(f"probs (C+1, H, W) {tuple(probs.shape)} and region_map (H, W) "
                         f"{tuple(region_map.shape)} do not match")
    if multihot.dim() != 2 or multihot.shape[1] != probs.shape[0]:
        raise ValueError(f"region_multihot must be (R, {probs.shape[0]}), got "
                         f"{tuple(multihot.shape)}")
    flat = region_map.flatten()
    if flat.numel() and (int(flat.min()) < 0 or int(flat.max()) >= multihot.shape[0]):
        raise ValueError(f"region ids must lie in 0..{multihot.shape[0] - 1}, got "
                         f"{int(flat.min())}..{int(flat.max())}")
    present = torch.bincount(flat, minlength=multihot.shape[0]) > 0
    return ImageInputs(flat, multihot & present[:, None], tuple(region_map.shape))


def _gather(maps, pixels: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(K, H, W) -> (K, len(pixels)) values at `pixels`."""
    maps = _as_tensor(maps, pixels.device)
    return maps.reshape(maps.shape[0], -1).index_select(1, pixels).to(dtype)


def _work_dtype(x: torch.Tensor) -> torch.dtype:
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def _output(inputs: ImageInputs, pixels: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    out = torch.full((inputs.flat_regions.numel(),), IGNORE, dtype=torch.uint8,
                     device=inputs.flat_regions.device)
    out[pixels] = labels.to(torch.uint8)
    return out.reshape(inputs.shape)


def localize_and_expand(features, probs, region_map, region_multihot, adjacency,
                        rule: str = RULE, expand: bool = EXPAND) -> torch.Tensor:
    """Prototype pseudo labels of one image (docs/method.md §6); (H, W) uint8, 255 = none.

    `features` (D, H, W) (a tensor, or an `actseg.upsampled.Upsampled` that computes them
    band by band from the model's quarter-resolution features: same labels, bounded memory),
    `probs` (C+1, H, W) softmax at temperature 1, `region_map` (H, W)
    ints in 0..R-1, `region_multihot` (R, C+1) bool (all-False rows: unlabelled regions),
    `adjacency` (P, 2) region pairs touching in the 8-neighbourhood (unused without
    expansion). Torch tensors or numpy arrays; work happens on `features`' device, in
    float64 if features are float64 and float32 otherwise. The result is a torch tensor on
    that device. Dominant labels (Dom+Expand) are one-bit rows of `region_multihot`.
    """
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    features = banded(_as_tensor(features))
    device = features.device
    inputs = _prepare(probs, region_map, region_multihot, device)
    if len(features.shape) != 3 or tuple(features.shape[1:]) != inputs.shape:
        raise ValueError(f"features must be (D, {inputs.shape[0]}, {inputs.shape[1]}), got "
                         f"{tuple(features.shape)}")
    labelled = inputs.labelled
    adjacency = _as_tensor(adjacency, device) if expand else None
    wanted = labelled.clone()
    if expand:
        wanted[expansion_edges(adjacency, labelled)[1]] = True
    groups = group_pixels(inputs.flat_regions, wanted)
    label_pos = torch.nonzero(labelled[groups.region]).squeeze(1)
    dtype = _work_dtype(features)
    bands = split_bands(features, groups)
    label_probs = _gather(probs, groups.pixels[label_pos], dtype)
    protos = find_prototypes(lambda pos: features.pixels(groups.pixels[pos]).to(dtype),
                             label_probs, groups, label_pos, inputs.multihot)
    cand = candidates(groups, protos, labelled, adjacency)
    sims = banded_similarity(features, bands, groups, protos.vectors, cand.pos, cand.proto,
                             dtype)
    best, winner, threshold = localize(sims, cand, protos, groups, label_pos)
    positions, labels = label_pos, protos.cls[winner[label_pos]]
    if expand:
        if rule == "clean":  # the most similar candidate must pass its own threshold
            # (every position has a candidate, so `winner` is a real prototype id)
            grown = ~labelled[groups.region] & (best > threshold[winner])
            grown_pos = torch.nonzero(grown).squeeze(1)
            grown_labels = protos.cls[winner[grown_pos]]
        else:
            grown_pos, grown_labels = reference_expansion(sims, cand, protos, threshold,
                                                          len(groups.region))
            keep = ~labelled[groups.region[grown_pos]]
            grown_pos, grown_labels = grown_pos[keep], grown_labels[keep]
        positions = torch.cat([grown_pos, positions])  # disjoint: targets are unlabelled
        labels = torch.cat([grown_labels, labels])
    return _output(inputs, groups.pixels[positions], labels)


def naive_labels(probs, region_map, region_multihot, restrict: bool = True) -> torch.Tensor:
    """w/o proto baseline: per-pixel argmax of `probs` inside labelled regions.

    `restrict=True` takes the argmax over the region's label set `Y_r`; `restrict=False` is
    the reference's variant over all C+1 channels (the undefined class C kept as label C).
    Ties: lowest class index. (H, W) uint8, 255 outside labelled regions.
    """
    probs = _as_tensor(probs)
    inputs = _prepare(probs, region_map, region_multihot, probs.device)
    groups = group_pixels(inputs.flat_regions, inputs.labelled)
    q = _gather(probs, groups.pixels, _work_dtype(probs))
    if restrict:
        allowed = inputs.multihot[groups.region].T
        q = torch.where(allowed, q, torch.full_like(q, -torch.inf))
    return _output(inputs, groups.pixels, q.argmax(0))


def multi_class_rows(region_multihot) -> torch.Tensor:
    """`region_multihot` with the rows of fewer than two classes cleared (`sources: multi`)."""
    multihot = _as_tensor(region_multihot).bool()
    return multihot & (multihot.sum(1, keepdim=True) >= 2)


def pseudo_label_image(method: str, features, probs, region_map, region_multihot, adjacency,
                       expand: bool = EXPAND, rule: str = RULE,
                       sources: str = "all") -> torch.Tensor:
    """Dispatch one image to `prototype` (localize_and_expand), `naive` or `naive_all`.

    `expand`, `rule` and `sources` apply to `prototype` only: the naive baselines have no
    prototypes to expand with (docs/method.md §6 baselines), and `features`/`adjacency` may
    be None for them. `sources: multi` (the authors' Fig. 4b "w/ proto" script) takes
    prototypes and local labels from multi-class regions only: a single-class region is
    then labelled only where a neighbour's expansion reaches it.
    """
    if sources not in SOURCES:
        raise ValueError(f"sources must be one of {SOURCES}, got {sources!r}")
    if method == "prototype":
        if sources == "multi":
            region_multihot = multi_class_rows(region_multihot)
        return localize_and_expand(features, probs, region_map, region_multihot, adjacency,
                                   rule=rule, expand=expand)
    if method in ("naive", "naive_all"):
        return naive_labels(probs, region_map, region_multihot, restrict=method == "naive")
    raise ValueError(f"method must be one of {METHODS}, got {method!r}")


# --------------------------------------------------------------------------- diagnostics


def quality_confusion(pseudo, truth, num_classes: int) -> np.ndarray:
    """(C+1, C+2) int64 counts: rows = ground truth (C = void), columns = pseudo label
    (C = undefined, C+1 = no label)."""
    pseudo = _as_tensor(pseudo).long().flatten()
    truth = _as_tensor(truth, pseudo.device).long().flatten()
    gt = torch.where(truth < num_classes, truth, torch.full_like(truth, num_classes))
    pl = torch.where(pseudo <= num_classes, pseudo, torch.full_like(pseudo, num_classes + 1))
    counts = torch.bincount(gt * (num_classes + 2) + pl,
                            minlength=(num_classes + 1) * (num_classes + 2))
    return counts.reshape(num_classes + 1, num_classes + 2).cpu().numpy()


def quality_row(confusion: np.ndarray, class_names: list[str]) -> dict:
    """Coverage, accuracy and per-class precision/recall from `quality_confusion` counts.

    - coverage = labelled pixels / all pixels (void included);
    - accuracy = correct / labelled pixels whose ground truth is not void;
    - precision_<c> = correct c / pixels labelled c with non-void ground truth;
    - recall_<c> = correct c / ground-truth pixels of c (labelled or not);
    - precision_undefined = share of pixels labelled undefined that are void in ground truth,
      recall_undefined = share of void pixels labelled undefined;
    - mean_precision / mean_recall: nanmean over the real classes.
    Ratios with an empty denominator are NaN.
    """
    conf = confusion.astype(np.float64)
    c = len(class_names)
    real = conf[:c]  # rows with non-void ground truth
    correct = np.diag(real[:, :c])

    def ratio(num, den):
        num, den = np.asarray(num, float), np.asarray(den, float)
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)

    precision = ratio(correct, real[:, :c].sum(0))
    recall = ratio(correct, real.sum(1))
    row = {
        "pixels": int(conf.sum()),
        "labelled_pixels": int(conf[:, :c + 1].sum()),
        "coverage": float(ratio(conf[:, :c + 1].sum(), conf.sum())),
        "accuracy": float(ratio(correct.sum(), real[:, :c + 1].sum())),
        "mean_precision": float(np.nanmean(precision)) if np.isfinite(precision).any() else np.nan,
        "mean_recall": float(np.nanmean(recall)) if np.isfinite(recall).any() else np.nan,
    }
    for name, p, r in zip(class_names, precision, recall):
        row[f"precision_{name}"] = float(p)
        row[f"recall_{name}"] = float(r)
    row["precision_undefined"] = float(ratio(conf[c, c], conf[:, c].sum()))
    row["recall_undefined"] = float(ratio(conf[c, c], conf[c].sum()))
    return row
