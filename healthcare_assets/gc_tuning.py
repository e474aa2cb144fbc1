"""Garbage-collector settings for short-lived processes that import a lot (the CLI's ``run``, the step fork server).

Importing Dagster and the project creates about a million long-lived objects. Python's cyclic collector scans them
again and again while they are created (about a fifth of the import time) and once more, in full, when the process
exits (about a second on a busy 2-core machine). ``imports_without_gc`` pauses the collector for the imports and then
freezes everything imported, so no later collection scans it: not during the run, not at exit, and not in processes
forked from it (which also keeps their memory shared with the parent instead of copied page by page).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def imports_without_gc() -> Iterator[None]:
    """Pause cyclic garbage collection for the block, then freeze what it created (``gc.freeze``)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()
