"""Publishing staged feature tables to the warehouse: one partition (batch) replaced in one transaction.

A table built by a different feature definition has different columns. Its other partitions were computed by
that older definition and are stale, so when the columns change the table is rebuilt from this partition alone,
and the batches whose rows were dropped are reported (re-materialize them); mixing rows of two definitions in one
table would give columns that mean different things in different rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from healthcare_assets.warehouse.duckdb_store import SharedDuckDB, quote_ident, sql_literal, transaction


@dataclass
class Published:
    rows: int
    stale_batches_dropped: list[str] = field(default_factory=list)


def publish_partition(
    warehouse: SharedDuckDB, table: str, parquet: Path | None, key_column: str, key_value: str
) -> Published:
    """Replace ``table``'s rows whose ``key_column`` is ``key_value`` by the rows of ``parquet`` (None: only
    delete them, e.g. when a gate failed)."""
    name, key = quote_ident(table), quote_ident(key_column)
    source = None if parquet is None else f"SELECT * FROM read_parquet({sql_literal(str(parquet))})"
    with warehouse.connect() as con, transaction(con):
        existing = con.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ? "
            "ORDER BY ordinal_position",
            [table],
        ).fetchall()
        dropped: list[str] = []
        if source is None:
            if existing:
                con.execute(f"DELETE FROM {name} WHERE {key} = ?", [key_value])
            return Published(0)
        incoming = [(r[0], r[1]) for r in con.execute(f"DESCRIBE {source}").fetchall()]
        if existing and [(c, t) for c, t in existing] != incoming:
            dropped = [
                r[0]
                for r in con.execute(
                    f"SELECT DISTINCT {key} FROM {name} WHERE {key} <> ? ORDER BY 1", [key_value]
                ).fetchall()
            ]
            con.execute(f"DROP TABLE {name}")
            existing = []
        if not existing:
            con.execute(f"CREATE TABLE {name} AS {source} LIMIT 0")
        con.execute(f"DELETE FROM {name} WHERE {key} = ?", [key_value])
        con.execute(f"INSERT INTO {name} BY NAME {source}")
        rows = con.execute(f"SELECT count(*) FROM {name} WHERE {key} = ?", [key_value]).fetchall()[0][0]
    return Published(int(rows), dropped)
