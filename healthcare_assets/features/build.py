"""The feature stage as one plain function over any DuckDB connection holding ``deidentified_*``-shaped tables.

``build_features(con)`` is what the assets, the leakage gate, the benchmark and (later) the serving API call:
the warehouse attached read-only, or an in-memory connection holding one patient's de-identified Bundle, go
through the very same SQL, so training and serving features cannot drift apart. Results are temp tables of
``con``: ``_fx_cohort`` (every inpatient stay, its exclusion and label) and ``_fx_matrix`` (one row per index
stay, the dictionary's columns).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import duckdb

from healthcare_assets.features.cohort import build_cohort
from healthcare_assets.features.current import load_current
from healthcare_assets.features.matrix import build_matrix
from healthcare_assets.features.spec import CohortSpec, FeatureSpec

COHORT_TABLE = "_fx_cohort"
MATRIX_TABLE = "_fx_matrix"


@dataclass
class FeatureBuild:
    spec: FeatureSpec
    source_rows: dict[str, int]
    dropped_values: dict[str, dict[str, int]]  # measurement -> reason -> observation values not used
    timings: dict[str, float] = field(default_factory=dict)


COHORT_SOURCES = ("patient", "encounter")  # all the cohort reads


def load_sources(
    con: duckdb.DuckDBPyConnection,
    source: str | None = None,
    batch_order: Sequence[str] | None = None,
    tables: Sequence[str] | None = None,
) -> dict[str, int]:
    """Copy the current de-identified rows the features read into ``con`` (``source``: the database holding the
    ``deidentified_*`` tables, default the connection's own; ``tables``: only these, e.g. ``COHORT_SOURCES``)."""
    source = source or con.execute("SELECT current_database()").fetchall()[0][0]
    return load_current(con, source, batch_order, tables)


def compute_cohort(con: duckdb.DuckDBPyConnection, spec: CohortSpec) -> float:
    """``_fx_cohort`` alone (needs only ``COHORT_SOURCES`` loaded); returns seconds taken."""
    tick = time.perf_counter()
    build_cohort(con, spec)
    return time.perf_counter() - tick


def compute_features(con: duckdb.DuckDBPyConnection, spec: FeatureSpec, source_rows: dict[str, int]) -> FeatureBuild:
    """Cohort and matrix from the loaded sources (no lock needed: only temp tables are read)."""
    timings = {}
    tick = time.perf_counter()
    build_cohort(con, spec.cohort)
    timings["cohort"] = time.perf_counter() - tick
    tick = time.perf_counter()
    dropped = build_matrix(con, spec)
    timings["features"] = time.perf_counter() - tick
    return FeatureBuild(spec, source_rows, dropped, timings)


def build_features(
    con: duckdb.DuckDBPyConnection,
    spec: FeatureSpec | None = None,
    *,
    source: str | None = None,
    batch_order: Sequence[str] | None = None,
) -> FeatureBuild:
    """Load the current de-identified rows and compute the cohort and the feature matrix in ``con``."""
    spec = spec or FeatureSpec()
    tick = time.perf_counter()
    rows = load_sources(con, source, batch_order)
    loaded = time.perf_counter() - tick
    result = compute_features(con, spec, rows)
    result.timings = {"load": loaded, **result.timings}
    return result
