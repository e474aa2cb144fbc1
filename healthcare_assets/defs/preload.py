"""Everything a run's processes need, imported and resolved once: by the step fork server before it forks
(through ``step_preload``, ``fork_server.STEP_PRELOAD``) and by ``healthcare-assets run`` before it starts the run.

Every forked step inherits the imported modules, the resolved job (``Definitions`` caches its repository) and the
Dagster instance's storage classes (the ones ``$DAGSTER_HOME/dagster.yaml`` names: SQLite by default, PostgreSQL when
configured), so it starts in a fraction of a second instead of re-importing Dagster, SQLAlchemy, DuckDB, Polars and
the project. The imported objects are frozen out of the garbage collector (``gc_tuning``).

Nothing here may raise: the fork server ignores an ImportError in a preload module but dies on any other exception,
and then every step would fail with a broken-pipe error instead of the real one. If warming fails, steps simply
start cold and meet the same problem themselves, where Dagster reports it properly.
"""

import importlib
import os

from healthcare_assets.gc_tuning import imports_without_gc
from healthcare_assets.stores import POSTGRES_URL_ENV

# What DagsterInstance.from_ref and its schema check import lazily, whatever the storage.
_INSTANCE_MODULES = (
    "sqlalchemy",
    "alembic.command",
    "alembic.config",
    "alembic.script",
    "alembic.runtime.environment",
    "alembic.runtime.migration",
    "dagster._core.storage.sql",
)


def configured_dagster_home() -> str | None:
    """``$DAGSTER_HOME`` when it holds a ``dagster.yaml`` (on a first run the CLI may not have written it yet)."""
    home = os.environ.get("DAGSTER_HOME")
    return home if home and os.path.isfile(os.path.join(home, "dagster.yaml")) else None


def _import_instance_storage() -> None:
    from dagster._core.instance.ref import InstanceRef
    from dagster._serdes.config_class import ConfigurableClassData

    modules = list(_INSTANCE_MODULES)
    if os.environ.get(POSTGRES_URL_ENV):  # the dagster.yaml may not be written yet on a first run
        modules.append("dagster_postgres")
    home = configured_dagster_home()
    if home:
        ref = InstanceRef.from_dir(home)  # reads dagster.yaml; creates nothing
        modules += [v.module_name for v in ref._asdict().values() if isinstance(v, ConfigurableClassData)]
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            continue


with imports_without_gc():
    try:
        from healthcare_assets.definitions import defs
        from healthcare_assets.defs import launcher  # noqa: F401  (the CLI's reconstructable job lives there)
        from healthcare_assets.defs.jobs import BATCH_PIPELINE

        defs.resolve_job_def(BATCH_PIPELINE)
        _import_instance_storage()
    except Exception:  # noqa: BLE001 - see the module docstring
        pass
