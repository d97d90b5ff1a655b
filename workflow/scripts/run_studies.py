"""Run studies one after another in this checkout and publish each as it finishes
(logic: actseg.study_runner), e.g.

    python workflow/scripts/run_studies.py region_size budget --cores 2 --gpu 2

Each study's files, provenance (command, commit, machine, wall time, jobs run) and the
claims table land in docs/results/studies/ and the README; commit them afterwards.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPOSITORY / "workflow"))

from actseg.study_runner import run_and_publish  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("study", nargs="+")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--gpu", type=int, default=2,
                        help="the gpu resource: network jobs side by side (README)")
    parser.add_argument("--machine", help="override the detected cores / GPU description")
    args, extra = parser.parse_known_args(argv)
    run_and_publish(args.study, REPOSITORY, args.cores, args.gpu, tuple(extra), args.machine)


if __name__ == "__main__":
    main()
