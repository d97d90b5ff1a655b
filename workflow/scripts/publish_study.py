"""Copy a finished study's figure files (results/figures/{study}.csv, _summary.csv, .png)
into docs/results/studies/, record its provenance in the README.md there (logic:
actseg.published) and rewrite the claims table (actseg.claims) in claims.md there and in the
project README. Run from the checkout after the study finished, e.g.

    python workflow/scripts/publish_study.py region_size --wall-s 5400 \
        --command "snakemake --cores 2 results/figures/region_size.csv --resources gpu=1"
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPOSITORY / "workflow"))

from actseg.claims import write_claims  # noqa: E402
from actseg.published import PUBLISHED, publish  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("study", nargs="+")
    parser.add_argument("--command", required=True, help="the exact command that ran it")
    parser.add_argument("--wall-s", type=float, required=True, help="its wall time in s")
    parser.add_argument("--figures", type=Path, default=Path("results/figures"))
    parser.add_argument("--dest", type=Path, default=REPOSITORY / PUBLISHED)
    parser.add_argument("--machine", help="override the detected cores / GPU description")
    parser.add_argument("--commit", help="the commit that ran it (default: HEAD)")
    parser.add_argument("--jobs", type=int, help="how many jobs the command ran")
    args = parser.parse_args(argv)
    for study in args.study:
        for path in publish(study, args.figures, args.dest, args.command, args.wall_s,
                            REPOSITORY, args.machine, args.commit, args.jobs):
            print(path)
    write_claims(args.dest, REPOSITORY / "README.md")
    print(args.dest / "claims.md", REPOSITORY / "README.md")


if __name__ == "__main__":
    main()
