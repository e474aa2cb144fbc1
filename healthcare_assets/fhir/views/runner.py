"""Run a view with DuckDB: compile once, execute lazily as a relation (``.arrow()``, ``.pl()``, ``.fetchall()``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb

from healthcare_assets.fhir.views.compiler import compile_view
from healthcare_assets.fhir.views.definition import ViewDefinition, load_view
from healthcare_assets.fhir.views.sources import Source, TableSource
from healthcare_assets.warehouse.duckdb_store import quiet


def run_view(
    view: ViewDefinition | str | Path | dict[str, Any],
    files: Source | str | Path | Sequence[str | Path] | duckdb.DuckDBPyRelation,
    con: duckdb.DuckDBPyConnection | None = None,
) -> duckdb.DuckDBPyRelation:
    """The view's rows over ``files`` (NDJSON path(s), a Bulk Data folder, a table name, a Source, or a relation
    with one resource per row in a JSON column named ``resource``), as a lazy DuckDB relation on ``con``."""
    definition = load_view(view)
    con = con if con is not None else quiet(duckdb.connect(":memory:"))
    if isinstance(files, duckdb.DuckDBPyRelation):
        name = f"_view_source_{abs(hash(files)) % 10**12}"
        files.create_view(name, replace=True)
        files = TableSource(name)
    return con.sql(compile_view(definition, files))
