"""The step fork server's preload: ``preload`` (imports, resolved job, storage classes), then the Dagster instance
opened once and closed, so every forked step inherits what opening it imports and resolves lazily (path and
environment libraries, the schema's head revision) instead of paying for it again: measured, a forked step's
``DagsterInstance.from_ref`` took 70-80 ms without this and 30-45 ms with it.

It also imports pandas and pandera (``STEP_LIBRARIES``), which most steps after profiling import (pyarrow imports
pandas when the published-profile check builds Arrow tables from lists; the feature gates validate with pandera):
each forked step would otherwise import them again, 0.5-0.8 s each on the 2-core machine.
Only the fork server imports this module (``fork_server.STEP_PRELOAD``); the CLI, which opens its own instance
anyway, imports ``preload`` alone. The instance is opened under the same inter-process lock as the CLI's
(``open_instance``): on a first run both would otherwise create the tables at once. Like ``preload``, nothing here
may raise (the fork server would die); if opening fails, steps open it cold and report the problem themselves.
"""

import importlib

from healthcare_assets.defs.preload import configured_dagster_home  # imports and resolves everything first
from healthcare_assets.gc_tuning import imports_without_gc

STEP_LIBRARIES = ("pandas", "pandera.polars", "pandera.errors")


def _open_instance_once() -> None:
    from healthcare_assets.defs.instance import open_instance

    with open_instance():
        pass


with imports_without_gc():
    for _name in STEP_LIBRARIES:
        try:
            importlib.import_module(_name)
        except Exception:  # noqa: BLE001 - see the module docstring (the step imports it and reports the failure)
            break
if configured_dagster_home():
    with imports_without_gc():
        try:
            _open_instance_once()
        except Exception:  # noqa: BLE001 - see the module docstring
            pass
