"""Modules a run's later steps import anyway (pandas, and pandera for the feature gates), imported ahead of them.

Importing pandas and pandera takes about 0.8 s on the 2-core machine, and every run pays it: the published-profile
check builds Arrow tables (pyarrow imports pandas when it first converts a list) and the feature and training-set
gates validate with pandera. Paid inside those steps, it is time on the run's critical path.

* ``healthcare-assets run`` with every step in the command's own process (``in_process``) imports them in a
  background thread (``import_in_background``) while the first steps run: landing, profiling and de-identification
  spend most of their time inside DuckDB, which releases the GIL and leaves part of the second core idle. A step
  that imports one of them while the thread does waits on Python's per-module import lock and then finds it loaded.
  The thread starts once the code location is imported and the instance is open, so it does not slow the start-up.
* The step fork server (``fork_server.STEP_PRELOAD``) imports them before it forks (``import_now``), so a forked
  step inherits them instead of importing them again.

Nothing here may raise: if an import fails, the step that needs the module imports it itself and reports the
problem where Dagster shows it.
"""

from __future__ import annotations

import importlib
import threading

LATER_STEPS = ("pandas", "pandera.polars", "pandera.errors")


def import_now(modules: tuple[str, ...] = LATER_STEPS) -> None:
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - see the module docstring
            return


def import_in_background(modules: tuple[str, ...] = LATER_STEPS) -> threading.Thread:
    """Start importing ``modules`` in a daemon thread; returns it (joined only by tests)."""
    thread = threading.Thread(target=import_now, args=(modules,), name="warm-imports", daemon=True)
    thread.start()
    return thread
