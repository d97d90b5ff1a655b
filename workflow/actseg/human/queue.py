"""A round's query queue (`round{t}/queue.h5`): the round's ranking of the unlabelled regions,
best first, as the simulated oracle's fill walks it (`actseg.budget.ranking`), with the
scores behind it (kept for labels.h5), which queries are asked twice (agreement), and what
the server needs to show them (dataset, regions, class names).

A query's id is `r{t}-{image}-{region}` (image index in the sorted train split); the server
parses ids against the queue and never turns one into a path.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import numpy as np

from actseg.stores import GZIP, StoreError, _LazyH5, _clean_attrs, _whole_file
from actseg.fileio import provenance

QUESTION = re.compile(r"r(\d+)-(\d+)-(\d+)")


def question_id(round_: int, image: int, region: int) -> str:
    return f"r{round_}-{image}-{region}"


@dataclass
class QueryQueue:
    round: int
    labelling: str
    budget: int
    image: np.ndarray  # (K,) image index of the k-th ranked query
    region: np.ndarray  # (K,) region id
    doubled: np.ndarray  # (K,) bool: asked a second time, of another annotator
    scores: np.ndarray  # (N, R_max) float32 ranking scores (-inf: not rankable)
    image_ids: list[str]
    class_names: list[str]
    attrs: dict = field(default_factory=dict)  # acquisition, dataset, regions, ...

    def __post_init__(self):
        self._rank = {(int(i), int(r)): k for k, (i, r) in enumerate(zip(self.image, self.region))}

    def __len__(self) -> int:
        return len(self.image)

    @property
    def has_undefined(self) -> bool:
        """Whether people may answer the undefined class (not on VOC); older queues: yes."""
        return bool(int(self.attrs.get("has_undefined", 1)))

    def id(self, rank: int) -> str:
        return question_id(self.round, int(self.image[rank]), int(self.region[rank]))

    def rank_of(self, question: str) -> int | None:
        """The rank of a query id of this round; None for anything else."""
        match = QUESTION.fullmatch(question) if isinstance(question, str) else None
        if match is None or int(match[1]) != self.round:
            return None
        return self._rank.get((int(match[2]), int(match[3])))

    @property
    def form(self) -> str:
        """The answers' form column in the store: round and labelling."""
        return f"round{self.round}-{self.labelling}"


def repeated(count: int, fraction: float, seed) -> np.ndarray:
    """Which of `count` ranked queries are asked twice: a seeded draw, each with
    probability `fraction`."""
    return np.random.default_rng(seed).random(count) < fraction


def write_queue(path, queue: QueryQueue) -> None:
    with _whole_file(path) as f:
        for name in ("image", "region"):
            f.create_dataset(name, data=getattr(queue, name).astype(np.int64), **GZIP)
        f.create_dataset("doubled", data=queue.doubled.astype(bool), **GZIP)
        f.create_dataset("scores", data=queue.scores.astype(np.float32), **GZIP)
        f.attrs.update(_clean_attrs(provenance(**{
            **queue.attrs, "round": queue.round, "labelling": queue.labelling,
            "budget": queue.budget, "image_ids": json.dumps(queue.image_ids),
            "class_names": json.dumps(queue.class_names)})))


def read_queue(path) -> QueryQueue:
    store = _LazyH5(path, ("image", "region", "doubled", "scores"))
    attrs = store.attrs
    try:
        own = {k: attrs[k] for k in ("round", "labelling", "budget", "image_ids",
                                     "class_names")}
        return QueryQueue(int(own["round"]), str(own["labelling"]), int(own["budget"]),
                          store.read("image"), store.read("region"), store.read("doubled"),
                          store.read("scores"), json.loads(own["image_ids"]),
                          json.loads(own["class_names"]),
                          {k: v for k, v in attrs.items() if k not in own})
    except (KeyError, ValueError) as err:
        raise StoreError(f"{path}: not a query queue ({err!r})") from None
