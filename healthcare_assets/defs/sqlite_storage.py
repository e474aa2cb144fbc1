"""The embedded Dagster instance's SQLite storage, with its database connections kept open.

Dagster's SQLite storages build a new SQLAlchemy engine, open a new connection and throw both away for every
statement batch: every event of a run (and an asset event writes twice, to the run's file and to the index)
pays for an engine, a connection and SQLAlchemy's first-connect dialect set-up. Measured on the Synthea sample's
``healthcare-assets run`` (163 events): 6.6 ms per event, 1.1 s of the run; with these subclasses 1.9 ms, 0.3 s.
They keep one engine per database file, with SQLAlchemy's default pool for file SQLite (QueuePool: connections
shared across threads, safe with the storage's own locking), so the files, their layout and every other behaviour
stay Dagster's own: an instance written by either reads with the other.

Every process that opens the instance (the CLI, each forked step) also checked the files' schema version against
the head of Dagster's migration scripts by loading all of them (about 30 ms a check, two to three a process):
the head is resolved once per process here (``head_revision``), and the step fork server resolves it before it
forks (healthcare_assets/defs/step_preload.py).

Engines belong to the process that made them: after a fork the child starts with none (the parent's open
connections are set aside, never used or closed in the child). Run-sharded event files are many; only the most
recently used ones keep an engine (``RUN_SHARD_ENGINES``). Selected in the generated ``dagster.yaml``
(healthcare_assets/defs/instance.py) as ``storage: custom``.
"""

from __future__ import annotations

import functools
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import dagster._core.storage.event_log.sqlite.sqlite_event_log as _dagster_event_log
import dagster._core.storage.runs.sqlite.sqlite_run_storage as _dagster_run_storage
import dagster._core.storage.schedules.sqlite.sqlite_schedule_storage as _dagster_schedule_storage
from alembic.config import Config
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SqliteEventLogStorage,
)
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from dagster._core.storage.schedules.sqlite.sqlite_schedule_storage import SqliteScheduleStorage
from dagster._core.storage.sql import _alembic_lock, create_engine
from dagster._core.storage.sqlite_storage import (
    DagsterSqliteStorage,
    _event_logs_directory,
    _runs_directory,
    _schedule_directory,
)
from dagster._serdes import ConfigurableClassData
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

RUN_SHARD_ENGINES = 8
"""Run-sharded event-log files that keep an open engine at once (the index file always does)."""

_SET_ASIDE: list[Engine] = []
"""A forked child's inherited engines: kept referenced so that garbage collection never touches their connections."""


@functools.cache
def head_revision(script_location: str) -> str | None:
    """The newest revision among Dagster's migration scripts at ``script_location`` (fixed for an installation)."""
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", script_location)
    return ScriptDirectory.from_config(config).as_revision_number("head")


def check_alembic_revision(alembic_config: Config, conn: Connection) -> tuple[str | None, str | None]:
    """``dagster._core.storage.sql.check_alembic_revision`` with the head revision resolved once per process."""
    from alembic.runtime.migration import MigrationContext

    with _alembic_lock:
        db_revision = MigrationContext.configure(conn).get_current_revision()
    return db_revision, head_revision(str(alembic_config.get_main_option("script_location")))


# Dagster's SQLite storage modules imported the function by name: these three, and nothing else, use this one.
for _module in (_dagster_event_log, _dagster_run_storage, _dagster_schedule_storage):
    _module.check_alembic_revision = check_alembic_revision  # type: ignore[attr-defined]


class EngineCache:
    """Engines by key for the current process, least recently used dropped past ``limit`` (None: no limit)."""

    def __init__(self, limit: int | None = None) -> None:
        self._limit = limit
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._pid = os.getpid()
        self._lock = threading.Lock()

    def get(self, key: str, make: Callable[[], Engine]) -> Engine:
        """The engine for ``key``, made on first use in this process."""
        with self._lock:
            self._forget_if_forked()
            engine = self._engines.get(key)
            if engine is not None:
                self._engines.move_to_end(key)
                return engine
            engine = make()
            self._engines[key] = engine
            while self._limit is not None and len(self._engines) > self._limit:
                _, oldest = self._engines.popitem(last=False)
                oldest.dispose()
            return engine

    def dispose(self) -> None:
        """Close every engine of this process (before files are removed, and when the storage is disposed)."""
        with self._lock:
            self._forget_if_forked()
            while self._engines:
                _, engine = self._engines.popitem()
                engine.dispose()

    def _forget_if_forked(self) -> None:
        if self._pid != os.getpid():
            _SET_ASIDE.extend(self._engines.values())
            self._engines = OrderedDict()
            self._pid = os.getpid()

    def __len__(self) -> int:
        return len(self._engines)


def _engine(conn_string: str, **kwargs: Any) -> Engine:
    # SQLAlchemy 2's default for a SQLite file is a QueuePool with check_same_thread off: connections are reused
    # by whichever thread checks one out, one thread at a time.
    engine = create_engine(conn_string, **kwargs)
    event.listen(engine, "connect", _wal_commits_without_fsync)
    return engine


def _wal_commits_without_fsync(dbapi_connection: Any, _record: Any) -> None:
    """``synchronous=NORMAL``: Dagster puts every one of these files in WAL mode, where NORMAL keeps the database
    consistent and survives a crash of the process; only a power cut can lose the last commits, never corrupt the
    file. It saves the fsync of every event (the project's own audit ledger syncs its records itself)."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """Dagster's run-sharded SQLite event log, reusing one engine per shard file."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        self._index_engines = EngineCache()
        self._run_engines = EngineCache(limit=RUN_SHARD_ENGINES)
        super().__init__(base_dir, inst_data=inst_data)

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:
            cache = self._index_engines if shard == INDEX_SHARD_NAME else self._run_engines
            engine = cache.get(
                shard,
                lambda: _engine(
                    self.conn_string_for_shard(shard), connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS}
                ),
            )
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def wipe(self) -> None:
        self._dispose_engines()
        super().wipe()

    def upgrade(self) -> None:
        self._dispose_engines()
        super().upgrade()

    def dispose(self) -> None:
        super().dispose()
        self._dispose_engines()

    def _dispose_engines(self) -> None:
        with self._db_lock:
            self._run_engines.dispose()
            self._index_engines.dispose()


class _OneEngine:
    """For a storage with one database file: ``connect()`` on one engine for ``self._conn_string``, kept open."""

    _conn_string: str

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._engines = EngineCache()
        super().__init__(*args, **kwargs)

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        engine = self._engines.get("engine", lambda: _engine(self._conn_string))
        with engine.connect() as conn, conn.begin():
            yield conn

    def dispose(self) -> None:
        super().dispose()  # type: ignore[misc]
        self._engines.dispose()


class PooledSqliteRunStorage(_OneEngine, SqliteRunStorage):
    """Dagster's SQLite run storage (runs, their tags and status), reusing one engine."""


class PooledSqliteScheduleStorage(_OneEngine, SqliteScheduleStorage):
    """Dagster's SQLite schedule storage (schedule and sensor ticks), reusing one engine."""


class PooledSqliteStorage(DagsterSqliteStorage):
    """``DagsterSqliteStorage`` (same files under ``base_dir``) built from the pooled storages above."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        self.base_dir = base_dir
        self._run_storage = PooledSqliteRunStorage.from_local(_runs_directory(base_dir))
        self._event_log_storage = PooledSqliteEventLogStorage(_event_logs_directory(base_dir))
        self._schedule_storage = PooledSqliteScheduleStorage.from_local(_schedule_directory(base_dir))
        self._inst_data = inst_data
        super(DagsterSqliteStorage, self).__init__()

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData, config_value: Any) -> PooledSqliteStorage:  # type: ignore[override]
        return cls.from_local(inst_data=inst_data, **config_value)
