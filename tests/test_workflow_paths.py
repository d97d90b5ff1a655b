"""Dataset roots with shell metacharacters or spaces run end to end (issue 17, item 1):
every path in a shell command is quoted, and the dataset's name in shared paths is a safe
slug of its folder name. One round of the tiny config per name."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml
from conftest import tiny_config
from workflow_runs import snakemake

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("folder, slug", [
    ("my;touch INJECTED;city", "my_touch_INJECTED_city"),
    ("my city", "my_city"),
])
def test_a_root_with_metacharacters_or_spaces_runs(tmp_path, folder, slug):
    config = tiny_config()
    config["rounds"] = 1
    config["dataset"]["root"] = f"results/data/{folder}"
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    result = snakemake(tmp_path, "--cores", "2", "--resources", "gpu=1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert not list(tmp_path.rglob("INJECTED")), "a shell command ran part of the path"
    assert (tmp_path / "results/data" / folder / "manifest.json").is_file()
    assert (tmp_path / f"results/regions/{slug}-grid8/oracle.h5").is_file()
    assert (tmp_path / f"results/logs/data/{slug}.log").is_file()
    curve = pd.read_csv(tmp_path / "results/round1/miou.csv")
    assert curve[["round", "stage"]].values.tolist() == [[1, 1], [1, 2]]


def test_every_placeholder_in_a_shell_command_is_quoted():
    """Static guard for issue 17, item 1: a rule added later cannot forget `:q`."""
    import re

    from workflow_runs import REPO

    # params that hold option strings already quoted word by word (jobs.render_options,
    # render_repeated) are spliced in as they are
    rendered = {"params.run", "params.links", "params.init", "params.previous",
                "params.runs", "params.models", "params.human"}
    unquoted = []
    for rule_file in sorted((REPO / "rules").glob("*.smk")):
        for number, line in enumerate(rule_file.read_text().splitlines(), 1):
            if line.lstrip().startswith("#"):
                continue
            for field in re.findall(r"\{((?:input|output|params|log)(?:\.\w+)?)(:q)?\}", line):
                if not field[1] and field[0] not in rendered:
                    unquoted.append(f"{rule_file.name}:{number}: {{{field[0]}}}")
    assert not unquoted, "unquoted shell placeholders:\n" + "\n".join(unquoted)
