"""Plotting helpers shared by every figure: a headless pyplot and byte-stable PNGs."""

from __future__ import annotations

import io
from pathlib import Path

from actseg.fileio import atomic_output


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_png(fig, out_png: str | Path) -> None:
    """Write `fig` as a byte-stable PNG (no software/date metadata), atomically, and close
    it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, metadata={"Software": None})
    with atomic_output(Path(out_png)) as tmp:
        Path(tmp).write_bytes(buffer.getvalue())
    pyplot().close(fig)
