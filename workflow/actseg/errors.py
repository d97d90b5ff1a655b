"""The project's own exceptions share one base, so every command reports them the same
way: one line naming the file or key, exit status 1, no traceback (`actseg --debug` shows
it). Each module keeps its own subclass (DatasetError, StoreError, ...)."""

from __future__ import annotations


class ActsegError(Exception):
    """A problem the user can act on; the message names the file or setting."""
