"""Atomic writers under faults (actseg.fileio): temporaries of dead writers are removed by
the next writer, and a full disk is reported with the file's name (issue 17, items 6, 7)."""

from __future__ import annotations

import errno
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from actseg.fileio import NoSpaceError, atomic_output, make_temp_dir, temp_prefix


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_temporaries_of_dead_writers_are_removed_by_the_next_writer(tmp_path):
    prefix = temp_prefix(tmp_path / "labels.h5")  # .labels.h5.<host>-<pid>.
    dead = prefix.replace(f"-{os.getpid()}.", f"-{dead_pid()}.")
    (tmp_path / f"{dead}abc.h5.tmp").write_bytes(b"half written")
    (tmp_path / f"{dead}def.tmp").mkdir()  # a generated city's folder
    live = tmp_path / f"{prefix}ghi.h5.tmp"  # this process's own: kept
    other_host = tmp_path / ".labels.h5.elsewhere-1.jkl.h5.tmp"  # not ours to judge
    live.write_bytes(b"")
    other_host.write_bytes(b"")
    with atomic_output(tmp_path / "labels.h5") as tmp:
        tmp.write_bytes(b"done")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [live.name, other_host.name, "labels.h5"])


def test_a_killed_city_generation_leaves_nothing_after_the_next_run(tmp_path):
    from actseg.synth.generator import generate

    code = ("import os, sys; from actseg.fileio import make_temp_dir; "
            "d = make_temp_dir(sys.argv[1]); (d / 'half.png').write_bytes(b'x'); os._exit(9)")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "city")], env=env, check=False)
    assert len(list(tmp_path.iterdir())) == 1  # the killed writer's folder
    generate(tmp_path / "city", n_train=1, n_val=1, height=32, width=64)
    assert [p.name for p in tmp_path.iterdir()] == ["city"]


def test_two_processes_never_share_a_temporary(tmp_path):
    first = make_temp_dir(tmp_path / "x")
    second = make_temp_dir(tmp_path / "x")
    assert first != second and first.name.startswith(temp_prefix(tmp_path / "x"))


def test_enospc_is_reported_with_the_file_name(tmp_path):
    target = tmp_path / "round1" / "labels.h5"
    with pytest.raises(NoSpaceError, match=f"no space left on device while writing {target}"):
        with atomic_output(target):
            raise OSError(errno.ENOSPC, "No space left on device")
    assert list(target.parent.iterdir()) == []


@pytest.fixture
def full_disk(tmp_path):
    """A 256 KiB tmpfs (needs root and mount(8)); skipped elsewhere."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "small"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_full_disk_names_the_checkpoint(full_disk):
    from actseg.checkpoint import save_checkpoint

    model = torch.nn.Linear(512, 512)  # 1 MiB of weights
    out = full_disk / "stage1.pt"
    with pytest.raises(NoSpaceError, match=f"while writing {out}"):
        save_checkpoint(out, model, {"backbone": "small"})
    assert list(full_disk.iterdir()) == []


def test_full_disk_names_the_store(full_disk):
    from actseg.stores import LabelState, write_labels

    rng = np.random.default_rng(0)
    state = LabelState(rng.integers(0, 2, (64, 4096)).astype(np.int8),
                       rng.random((64, 4096)).astype(np.float32), 1, "multiclass", "random",
                       [1], [1])
    out = full_disk / "labels.h5"
    with pytest.raises(NoSpaceError, match=f"while writing {out}"):
        write_labels(out, state)
    assert list(full_disk.iterdir()) == []
