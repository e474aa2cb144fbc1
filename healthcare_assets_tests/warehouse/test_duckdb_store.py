"""The warehouse is safe to share between processes and never keeps half a write."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import duckdb
import polars as pl
import pytest

from healthcare_assets.warehouse import Warehouse, WarehouseLockTimeout


def _write_partitions(path: str, worker: int) -> None:
    warehouse = Warehouse(Path(path), lock_timeout_s=120)
    for i in range(10):
        frame = pl.DataFrame({"batch_id": [f"w{worker}-{i}"] * 50, "value": list(range(50))})
        warehouse.replace_partition("facts", frame, "batch_id", f"w{worker}-{i}")
        assert warehouse.query("SELECT count(*) FROM facts WHERE batch_id = ?", [f"w{worker}-{i}"])[0][0] == 50


def test_many_processes_write_and_read_one_file(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    context = multiprocessing.get_context("spawn")
    procs = [context.Process(target=_write_partitions, args=(str(path), w)) for w in range(4)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
        assert proc.exitcode == 0
    warehouse = Warehouse(path)
    assert warehouse.query("SELECT count(*), count(DISTINCT batch_id) FROM facts")[0] == (4 * 10 * 50, 40)


def test_replace_partition_is_atomic(tmp_path: Path) -> None:
    warehouse = Warehouse(tmp_path / "w.duckdb")
    warehouse.replace_partition("t", pl.DataFrame({"batch_id": ["a", "a"], "v": [1, 2]}), "batch_id", "a")
    bad = pl.DataFrame({"batch_id": ["a"], "v": ["not an int"]})  # cannot be inserted into an INTEGER column
    with pytest.raises(duckdb.ConversionException):
        warehouse.replace_partition("t", bad, "batch_id", "a")
    assert warehouse.query("SELECT v FROM t ORDER BY v") == [(1,), (2,)]


def test_replace_partition_frames_writes_all_tables_or_none(tmp_path: Path) -> None:
    warehouse = Warehouse(tmp_path / "w.duckdb")
    first = {"t": pl.DataFrame({"batch_id": ["a"], "v": [1]}), "u": pl.DataFrame({"batch_id": ["a"], "w": [10]})}
    assert warehouse.replace_partition_frames(first, "batch_id", "a") == {"t": 1, "u": 1}
    again = {
        "t": pl.DataFrame({"batch_id": ["a", "a"], "v": [2, 3]}),
        "u": pl.DataFrame({"batch_id": ["a"], "w": ["not an int"]}),  # fails after t's rows were replaced
    }
    with pytest.raises(duckdb.ConversionException):
        warehouse.replace_partition_frames(again, "batch_id", "a")
    assert warehouse.query("SELECT v FROM t") == [(1,)]
    assert warehouse.query("SELECT w FROM u") == [(10,)]
    second = {"t": pl.DataFrame({"batch_id": ["b"], "v": [4]}), "u": pl.DataFrame({"batch_id": ["b"], "w": [40]})}
    warehouse.replace_partition_frames(second, "batch_id", "b")
    assert warehouse.query("SELECT batch_id, v FROM t ORDER BY 1") == [("a", 1), ("b", 4)]


def test_a_new_column_is_added_to_an_existing_table(tmp_path: Path) -> None:
    """A warehouse written by an older release gains the columns a newer one publishes (older rows: NULL)."""
    warehouse = Warehouse(tmp_path / "w.duckdb")
    warehouse.replace_partition("t", pl.DataFrame({"batch_id": ["a"], "v": [1]}), "batch_id", "a")
    warehouse.replace_partition("t", pl.DataFrame({"batch_id": ["b"], "v": [2], "w": [3]}), "batch_id", "b")
    assert warehouse.query("SELECT batch_id, v, w FROM t ORDER BY 1") == [("a", 1, None), ("b", 2, 3)]


def test_lock_timeout_is_clear(tmp_path: Path) -> None:
    holder = Warehouse(tmp_path / "w.duckdb")
    waiter = Warehouse(tmp_path / "w.duckdb", lock_timeout_s=0.2)
    with holder.connect():
        with pytest.raises(WarehouseLockTimeout, match="warehouse lock"):
            with waiter.connect():
                pass


def test_reader_of_missing_warehouse_sees_empty(tmp_path: Path) -> None:
    warehouse = Warehouse(tmp_path / "absent.duckdb")
    assert not warehouse.table_exists("anything")
    assert not (tmp_path / "absent.duckdb").exists()
