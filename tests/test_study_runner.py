"""Running studies in turn and publishing each (actseg.study_runner), with a stand-in
`snakemake` on PATH that writes the figure files a study run would."""

from __future__ import annotations

import os
import stat
import textwrap

import pytest

from actseg import study_runner
from actseg.claims import README_BEGIN, README_END

FAKE_SNAKEMAKE = textwrap.dedent("""\
    #!/usr/bin/env python3
    import sys
    from pathlib import Path
    target = Path(sys.argv[3])  # snakemake --cores N results/figures/{study}.csv ...
    study = target.stem
    if study == "broken":
        print("MissingInputException"); sys.exit(1)
    rows = ["study,variant,labelling,seed,round,stage,clicks,miou"]
    for variant, base in (("local", 0.20), ("local-expand", 0.25), ("dom", 0.20),
                          ("dom-expand", 0.21)):
        for seed in (0, 1):
            rows.append(f"{study},{variant},multiclass,{seed},1,2,100,{base + seed / 100}")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("\\n".join(rows) + "\\n")
    target.with_name(f"{study}_summary.csv").write_text("variant\\nlocal\\n")
    target.with_suffix(".png").write_bytes(b"\\x89PNG")
    print("Building DAG of jobs...\\n1 of 3 steps (33%) done\\n3 of 3 steps (100%) done")
    """)


@pytest.fixture
def checkout(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "snakemake"
    fake.write_text(FAKE_SNAKEMAKE)
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "README.md").write_text(f"# r\n{README_BEGIN}\nold\n{README_END}\n")
    return repo


def test_runs_publish_and_rewrite_the_claims(checkout):
    [run] = study_runner.run_and_publish(["expansion"], checkout, cores=2, gpu=2,
                                         machine_="2 CPU cores, no GPU")
    assert run.command == ("snakemake --cores 2 results/figures/expansion.csv "
                           "--resources gpu=2")
    assert run.jobs == 3 and run.wall_s > 0
    published = checkout / "docs" / "results" / "studies"
    assert (published / "expansion.csv").is_file()
    provenance = (published / "README.md").read_text()
    assert f"- command: `{run.command}`" in provenance
    assert "- jobs run by the command: 3 (" in provenance
    # gains Local 5, 5 vs Dom 1, 1 -> +4 at both seeds
    readme = (checkout / "README.md").read_text()
    assert "| expansion gain: Local > Dom, stage 2 |" in readme and "\nold\n" not in readme
    assert "s0: +4.00, s1: +4.00" in readme
    assert "3 of 3 steps" in (checkout / "results/logs/studies/expansion.snakemake.log"
                              ).read_text()


def test_a_failed_study_stops_and_publishes_nothing(checkout):
    with pytest.raises(RuntimeError, match=r"study broken: .* failed \(exit 1\); see "):
        study_runner.run_and_publish(["broken", "expansion"], checkout, cores=2, gpu=2)
    assert not (checkout / "docs").exists()


def test_jobs_run_reads_the_last_steps_line():
    assert study_runner.jobs_run("x\n2 of 9 steps (22%) done\n9 of 9 steps (100%) done\n") == 9
    assert study_runner.jobs_run("Nothing to be done.\n") == 0
