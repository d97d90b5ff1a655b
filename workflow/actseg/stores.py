"""HDF5 stores: one reader and one writer per store (docs/architecture.md, "Stores").

Images of one split may differ in size (VOC), so per-image maps are stored padded to the
largest (H, W) of the split with their true `heights`/`widths`; readers crop. Image index
`n` is the same in every store: the position of the image in the sorted train split.

Readers open the file lazily and re-open after a fork, so they are safe to hand to
DataLoader workers.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import h5py
import numpy as np

from actseg.errors import ActsegError
from actseg.fileio import atomic_output, provenance

# Every dataset carries a Fletcher-32 checksum per chunk, so a flipped bit is an error
# naming the file rather than silently different numbers.
GZIP = dict(compression="gzip", compression_opts=1, shuffle=True, fletcher32=True)
LABELLINGS = ("multiclass", "dominant")


class StoreError(ActsegError):
    """A store is missing, incomplete or inconsistent; the message names the file."""


def _clean_attrs(attrs: dict) -> dict:
    """h5py attributes: drop None, JSON-encode dicts."""
    out = {}
    for key, value in attrs.items():
        if value is None:
            continue
        out[key] = json.dumps(value, sort_keys=True) if isinstance(value, dict) else value
    return out


def _put(f: h5py.File, name: str, data: np.ndarray, **kwargs) -> None:
    """Write a small whole dataset, checksummed unless empty (HDF5 cannot chunk those)."""
    data = np.asarray(data)
    checked = dict(fletcher32=True) if data.size and data.dtype.kind != "O" else {}
    f.create_dataset(name, data=data, **{**checked, **kwargs})


def _decode(value):
    return value.decode() if isinstance(value, bytes) else value


class _LazyH5:
    """An h5py file opened on first use, re-opened in a forked child (DataLoader worker)."""

    def __init__(self, path: str | os.PathLike, required: tuple[str, ...]):
        self.path = Path(path)
        if not self.path.exists():
            raise StoreError(f"{self.path}: no such store")
        self._file = None
        self._pid = None
        missing = [k for k in required if k not in self.file]
        if missing:
            raise StoreError(f"{self.path}: missing dataset(s) {missing}")

    @property
    def file(self) -> h5py.File:
        if self._file is None or self._pid != os.getpid():
            try:
                self._file = h5py.File(self.path, "r")
            except OSError as err:
                raise StoreError(f"{self.path}: cannot open HDF5 file ({err})") from err
            self._pid = os.getpid()
        return self._file

    @property
    def attrs(self) -> dict:
        return {k: _decode(v) for k, v in self.file.attrs.items()}

    def read(self, name: str, selection=slice(None)) -> np.ndarray:
        """`file[name][selection]`; a failed read (corruption: a checksum or decompression
        failure) is a StoreError naming the file and the dataset."""
        try:
            return self.file[name][selection]
        except (OSError, KeyError, ValueError) as err:
            raise StoreError(f"{self.path}: cannot read dataset {name!r} ({err}); the file "
                             "is corrupt: delete it so that it is rebuilt") from err

    def __getstate__(self):  # pickling for spawn-based workers: reopen on the other side
        state = self.__dict__.copy()
        state["_file"] = None
        state["_pid"] = None
        return state


# --------------------------------------------------------------------------- regions.h5


class _StreamingWriter:
    """An HDF5 file filled piece by piece under a temporary name; `close()` renames it onto
    `path`, `abort()` (or an exception inside `with`) removes it."""

    def _open(self, path) -> h5py.File:
        self.path = Path(path)
        self._ctx = atomic_output(self.path)
        self._file = h5py.File(self._ctx.__enter__(), "w")
        return self._file

    def _commit(self, attrs: dict) -> None:
        self._file.attrs.update(_clean_attrs(provenance(**attrs)))
        self._file.close()
        self._ctx.__exit__(None, None, None)

    def abort(self) -> None:
        self._file.close()
        self._ctx.__exit__(StoreError, StoreError("aborted"), None)

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.abort()
        return False


class RegionsWriter(_StreamingWriter):
    """Streams region maps into `regions.h5` one image at a time (atomic on close)."""

    def __init__(self, path, image_ids, heights, widths, max_regions: int, attrs: dict):
        self.n = len(image_ids)
        self.heights = np.asarray(heights, dtype=np.int32)
        self.widths = np.asarray(widths, dtype=np.int32)
        self.dtype = np.uint16 if max_regions <= np.iinfo(np.uint16).max else np.uint32
        self.image_ids = list(image_ids)
        self.attrs = attrs
        self._adjacency: list[np.ndarray | None] = [None] * self.n
        self._n_regions = np.zeros(self.n, dtype=np.int32)
        self._open(path)
        hmax, wmax = int(self.heights.max()), int(self.widths.max())
        self._regions = self._file.create_dataset(
            "regions", (self.n, hmax, wmax), dtype=self.dtype, chunks=(1, hmax, wmax), **GZIP
        )

    def add(self, index: int, region_map: np.ndarray, adjacency: np.ndarray) -> None:
        """`region_map` (h, w) ids 0..n-1; `adjacency` (P, 2) pairs a < b."""
        h, w = region_map.shape
        if (h, w) != (self.heights[index], self.widths[index]):
            raise StoreError(f"{self.path}: image {index} has shape {(h, w)}, expected "
                             f"{(self.heights[index], self.widths[index])}")
        if region_map.min() < 0 or region_map.max() > np.iinfo(self.dtype).max:
            raise StoreError(f"{self.path}: image {index} has region ids outside "
                             f"0..{np.iinfo(self.dtype).max} (raise max_regions)")
        padded = np.zeros(self._regions.shape[1:], dtype=self.dtype)
        padded[:h, :w] = region_map
        self._regions[index] = padded
        self._n_regions[index] = int(region_map.max()) + 1
        self._adjacency[index] = np.asarray(adjacency, dtype=np.int32).reshape(-1, 2)

    def close(self) -> None:
        missing = [i for i, a in enumerate(self._adjacency) if a is None]
        if missing:
            self.abort()
            raise StoreError(f"{self.path}: images {missing[:5]} were never written")
        counts = np.array([len(a) for a in self._adjacency], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        pairs = np.concatenate(self._adjacency) if counts.sum() else np.zeros((0, 2), np.int32)
        f = self._file
        _put(f, "n_regions", self._n_regions)
        _put(f, "heights", self.heights)
        _put(f, "widths", self.widths)
        _put(f, "image_ids", np.array(self.image_ids, dtype=h5py.string_dtype()))
        _put(f, "adj_offsets", offsets)
        _put(f, "adj_pairs", pairs, **(dict(GZIP, chunks=True) if len(pairs) else {}))
        self._commit(self.attrs)


class RegionsStore(_LazyH5):
    """Reader of `regions.h5`."""

    REQUIRED = ("regions", "n_regions", "heights", "widths", "image_ids",
                "adj_offsets", "adj_pairs")

    def __init__(self, path):
        super().__init__(path, self.REQUIRED)
        self.n_regions = self.read("n_regions")
        self.heights = self.read("heights")
        self.widths = self.read("widths")
        self.image_ids = [_decode(s) for s in self.read("image_ids")]
        self.adj_offsets = self.read("adj_offsets")

    def __len__(self) -> int:
        return len(self.n_regions)

    @property
    def r_max(self) -> int:
        return int(self.n_regions.max()) if len(self.n_regions) else 0

    def region_map(self, index: int) -> np.ndarray:
        h, w = int(self.heights[index]), int(self.widths[index])
        return self.read("regions", np.s_[index, :h, :w]).astype(np.int64)

    def adjacency(self, index: int) -> np.ndarray:
        lo, hi = self.adj_offsets[index], self.adj_offsets[index + 1]
        return self.read("adj_pairs", np.s_[lo:hi]).astype(np.int64)


# ---------------------------------------------------------------------------- oracle.h5


DOMINANT_VOIDS = ("ignore", "vote", "class")
DOMINANT_RULES = ("argmax", "sample")
NO_LABEL = 255  # a region without an answer (absent, or its dominant answer is void)


@dataclass(frozen=True)
class DominantRule:
    """How the simulated oracle's dominant answer treats void (`dominant.void`) and picks
    the class (`dominant.rule`); `seed` seeds `sample` (docs/method.md §2)."""

    void: str  # defaults: the schema's dominant.void, dominant.rule
    rule: str
    seed: int = 0

    def __post_init__(self):
        if self.void not in DOMINANT_VOIDS:
            raise ValueError(f"dominant.void must be one of {DOMINANT_VOIDS}, got {self.void!r}")
        if self.rule not in DOMINANT_RULES:
            raise ValueError(f"dominant.rule must be one of {DOMINANT_RULES}, got {self.rule!r}")


@dataclass
class OracleTable:
    """Per-region oracle answers, arrays (N, R_max); absent region ids have area 0."""

    multihot: np.ndarray  # uint32 bitmask, bit c = class c, bit num_classes = undefined
    dominant: np.ndarray  # uint8, num_classes = undefined (void), 255 = no region
    area: np.ndarray  # int32 pixels of the region
    trimmed_area: np.ndarray  # int32 pixels left after the boundary trim
    num_classes: int  # C real classes (the undefined class is index C)
    attrs: dict = field(default_factory=dict)
    has_undefined: bool = True  # the dataset has the undefined class u (not VOC)
    # the simulated oracle's class histogram of each whole region, sparse (actseg.oracle):
    # region (n, r) holds hist_sizes[n, r] consecutive (class, count) pairs in raster order
    # of (n, r), void = index C; None for tables without ground truth (the human oracle)
    hist_sizes: np.ndarray | None = None  # (N, R_max) uint8
    hist_classes: np.ndarray | None = None  # (M,) uint8
    hist_counts: np.ndarray | None = None  # (M,) int32

    @property
    def num_channels(self) -> int:
        """Network outputs and answer bits: C, plus the undefined class if the dataset has it."""
        return self.num_classes + int(self.has_undefined)

    def cost(self, labelling: str) -> np.ndarray:
        """Clicks per region: |Y_r| for multi-class queries, 1 for dominant; 0 if absent."""
        if labelling == "multiclass":
            return popcount(self.multihot).astype(np.int64)
        if labelling == "dominant":
            return (self.area > 0).astype(np.int64)
        raise ValueError(f"labelling must be one of {LABELLINGS}, got {labelling!r}")

    def label_sets(self, labelling: str, dominant: DominantRule | None = None) -> np.ndarray:
        """Bitmask of the answer the oracle gives for `labelling` (one bit for dominant, none
        when the dominant answer is void under `dominant`, see `dominant_classes`)."""
        if labelling == "multiclass":
            return self.multihot
        if labelling == "dominant":
            classes = self.dominant_classes(dominant)
            present = classes != NO_LABEL
            bits = np.left_shift(np.uint32(1), np.where(present, classes, 0).astype(np.uint32))
            return np.where(present, bits, 0).astype(np.uint32)
        raise ValueError(f"labelling must be one of {LABELLINGS}, got {labelling!r}")

    def region_reduce(self, ufunc: np.ufunc, counts: np.ndarray | None = None) -> np.ndarray:
        """(N * R_max,) int64: `ufunc` (np.add, np.maximum) over each region's stretch of the
        sparse histogram; `counts`: one value per (region, class) pair (default: the pixel
        counts). 0 where there is no region."""
        sizes = self.hist_sizes.ravel().astype(np.int64)
        values = (self.hist_counts if counts is None else counts).astype(np.int64)
        out = np.zeros(sizes.size, dtype=np.int64)
        present = sizes > 0
        if present.any():  # non-empty stretches are consecutive: reduceat reduces each one
            out[present] = ufunc.reduceat(values, (np.cumsum(sizes) - sizes)[present])
        return out

    def dominant_classes(self, dominant: DominantRule | None = None) -> np.ndarray:
        """(N, R_max) uint8 dominant answer per region: a class 0..C-1, C = undefined (only
        under void `class` on a dataset with u), NO_LABEL (255) = no answer (absent region,
        or void won under `ignore` / `vote`). `None`: the stored answer (void counted as C),
        which is also all a table without histograms (people's answers) can give.

        - void `ignore`: void pixels take no part (an all-void region answers nothing; the
          authors' --known_ignore labels, which also leave the void pixels of an answered
          region unlabelled: `actseg.trainsets.Stage1Dataset`); `vote`: void takes part and
          a void win answers nothing (the authors' --generate_ignore labels, those of their
          published Dom run); `class`: void takes part as u and may win.
        - argmax: the most frequent class, ties to the lower class index (a class beats
          void on a tie). sample: a class drawn with probability proportional to its pixel
          count (one draw per region from `seed`, whatever is labelled).
        Without an undefined class (VOC), `class` is `vote`: void is never an answer.
        """
        if dominant is None or self.hist_sizes is None:
            if dominant is not None and self.attrs.get("answers") not in ("none", "human"):
                if (dominant.void, dominant.rule) != ("class", "argmax") or not self.has_undefined:
                    raise StoreError("the oracle table has no region histograms (written by an "
                                     "older actseg): add them with actseg.commands.round_inputs"
                                     ".with_histograms, or delete oracle.h5 to rebuild it")
            return self.dominant.copy()
        c = self.num_classes
        sizes = self.hist_sizes.ravel().astype(np.int64)
        classes = self.hist_classes.astype(np.int64)
        counts = self.hist_counts.astype(np.int64)
        segment = np.repeat(np.arange(sizes.size), sizes)  # region (flat) of every pair
        starts = np.cumsum(sizes) - sizes
        present = np.flatnonzero(sizes > 0)
        out = np.full(sizes.size, NO_LABEL, dtype=np.int64)
        if not len(present):
            return out.reshape(self.hist_sizes.shape).astype(np.uint8)
        if dominant.void == "ignore":
            counts = np.where(classes == c, 0, counts)  # void takes no part
        if dominant.rule == "argmax":
            best = self.region_reduce(np.maximum, counts)
            winners = np.flatnonzero((counts == best[segment]) & (counts > 0))
            # pairs are in class order: the first winner of a region is its lowest class
            regions, first = np.unique(segment[winners], return_index=True)
            out[regions] = classes[winners[first]]
        else:
            draw = np.random.default_rng([int(dominant.seed), 0xD0]).random(sizes.size)
            area = self.region_reduce(np.add, counts)
            present = present[area[present] > 0]  # all void under ignore: no draw
            total = np.cumsum(counts)
            base = total[starts[present]] - counts[starts[present]]
            target = base + np.minimum((draw[present] * area[present]).astype(np.int64),
                                       area[present] - 1)
            out[present] = classes[np.searchsorted(total, target, side="right")]
        if dominant.void != "class" or not self.has_undefined:
            out[out == c] = NO_LABEL
        return out.reshape(self.hist_sizes.shape).astype(np.uint8)


def popcount(bits: np.ndarray) -> np.ndarray:
    """Number of set bits of a uint32 array (vectorised)."""
    b = bits.astype(np.uint64)
    count = np.zeros(b.shape, dtype=np.uint8)
    for shift in range(32):
        count += ((b >> np.uint64(shift)) & np.uint64(1)).astype(np.uint8)
    return count


def multihot_to_bool(bits: np.ndarray, num_channels: int) -> np.ndarray:
    """(..., ) uint32 bitmask -> (..., num_channels) bool."""
    shifts = np.arange(num_channels, dtype=np.uint32)
    return ((bits[..., None] >> shifts) & 1).astype(bool)


@contextlib.contextmanager
def _whole_file(path) -> Iterator[h5py.File]:
    """An HDF5 file built in memory, then written atomically: a full disk then fails in a
    plain write (NoSpaceError), never inside HDF5, whose failed close crashes the process
    at exit. For the small stores (oracle, labels)."""
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        yield f
    with atomic_output(path) as tmp:
        tmp.write_bytes(buffer.getvalue())


def write_oracle(path, table: OracleTable) -> None:
    with _whole_file(path) as f:
        for name in ("multihot", "dominant", "area", "trimmed_area"):
            f.create_dataset(name, data=getattr(table, name), **GZIP)
        if table.hist_sizes is not None:
            for name in ("hist_sizes", "hist_classes", "hist_counts"):
                _put(f, name, getattr(table, name), **({k: v for k, v in GZIP.items()
                                                        if k != "fletcher32"}
                                                     if getattr(table, name).size else {}))
        f.create_dataset("cost_multiclass", data=table.cost("multiclass").astype(np.uint8), **GZIP)
        f.create_dataset("cost_dominant", data=table.cost("dominant").astype(np.uint8), **GZIP)
        # attrs of a table from read_oracle repeat num_classes and old versions: restamp them
        stale = {"num_classes", "has_undefined", *provenance()}
        extra = {k: v for k, v in table.attrs.items() if k not in stale}
        f.attrs.update(_clean_attrs(provenance(**extra, num_classes=table.num_classes,
                                               has_undefined=int(table.has_undefined))))


def read_oracle(path) -> OracleTable:
    store = _LazyH5(path, ("multihot", "dominant", "area", "trimmed_area"))
    attrs = store.attrs
    return OracleTable(
        multihot=store.read("multihot").astype(np.uint32),
        dominant=store.read("dominant").astype(np.uint8),
        area=store.read("area").astype(np.int32),
        trimmed_area=store.read("trimmed_area").astype(np.int32),
        num_classes=int(attrs["num_classes"]),
        attrs=attrs,
        has_undefined=bool(attrs.get("has_undefined", 1)),  # older tables: every dataset had u
        **{name: (store.read(name) if name in store.file else None)
           for name in ("hist_sizes", "hist_classes", "hist_counts")},
    )


# ---------------------------------------------------------------------- round{t}/labels.h5


@dataclass
class LabelState:
    """The labelling history after round `round`."""

    labelled_round: np.ndarray  # (N, R_max) int8: 0 unlabelled, k labelled in round k
    scores: np.ndarray  # (N, R_max) float32 ranking scores of this round (-inf: not rankable)
    round: int
    labelling: str  # "multiclass" | "dominant"
    acquisition: str
    clicks_per_round: list[int]  # index k-1 = clicks spent in round k
    regions_per_round: list[int]
    attrs: dict = field(default_factory=dict)
    # (N, R_max) uint32 label sets people gave (bit C = undefined), cumulative over rounds;
    # None for the simulated oracle, whose answers are oracle.h5
    answers: np.ndarray | None = None

    @property
    def labelled(self) -> np.ndarray:
        return self.labelled_round > 0


def write_labels(path, state: LabelState) -> None:
    if len(state.clicks_per_round) != state.round or len(state.regions_per_round) != state.round:
        raise StoreError(f"{path}: per-round totals must have {state.round} entries")
    with _whole_file(path) as f:
        f.create_dataset("labelled_round", data=state.labelled_round.astype(np.int8), **GZIP)
        f.create_dataset("scores", data=state.scores.astype(np.float32), **GZIP)
        if state.answers is not None:
            f.create_dataset("answers", data=state.answers.astype(np.uint32), **GZIP)
        f.attrs.update(_clean_attrs(provenance(
            round=int(state.round), labelling=state.labelling, acquisition=state.acquisition,
            clicks_per_round=np.asarray(state.clicks_per_round, dtype=np.int64),
            regions_per_round=np.asarray(state.regions_per_round, dtype=np.int64),
            **state.attrs,
        )))


def read_labels(path) -> LabelState:
    store = _LazyH5(path, ("labelled_round", "scores"))
    attrs = store.attrs
    base = {"round", "labelling", "acquisition", "clicks_per_round", "regions_per_round"}
    return LabelState(
        labelled_round=store.read("labelled_round"),
        scores=store.read("scores"),
        round=int(attrs["round"]),
        labelling=str(attrs["labelling"]),
        acquisition=str(attrs["acquisition"]),
        clicks_per_round=[int(x) for x in np.atleast_1d(attrs["clicks_per_round"])],
        regions_per_round=[int(x) for x in np.atleast_1d(attrs["regions_per_round"])],
        attrs={k: v for k, v in attrs.items() if k not in base},
        answers=store.read("answers") if "answers" in store.file else None,
    )


# ---------------------------------------------------------------------- round{t}/pseudo.h5


class PseudoWriter(_StreamingWriter):
    """Streams pseudo-label maps (255 = ignore) for the M images with a labelled region."""

    def __init__(self, path, image_index, heights, widths, attrs: dict):
        self.image_index = np.asarray(image_index, dtype=np.int64)
        self.heights = np.asarray(heights, dtype=np.int32)
        self.widths = np.asarray(widths, dtype=np.int32)
        self.attrs = attrs
        self._written = np.zeros(len(self.image_index), dtype=bool)
        self._open(path)
        m = len(self.image_index)
        hmax = int(self.heights.max()) if m else 1
        wmax = int(self.widths.max()) if m else 1
        self._pseudo = self._file.create_dataset(
            "pseudo", (m, hmax, wmax), dtype=np.uint8, chunks=(1, hmax, wmax),
            fillvalue=255, **GZIP)

    def add(self, slot: int, label_map: np.ndarray) -> None:
        """Write the map of `image_index[slot]`."""
        h, w = label_map.shape
        if (h, w) != (self.heights[slot], self.widths[slot]):
            raise StoreError(f"{self.path}: slot {slot} has shape {(h, w)}")
        padded = np.full(self._pseudo.shape[1:], 255, dtype=np.uint8)
        padded[:h, :w] = label_map
        self._pseudo[slot] = padded
        self._written[slot] = True

    def close(self) -> None:
        if not self._written.all():
            self.abort()
            raise StoreError(f"{self.path}: {int((~self._written).sum())} maps never written")
        f = self._file
        _put(f, "image_index", self.image_index)
        _put(f, "heights", self.heights)
        _put(f, "widths", self.widths)
        self._commit(self.attrs)


class PseudoStore(_LazyH5):
    """Reader of `pseudo.h5`: `label(slot)` is the map of train image `image_index[slot]`."""

    def __init__(self, path):
        super().__init__(path, ("pseudo", "image_index", "heights", "widths"))
        self.image_index = self.read("image_index")
        self.heights = self.read("heights")
        self.widths = self.read("widths")

    def __len__(self) -> int:
        return len(self.image_index)

    def label(self, slot: int) -> np.ndarray:
        h, w = int(self.heights[slot]), int(self.widths[slot])
        return self.read("pseudo", np.s_[slot, :h, :w])
