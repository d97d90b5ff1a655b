"""Shared test setup: the helper modules beside the tests (`fakes`, `pipeline_fixtures`,
`workflow_runs`) are importable by name under any pytest import mode, and the tiny
experiment config (config.yaml + workflow/configs/tiny.yaml) is a fixture, as is `one_thread`."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))


def tiny_config() -> dict:
    """The tiny experiment as one config: workflow/configs/tiny.yaml over config.yaml."""
    from actseg.experiments.variants import merge

    base = yaml.safe_load((REPO / "config.yaml").read_text())
    return merge(base, yaml.safe_load((REPO / "workflow/configs/tiny.yaml").read_text()))


@pytest.fixture
def tiny():
    return tiny_config()


@pytest.fixture
def one_thread():
    """One torch intra-op thread, as the workflow's jobs run: with DataLoader workers more
    threads oversubscribe a 2-core machine, and two threads may split sums differently."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
