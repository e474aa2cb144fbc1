"""Build the cohort and features from a hand-made ``World`` and read the results by stay."""

from __future__ import annotations

import duckdb

from healthcare_assets.features import FeatureSpec, build_features
from healthcare_assets_tests.features.world import World


def build(world: World, spec: FeatureSpec | None = None, batch_order=None) -> duckdb.DuckDBPyConnection:
    con = world.connection()
    build_features(con, spec or FeatureSpec(), batch_order=batch_order)
    return con


def rows(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, dict]:
    """Rows of ``_fx_matrix`` or ``_fx_cohort`` keyed by stay_id."""
    frame = con.sql(f"SELECT * FROM {table}").pl()
    return {row["stay_id"]: row for row in frame.iter_rows(named=True)}
