"""The Dagster instance the CLI, the UI and the tests share: ``$DAGSTER_HOME`` under the data directory.

Its ``dagster.yaml`` is generated: SQLite files in ``$DAGSTER_HOME`` by default, PostgreSQL when
``HEALTHCARE_ASSETS_POSTGRES_URL`` is set (healthcare_assets/stores.py). A generated file is rewritten when the
setting changes; a file without the generated first line is the operator's own and is never touched.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from healthcare_assets.config import Paths
from healthcare_assets.stores import DAGSTER_POSTGRES_STORAGE, check_reachable, postgres_url

if TYPE_CHECKING:
    from dagster import DagsterInstance

GENERATED = "# Written by healthcare-assets"
_COMMON = """\
# Telemetry is off: nothing here may touch the network.
telemetry:
  enabled: false
# No first-visit prompt in the UI for an e-mail address and a newsletter: auditors browse it, not Dagster's sign-up.
nux:
  enabled: false
# Engine chatter (step workers starting) stays out of the terminal; the event log keeps everything.
python_logs:
  python_log_level: INFO
"""
SQLITE_STORAGE = """\
# Dagster's SQLite files, with their connections kept open (healthcare_assets/defs/sqlite_storage.py).
storage:
  custom:
    module: healthcare_assets.defs.sqlite_storage
    class: PooledSqliteStorage
    config:
      base_dir:
        env: DAGSTER_HOME
"""
DAGSTER_YAML = (
    f"{GENERATED}. Runs, event logs and schedules live in SQLite files in this folder.\n{_COMMON}{SQLITE_STORAGE}"
)
INSTANCE_LOCK = ".instance.lock"


def dagster_yaml() -> str:
    """The generated dagster.yaml for the current environment."""
    if postgres_url() is None:
        return DAGSTER_YAML
    return f"{GENERATED}. Runs, event logs and schedules live in PostgreSQL.\n{_COMMON}{DAGSTER_POSTGRES_STORAGE}"


def dagster_home_path(paths: Paths) -> Path:
    """``$DAGSTER_HOME`` when set, else ``<data dir>/dagster`` (nothing is created)."""
    return Path(os.environ.get("DAGSTER_HOME") or paths.dagster_home).resolve()


def prepare_dagster_home(paths: Paths) -> Path:
    """Use ``$DAGSTER_HOME`` when set, else ``<data dir>/dagster``; make sure its dagster.yaml is current."""
    home = dagster_home_path(paths)
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    wanted = dagster_yaml()
    current = config.read_text() if config.exists() else None
    if current is None or (current.startswith(GENERATED) and current != wanted):
        staged = config.with_name(f".dagster.yaml.{os.getpid()}")
        staged.write_text(wanted)
        staged.replace(config)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


@contextmanager
def open_instance() -> Iterator[DagsterInstance]:
    """``DagsterInstance.get()``, created under an inter-process lock on ``$DAGSTER_HOME/.instance.lock``.

    Creating an instance creates its tables the first time; two first runs at once would both try (SQLite and
    PostgreSQL alike: "table alembic_version already exists"). The lock is held only while the instance is opened.
    """
    from dagster import DagsterInstance

    url = postgres_url()
    if url:
        check_reachable(url)
    home = Path(os.environ["DAGSTER_HOME"])
    with open(home / INSTANCE_LOCK, "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            instance = DagsterInstance.get()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    with instance:
        yield instance
