"""Readers that attach the warehouse read-only share the lock with other readers and keep writers out; a
partition published by a newer release with an extra column lands in an older table."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from healthcare_assets.warehouse import Warehouse, WarehouseLockTimeout


def test_read_only_attach_shares_the_lock_with_readers_not_writers(tmp_path: Path) -> None:
    warehouse = Warehouse(tmp_path / "w.duckdb")
    warehouse.replace_table("t", "SELECT 1 AS v")
    con = duckdb.connect()
    with warehouse.attached(con, "wh", read_only=True):
        assert con.execute("SELECT v FROM wh.t").fetchall() == [(1,)]
        assert Warehouse(tmp_path / "w.duckdb", lock_timeout_s=0.2).query("SELECT v FROM t") == [(1,)]
        with pytest.raises(WarehouseLockTimeout):
            Warehouse(tmp_path / "w.duckdb", lock_timeout_s=0.2).replace_table("t", "SELECT 2 AS v")
        with pytest.raises(duckdb.Error):
            con.execute("INSERT INTO wh.t VALUES (3)")
    fresh = duckdb.connect()
    with Warehouse(tmp_path / "never-written.duckdb").attached(fresh, "wh", read_only=True):
        assert fresh.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = 'wh'").fetchall() == [(0,)]


def test_replace_partitions_adds_a_column_a_newer_release_publishes(tmp_path: Path) -> None:
    warehouse = Warehouse(tmp_path / "w.duckdb")
    warehouse.replace_partitions({"p": "SELECT 'a' AS batch_id, 1 AS v"}, "batch_id", "a")
    warehouse.replace_partitions({"p": "SELECT 'b' AS batch_id, 2 AS v, true AS flag"}, "batch_id", "b")
    assert warehouse.query("SELECT batch_id, v, flag FROM p ORDER BY 1") == [("a", 1, None), ("b", 2, True)]


def test_a_retired_column_is_dropped_from_every_batch_on_the_next_write(tmp_path: Path) -> None:
    """deidentified_patient.data_end_offset_h (hours from the anchor to the export: the anchor, so the dates, back)
    published by an older release does not survive the next batch."""
    warehouse = Warehouse(tmp_path / "w.duckdb")
    table = "deidentified_patient"
    warehouse.replace_partitions({table: "SELECT 'a' AS batch_id, 1 AS v, 9.5 AS data_end_offset_h"}, "batch_id", "a")
    warehouse.replace_partitions({table: "SELECT 'b' AS batch_id, 2 AS v"}, "batch_id", "b")
    columns = [
        r[0]
        for r in warehouse.query(f"SELECT column_name FROM information_schema.columns WHERE table_name = '{table}'")
    ]
    assert columns == ["batch_id", "v"]
    assert warehouse.query(f"SELECT batch_id, v FROM {table} ORDER BY 1") == [("a", 1), ("b", 2)]
