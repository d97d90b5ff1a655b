"""The README's screenshot of the human oracle's labelling page: a round of the embedded
city (2 train images of 256x512, as config.yaml generates them, SLIC regions) is queued
through the CLI (`actseg synth | regions | oracle | human pool | human queue`, round 1,
random), served by the human oracle's app, and a scripted annotator (Debian's chromium
through Playwright, `actseg.human.scripted`) answers the first query truthfully, then
selects the true classes of the second one and the page is captured before it submits.

    python benchmarks/human_screenshot.py --out docs/images/human-query.png
"""

from __future__ import annotations

import argparse
import tempfile
import threading
from pathlib import Path

from actseg.cli import main as actseg_main
from actseg.human.app import OracleApp, RoundQueues
from actseg.human.scripted import BrowserAnnotator, browser
from actseg.human.store import QueueStore
from actseg.stores import read_oracle
from actseg.survey.server import make_server


def cli(*argv) -> None:
    if actseg_main([str(a) for a in argv]):
        raise SystemExit(f"actseg {' '.join(map(str, argv))} failed")


def queue_round(folder: Path, budget: int, seed: int) -> Path:
    """The city, its regions and oracle (for the truth), the pool and round 1's queue."""
    root = folder / "city"
    cli("synth", "--out", root, "--seed", seed, "--n-train", 2, "--n-val", 1,
        "--height", 256, "--width", 512)
    common = ("--dataset", "synthetic", "--root", root, "--regions", folder / "regions.h5")
    cli("regions", "--dataset", "synthetic", "--root", root, "--split", "train",
        "--method", "slic", "--size", 8, "--compactness", 20, "--out", folder / "regions.h5")
    cli("oracle", *common, "--split", "train", "--trim-width", 0.75,
        "--out", folder / "oracle.h5")
    cli("human", "pool", *common, "--trim-width", 0.75, "--out", folder / "pool.h5")
    cli("human", "queue", "--round", 1, *common, "--oracle", folder / "pool.h5",
        "--method", "random", "--seed", seed, "--budget", budget, "--repeat-fraction", 0,
        "--device", "cpu", "--out", folder / "results" / "round1" / "queue.h5")
    return folder / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/images/human-query.png"))
    parser.add_argument("--budget", type=int, default=24)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        results = queue_round(folder, args.budget, args.seed)
        oracle = read_oracle(folder / "oracle.h5")
        store = QueueStore(results / "human" / "answers.sqlite")
        store.add_participants(["a01"])
        server = make_server(OracleApp(RoundQueues(results), store, 360))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        link = f"http://127.0.0.1:{server.server_port}/s/{store.tokens()['a01']}"
        try:
            with browser() as chromium:
                page = chromium.new_page(viewport={"width": 900, "height": 760})
                person = BrowserAnnotator(page, link, oracle)
                person.open()
                person.answer(100)
                for c in person.truth(person.current()):
                    page.click(f"#options input[value='{c}']")
                args.out.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(args.out), full_page=True)
        finally:
            server.shutdown()
            server.server_close()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
