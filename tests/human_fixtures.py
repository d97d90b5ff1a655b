"""An open round of the human oracle without Snakemake, and its server as a process.

    results, oracle = open_round(folder, budget=8)   # a 2-image 64x128 city through
        # `actseg synth | regions | oracle | human pool | human queue` (round 1, random)
    server = HumanServerProcess(results, db)           # `actseg human serve --port 0`
    server.links["a01"], server.port; server.kill() (SIGKILL); server.stop()
"""

from __future__ import annotations

from pathlib import Path

from pipeline_fixtures import _cli, make_city, make_regions_and_oracle
from survey_browser import ServerProcess

from actseg.stores import OracleTable, read_oracle


def open_round(folder: Path, budget: int = 8, repeat_fraction: float = 0.0,
               n_train: int = 2, height: int = 64, width: int = 128,
               size: int = 16) -> tuple[Path, OracleTable]:
    """(results folder holding round1/queue.h5, the oracle to answer truthfully from)."""
    folder = Path(folder)
    root = make_city(folder / "city", n_train, 1, height, width)
    regions, oracle = make_regions_and_oracle(root, folder, size=size)
    pool, results = folder / "pool.h5", folder / "results"
    common = ("--dataset", "synthetic", "--root", root, "--regions", regions)
    _cli("human", "pool", *common, "--out", pool)
    _cli("human", "queue", "--round", 1, *common, "--oracle", pool, "--method", "random",
         "--budget", budget, "--repeat-fraction", repeat_fraction, "--device", "cpu",
         "--out", results / "round1" / "queue.h5")
    return results, read_oracle(oracle)


class HumanServerProcess(ServerProcess):
    """`actseg human serve` in a subprocess; its links and port read from its output."""

    def __init__(self, results: Path, db: Path, port: int = 0, annotators: int = 2):
        self.results, self.db = results, db
        self._start(["human", "serve", "--results", str(results), "--db", str(db),
                     "--port", str(port), "--annotators", str(annotators)])
