"""A DuckDB file shared safely by many processes.

DuckDB allows one read-write process per database file, and Dagster's multiprocess executor runs every step in
its own process. So nobody holds a connection open: each use opens the file inside ``Warehouse.connect()``,
which first takes an inter-process ``flock`` on a sibling lock file (exclusive for writers, shared for readers)
and waits, with a timeout, for other holders. Heavy work belongs outside the lock (in-memory DuckDB writing
Parquet); the lock is held only to load or read results. Table replacement happens in one transaction, so a
crash never leaves a half-written table behind.
"""

from __future__ import annotations

import fcntl
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# DuckDB draws a progress bar on stdout for queries over 2 s, terminal or not: in a run's log, the Dagster
# compute logs and CI output it is noise (the CLI shows its own progress). Every connection the project opens
# goes through quiet() (a connect-time config cannot set it: DuckDB takes it only as a session setting).


def quiet(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """``con`` without DuckDB's stdout progress bar."""
    con.execute("SET enable_progress_bar = false")
    return con


class WarehouseLockTimeout(TimeoutError):
    """Another process held the warehouse for longer than the configured timeout."""


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """Everything in the block commits together, or is rolled back if the block raises."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def sql_literal(value: object) -> str:
    """A value (a path, a code, a policy version) as an SQL string literal; None is NULL."""
    if value is None:
        return "NULL"
    return "'" + str(value).replace("'", "''") + "'"


def sql_name(name: str) -> str:
    """Any column name, quoted (FHIR element names are plain identifiers, but nothing assumes it)."""
    return '"' + name.replace('"', '""') + '"'


def quote_ident(name: str) -> str:
    """Quote a table or column name, refusing anything that is not a plain identifier."""
    if not _IDENT.match(name):
        raise ValueError(f"not a valid table or column name: {name!r}")
    return f'"{name}"'


class SharedDuckDB:
    """One DuckDB database file plus its lock file (the warehouse; in the PHI zone, the pseudonym codebook)."""

    def __init__(self, path: Path, lock_timeout_s: float = 600.0, memory_limit: str | None = None):
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.lock_timeout_s = lock_timeout_s
        self.memory_limit = memory_limit

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection held under the inter-process lock for as long as the ``with`` block lasts."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        mode = fcntl.LOCK_SH if read_only else fcntl.LOCK_EX
        with open(self.lock_path, "a+b") as lock:
            self._acquire(lock, mode)
            try:
                if read_only and not self.path.exists():
                    # A reader of a warehouse nobody has written yet sees an empty database.
                    con = quiet(duckdb.connect(":memory:"))
                else:
                    con = quiet(duckdb.connect(str(self.path), read_only=read_only))
                try:
                    if self.memory_limit:
                        con.execute(f"SET memory_limit = '{self.memory_limit}'")
                    yield con
                finally:
                    con.close()
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    @contextmanager
    def attached(self, con: duckdb.DuckDBPyConnection, alias: str, read_only: bool = False) -> Iterator[str]:
        """ATTACH this file to another (working) connection for one block, under the exclusive lock (the shared
        one when ``read_only``: a file nobody has written yet is then an empty in-memory database)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a+b") as lock:
            self._acquire(lock, fcntl.LOCK_SH if read_only else fcntl.LOCK_EX)
            try:
                if read_only and not self.path.exists():
                    con.execute(f"ATTACH ':memory:' AS {quote_ident(alias)}")
                elif read_only:
                    con.execute(f"ATTACH ? AS {quote_ident(alias)} (READ_ONLY)", [str(self.path)])
                else:
                    con.execute(f"ATTACH ? AS {quote_ident(alias)}", [str(self.path)])
                try:
                    yield alias
                finally:
                    con.execute(f"DETACH {quote_ident(alias)}")
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _acquire(self, lock: Any, mode: int) -> None:
        deadline = time.monotonic() + self.lock_timeout_s
        delay = 0.01
        while True:
            try:
                fcntl.flock(lock, mode | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise WarehouseLockTimeout(
                        f"waited {self.lock_timeout_s:.0f} s for the warehouse lock {self.lock_path}"
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.5)

    def replace_rows(
        self, table: str, source_sql: str, key_column: str, key_value: str, params: Sequence[Any] = ()
    ) -> int:
        """Replace the rows of ``table`` whose ``key_column`` equals ``key_value`` (one partition) atomically.

        ``source_sql`` is a SELECT (typically over a Parquet file written outside the lock); the table is
        created from its shape on first use. Returns the number of rows written.
        """
        name, key = quote_ident(table), quote_ident(key_column)
        with self.connect() as con:
            with transaction(con):
                con.execute(f"CREATE TABLE IF NOT EXISTS {name} AS SELECT * FROM ({source_sql}) LIMIT 0", params)
                con.execute(f"DELETE FROM {name} WHERE {key} = ?", [key_value])
                con.execute(f"INSERT INTO {name} BY NAME SELECT * FROM ({source_sql})", params)
                written = con.execute(f"SELECT count(*) FROM {name} WHERE {key} = ?", [key_value]).fetchall()[0]
        return int(written[0]) if written else 0

    def replace_partitions(
        self,
        sources: dict[str, str | None],
        key_column: str,
        key_value: str,
        then: Callable[[duckdb.DuckDBPyConnection], Any] | None = None,
    ) -> dict[str, int]:
        """Replace one partition of several tables in ONE transaction: all are published, or none.

        ``sources`` maps table -> SELECT producing its rows (typically ``read_parquet`` of a staged file), or
        None to only delete the partition's rows (a table whose output was withheld). ``then`` runs last, in the
        same transaction (for example applying a batch's tombstones).
        """
        key = quote_ident(key_column)
        written: dict[str, int] = {}
        with self.connect() as con:
            with transaction(con):
                for table, source_sql in sources.items():
                    name = quote_ident(table)
                    if source_sql is None:
                        exists = con.execute(
                            "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [table]
                        ).fetchall()[0][0]
                        if exists:
                            con.execute(f"DELETE FROM {name} WHERE {key} = ?", [key_value])
                        written[table] = 0
                        continue
                    _replace_key_rows(con, table, f"({source_sql})", key_column, key_value)
                    written[table] = con.execute(
                        f"SELECT count(*) FROM {name} WHERE {key} = ?", [key_value]
                    ).fetchall()[0][0]
                if then is not None:
                    then(con)
        return written

    def replace_partition(self, table: str, frame: Any, key_column: str, key_value: str) -> int:
        """Replace one partition's rows with a small in-memory frame (polars/pandas/arrow), atomically."""
        return self.replace_partition_frames({table: frame}, key_column, key_value)[table]

    def replace_partition_frames(self, frames: dict[str, Any], key_column: str, key_value: str) -> dict[str, int]:
        """Replace one partition of several tables with small in-memory frames in ONE transaction and one
        connection: all are written, or none (each connection costs an open and a checkpoint of the file)."""
        incoming = {table: f"_incoming_{i}" for i, table in enumerate(frames)}
        with self.connect() as con:
            for table, frame in frames.items():
                con.register(incoming[table], frame)
            try:
                with transaction(con):
                    for table, source in incoming.items():
                        _replace_key_rows(con, table, source, key_column, key_value)
            finally:  # after the transaction ended (an aborted one refuses every statement, this one too)
                for source in incoming.values():
                    con.unregister(source)
        return {table: len(frame) for table, frame in frames.items()}

    def delete_key_everywhere(self, key_column: str, key_value: str) -> dict[str, int]:
        """Delete the rows whose ``key_column`` equals ``key_value`` from every table that has that column, in
        one transaction (a removed export batch leaves no row anywhere); returns rows deleted per table."""
        if not self.path.exists():
            return {}
        deleted: dict[str, int] = {}
        with self.connect() as con:
            tables = [
                row[0]
                for row in con.execute(
                    """SELECT table_name FROM information_schema.columns
                       WHERE column_name = ? AND table_schema = 'main'
                         AND table_name IN (SELECT table_name FROM information_schema.tables
                                            WHERE table_type = 'BASE TABLE')
                       ORDER BY 1""",
                    [key_column],
                ).fetchall()
            ]
            key = quote_ident(key_column)
            with transaction(con):
                for table in tables:
                    name = quote_ident(table)
                    count = con.execute(f"SELECT count(*) FROM {name} WHERE {key} = ?", [key_value]).fetchall()[0][0]
                    if count:
                        con.execute(f"DELETE FROM {name} WHERE {key} = ?", [key_value])
                    deleted[table] = int(count)
        return deleted

    def count_by_key(self, key_column: str) -> dict[str, int]:
        """Rows per value of ``key_column`` summed over every table that has it (for listing batches)."""
        if not self.path.exists():
            return {}
        with self.connect(read_only=True) as con:
            tables = [
                row[0]
                for row in con.execute(
                    """SELECT table_name FROM information_schema.columns
                       WHERE column_name = ? AND table_schema = 'main'
                         AND table_name IN (SELECT table_name FROM information_schema.tables
                                            WHERE table_type = 'BASE TABLE')""",
                    [key_column],
                ).fetchall()
            ]
            if not tables:
                return {}
            key = quote_ident(key_column)
            union = " UNION ALL ".join(
                f"SELECT {key} AS k, count(*) AS n FROM {quote_ident(t)} GROUP BY 1" for t in tables
            )
            return {str(k): int(n) for k, n in con.execute(f"SELECT k, sum(n) FROM ({union}) GROUP BY 1").fetchall()}

    def replace_table(self, table: str, source_sql: str, params: Sequence[Any] = ()) -> int:
        """Replace a whole table in one transaction; returns its row count."""
        name = quote_ident(table)
        with self.connect() as con:
            with transaction(con):
                con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM ({source_sql})", params)
                count = con.execute(f"SELECT count(*) FROM {name}").fetchall()[0]
        return int(count[0]) if count else 0

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.connect(read_only=True) as con:
            return con.execute(sql, params).fetchall()

    def table_exists(self, table: str) -> bool:
        rows = self.query("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [table])
        return bool(rows and rows[0][0])


# The de-identified zone's warehouse is the main shared file; the name says what it is for.
Warehouse = SharedDuckDB


# Columns a release stopped publishing because they disclosed too much; dropped (every batch's values) the next
# time their table is written. data_end_offset_h and followup_end_offset_h: hours from a patient's anchor to the end
# of the batch's data, which, with the export time in the batch id, gave the anchor and so every date back.
RETIRED_COLUMNS = {
    "deidentified_patient": ("data_end_offset_h",),
    "readmission_cohort": ("followup_end_offset_h",),
}


def _replace_key_rows(con: duckdb.DuckDBPyConnection, table: str, source: str, key_column: str, key_value: str) -> None:
    """Inside the caller's transaction: ``table`` created in ``source``'s shape if missing (else brought up to it,
    ``_add_missing_columns``), then its rows whose ``key_column`` is ``key_value`` replaced by ``source``'s rows.
    ``source`` is a relation name or a parenthesised SELECT."""
    name, key = quote_ident(table), quote_ident(key_column)
    con.execute(f"CREATE TABLE IF NOT EXISTS {name} AS SELECT * FROM {source} LIMIT 0")
    _add_missing_columns(con, table, source)
    con.execute(f"DELETE FROM {name} WHERE {key} = ?", [key_value])
    con.execute(f"INSERT INTO {name} BY NAME SELECT * FROM {source}")


def _add_missing_columns(con: duckdb.DuckDBPyConnection, table: str, incoming: str) -> None:
    """A newer release may add a column to a table (NULL for older rows) or retire one (dropped, all rows)."""
    for column in RETIRED_COLUMNS.get(table, ()):
        con.execute(f"ALTER TABLE {quote_ident(table)} DROP COLUMN IF EXISTS {quote_ident(column)}")
    have = {row[0] for row in con.execute(f"DESCRIBE {quote_ident(table)}").fetchall()}
    for column, kind, *_ in con.execute(f"DESCRIBE SELECT * FROM {incoming}").fetchall():
        if column not in have:
            con.execute(f"ALTER TABLE {quote_ident(table)} ADD COLUMN {quote_ident(column)} {kind}")
