"""What is wrong with a pretrained-weights file, in words (no torch import: the config
validation uses it before any job runs)."""

from __future__ import annotations

import os
from pathlib import Path

EXPECTED = "expected a PyTorch state dict saved with torch.save (.pt/.pth)"


def file_problem(path: str | os.PathLike) -> str | None:
    """Why `path` cannot be a weights file (missing, a folder, empty), or None."""
    path = Path(path)
    if path.is_dir():
        return f"{path}: is a folder; {EXPECTED}"
    if not path.exists():
        return f"{path}: no such file; {EXPECTED}"
    if not path.is_file():
        return f"{path}: is not a regular file; {EXPECTED}"
    if path.stat().st_size == 0:
        return f"{path}: is empty (0 bytes); {EXPECTED}"
    return None


def unreadable(path: str | os.PathLike, error: BaseException) -> str:
    """The message for a file torch.load failed on: what the file looks like instead."""
    with open(path, "rb") as f:
        head = f.read(64)
    if head.startswith(b"PK"):
        kind = f"a zip archive (torch's format) that cannot be loaded ({error})"
    elif head.startswith(b"\x80"):
        kind = f"a pickle that is not a plain state dict ({error})"
    elif _is_text(head):
        kind = f"a text file starting {head[:24].decode(errors='replace')!r}"
    else:
        kind = f"binary data of another format (first bytes {head[:8].hex()})"
    return f"{path}: not a PyTorch weights file: {kind}; {EXPECTED}"


def _is_text(head: bytes) -> bool:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(c.isprintable() or c.isspace() for c in text)
