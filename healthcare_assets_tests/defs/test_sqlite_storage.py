"""The instance's pooled SQLite storage: same files and answers as Dagster's own, engines reused, bounded, and
never carried across a fork."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance, asset, materialize
from dagster._core.instance.ref import InstanceRef
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

from healthcare_assets.defs import sqlite_storage
from healthcare_assets.defs.instance import DAGSTER_YAML
from healthcare_assets.defs.sqlite_storage import EngineCache, PooledSqliteEventLogStorage, PooledSqliteRunStorage


@asset
def numbers() -> list[int]:
    return [1, 2, 3]


@asset
def total(numbers: list[int]) -> int:
    return sum(numbers)


@pytest.fixture
def dagster_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text(DAGSTER_YAML)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


def test_the_generated_instance_uses_the_pooled_storage_in_dagsters_file_layout(dagster_home: Path) -> None:
    with DagsterInstance.get() as instance:
        assert isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)
        assert isinstance(instance.run_storage, PooledSqliteRunStorage)
        result = materialize([numbers, total], instance=instance)
        assert result.success
        assert instance.get_latest_materialization_event(AssetKey("total")) is not None
        assert len(instance.event_log_storage._run_engines) == 1  # noqa: SLF001  (one run shard, reused)
    assert (dagster_home / "history" / "runs.db").exists()
    assert (dagster_home / "history" / "runs" / "index.db").exists()
    assert (dagster_home / "history" / "runs" / f"{result.run_id}.db").exists()
    assert (dagster_home / "schedules" / "schedules.db").exists()


def test_an_instance_written_with_pooling_reads_the_same_with_dagsters_own_storage(dagster_home: Path) -> None:
    with DagsterInstance.get() as instance:
        run_id = materialize([numbers, total], instance=instance).run_id
        pooled_events = [e.dagster_event_type for e in instance.all_logs(run_id)]
    plain = DagsterInstance.from_ref(
        InstanceRef.from_dir(str(dagster_home), overrides={"storage": {"sqlite": {"base_dir": str(dagster_home)}}})
    )
    with plain:
        assert type(plain.event_log_storage) is SqliteEventLogStorage
        assert [e.dagster_event_type for e in plain.all_logs(run_id)] == pooled_events
        assert plain.get_run_by_id(run_id).is_success
        second = materialize([numbers, total], instance=plain)
    with DagsterInstance.get() as instance:
        assert instance.get_latest_materialization_event(AssetKey("total")).run_id == second.run_id


def test_commits_skip_the_fsync_in_wal_mode(dagster_home: Path) -> None:
    with DagsterInstance.get() as instance:
        materialize([numbers], instance=instance)
        with instance.event_log_storage.index_connection() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL


def test_run_shard_engines_are_bounded_and_wipe_closes_them_first(dagster_home: Path) -> None:
    with DagsterInstance.get() as instance:
        storage = instance.event_log_storage
        storage._run_engines = EngineCache(limit=2)  # noqa: SLF001  (RUN_SHARD_ENGINES, made small)
        run_ids = [materialize([numbers], instance=instance).run_id for _ in range(4)]
        assert len(storage._run_engines) == 2  # noqa: SLF001
        assert all(len(instance.all_logs(run_id)) > 0 for run_id in run_ids)  # evicted shards reopen
        instance.wipe()
        assert len(storage._run_engines) == 0  # noqa: SLF001
        assert not list((dagster_home / "history" / "runs").glob(f"{run_ids[0]}.db"))
        assert materialize([numbers], instance=instance).success  # usable after a wipe


def test_a_forked_child_opens_its_own_connections(dagster_home: Path) -> None:
    with DagsterInstance.get() as instance:
        materialize([numbers], instance=instance)
        storage = instance.event_log_storage
        parent_engine = storage._index_engines.get("index", lambda: None)  # noqa: SLF001
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: reuse nothing of the parent's, but work
            try:
                child_engine = storage._index_engines.get(  # noqa: SLF001
                    "index", lambda: sqlite_storage._engine(storage.conn_string_for_shard("index"))
                )
                ok = child_engine is not parent_engine and len(instance.get_run_records()) == 1
                os.write(write, b"1" if ok else b"0")
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        assert os.read(read, 1) == b"1"
        assert storage._index_engines.get("index", lambda: None) is parent_engine  # noqa: SLF001
        assert len(instance.get_run_records()) == 1


def test_the_files_stay_plain_sqlite(dagster_home: Path) -> None:
    with DagsterInstance.get() as instance:
        run_id = materialize([numbers], instance=instance).run_id
    with sqlite3.connect(dagster_home / "history" / "runs.db") as conn:
        assert conn.execute("select count(*) from runs where run_id = ?", (run_id,)).fetchone() == (1,)


def test_the_schema_check_answers_as_dagsters_own_with_the_head_resolved_once(dagster_home: Path) -> None:
    import dagster._core.storage.event_log.sqlite.sqlite_event_log as event_log_module
    import dagster._core.storage.runs.sqlite.sqlite_run_storage as run_module
    from dagster._core.storage import sql

    with DagsterInstance.get() as instance:
        materialize([numbers], instance=instance)
        config = sql.get_alembic_config(run_module.__file__)
        for connect in (instance.run_storage.connect, instance.event_log_storage.index_connection):
            with connect() as conn:
                assert sqlite_storage.check_alembic_revision(config, conn) == sql.check_alembic_revision(config, conn)
    assert event_log_module.check_alembic_revision is sqlite_storage.check_alembic_revision
    assert sql.check_alembic_revision is not sqlite_storage.check_alembic_revision  # PostgreSQL's stays Dagster's
    assert sqlite_storage.head_revision.cache_info().currsize == 1
