"""The leakage gate: features must not change when everything after the index time is removed.

For a seeded sample of index stays (all of them in small batches), each stay's patient history is cut at the
stay's index time, as it stood at discharge: encounters that had not started are gone and those still open lose
their end, observations not yet issued, conditions not yet recorded, orders not yet authored and procedures not
yet performed are gone, a later death is unknown and the data ends at discharge. Every cut history becomes its
own pseudo-patient in a fresh in-memory DuckDB, and the very same ``build_features`` runs on it. Any feature,
comparator or subgroup that differs from the matrix row used something from after discharge. The check does not
trust the feature SQL's own time filters: it only compares outputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import polars as pl

from healthcare_assets.features.build import build_features
from healthcare_assets.features.current import FOLLOWUP_COLUMN
from healthcare_assets.features.dictionary import matrix_columns
from healthcare_assets.features.spec import FeatureSpec
from healthcare_assets.warehouse.duckdb_store import quiet, sql_literal
from healthcare_assets.warehouse.duckdb_store import quote_ident as q

TRUNCATED_BATCH = "leakage-check"
MAX_FAILURES_SHOWN = 50
TOLERANCE = 1e-6


@dataclass
class LeakageResult:
    checked: int
    stays: int
    failures: list[dict[str, object]] = field(default_factory=list)  # stay_id, column, matrix, cut history
    failure_count: int = 0
    verified_before: int = 0  # rows left out of the sample: identical to published rows that passed this gate

    @property
    def passed(self) -> bool:
        return self.failure_count == 0

    def summary(self) -> str:
        if self.passed:
            text = f"{self.checked} of {self.stays} stays recomputed from history cut at discharge: identical"
            if self.verified_before:
                text += (
                    f"; {self.verified_before} more identical to published feature-matrix rows, which passed this "
                    "gate when they were built"
                )
            return text
        stays = len({f["stay_id"] for f in self.failures})
        columns = sorted({str(f["column"]) for f in self.failures})
        return (
            f"{self.failure_count} feature values of {stays}+ stays changed when data after discharge was removed "
            f"(columns: {', '.join(columns[:10])})"
        )


def _cut_tables(con: duckdb.DuckDBPyConnection, sample: str) -> dict[str, str]:
    """SQL per deidentified_* table: each sampled stay's patient history as known at its index time, under the
    pseudo-patient id ``stay_id`` (resource ids prefixed with it, so copies of one resource stay apart)."""
    join = f"FROM {sample} k JOIN"
    pid = "k.stay_id AS patient_id"
    batch = f"{sql_literal(TRUNCATED_BATCH)} AS batch_id"

    def key(column: str, alias: str) -> str:
        return f"k.stay_id || ':' || {alias}.{column}"

    numbered = "k.stay_id || ':' || row_number() OVER ()"  # observation ids are not loaded (nothing reads them)

    return {
        "patient": f"""SELECT {pid}, p.gender,
                   coalesce(p.deceased_datetime_offset_h <= k.index_h, false) AS deceased,
                   CASE WHEN p.deceased_datetime_offset_h <= k.index_h THEN p.deceased_datetime_offset_h END
                       AS deceased_datetime_offset_h, {batch}
            {join} _fx_src_patient p ON p.patient_id = k.pid""",
        "encounter": f"""SELECT {key("encounter_id", "e")} AS encounter_id, {pid},
                   CASE WHEN e.period_end_offset_h > k.index_h THEN 'in-progress' ELSE e.status END AS status,
                   e.class_code, e.type_code, e.period_start_offset_h,
                   CASE WHEN e.period_end_offset_h <= k.index_h THEN e.period_end_offset_h END AS period_end_offset_h,
                   e.admit_source_code,
                   CASE WHEN e.period_end_offset_h <= k.index_h THEN e.discharge_disposition_code END
                       AS discharge_disposition_code,
                   e.age_years, false AS {FOLLOWUP_COLUMN}, {batch}
            {join} _fx_src_encounter e ON e.patient_id = k.pid AND e.period_start_offset_h <= k.index_h""",
        "condition": f"""SELECT {key("condition_id", "c")} AS condition_id, {pid},
                   {key("encounter_id", "c")} AS encounter_id, c.snomed_code, c.icd10cm_code, c.verification_status,
                   c.onset_datetime_offset_h, c.recorded_date_offset_h, {batch}
            {join} _fx_src_condition c ON c.patient_id = k.pid
            LEFT JOIN _fx_src_encounter e ON e.encounter_id = c.encounter_id
            WHERE coalesce(c.recorded_date_offset_h, e.period_start_offset_h, c.onset_datetime_offset_h)
                  <= k.index_h""",
        "observation": f"""SELECT {numbered} AS observation_id, {pid}, o.status, o.code,
                   o.code_system, o.value_quantity, o.value_unit, o.effective_datetime_offset_h,
                   o.effective_period_start_offset_h, o.issued_offset_h, {batch}
            {join} _fx_src_observation o ON o.patient_id = k.pid
            WHERE greatest(coalesce(o.effective_datetime_offset_h, o.effective_period_start_offset_h),
                           o.issued_offset_h) <= k.index_h""",
        "observation_component": f"""SELECT {numbered} AS observation_id, {pid}, o.code,
                   o.code_system, o.value_quantity, o.value_unit, o.effective_datetime_offset_h, {batch}
            {join} _fx_src_observation_component o ON o.patient_id = k.pid
            WHERE o.effective_datetime_offset_h <= k.index_h""",
        "medication_request": f"""SELECT {key("medication_request_id", "m")} AS medication_request_id, {pid},
                   m.status, m.medication_code, m.authored_on_offset_h, {batch}
            {join} _fx_src_medication_request m ON m.patient_id = k.pid
            WHERE m.authored_on_offset_h <= k.index_h""",
        "procedure": f"""SELECT {key("procedure_id", "r")} AS procedure_id, {pid}, r.status, r.code,
                   r.performed_start_offset_h, r.performed_datetime_offset_h, {batch}
            {join} _fx_src_procedure r ON r.patient_id = k.pid
            WHERE coalesce(r.performed_start_offset_h, r.performed_datetime_offset_h) <= k.index_h""",
    }


def compared_columns(spec: FeatureSpec) -> list[str]:
    """What the gate compares: every feature, comparator and subgroup column (not keys, not labels)."""
    return [c.name for c in matrix_columns(spec) if c.role in ("feature", "comparator", "subgroup")]


def verified_rows_sql(con: duckdb.DuckDBPyConnection, spec: FeatureSpec, published: str) -> str | None:
    """SELECT of the ``stay_id`` of ``_fx_matrix`` rows that ``published`` (the warehouse's ``feature_matrix``,
    whose rows each passed this gate in their batch's build) holds for the same stay and batch under the same
    feature spec with every compared value equal (floats within ``TOLERANCE``, as the gate compares). None when
    ``published`` lacks a column the gate compares (an older spec's table)."""
    compared = compared_columns(spec)
    have = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {published}").fetchall()}
    if not {"stay_id", "batch_id", "feature_spec", *compared} <= have:
        return None
    types = dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE _fx_matrix)").fetchall())
    equal = []
    for name in compared:
        a, b = f"m.{q(name)}", f"p.{q(name)}"
        if types[name] in ("DOUBLE", "FLOAT"):
            close = f"abs({a} - {b}) <= {TOLERANCE} * (1 + abs({a}))"
            equal.append(f"(({a} IS NULL) = ({b} IS NULL) AND coalesce({close}, true))")
        else:
            equal.append(f"{a} IS NOT DISTINCT FROM {b}")
    return (
        f"SELECT m.stay_id FROM _fx_matrix m JOIN {published} p ON p.stay_id = m.stay_id AND p.batch_id = m.batch_id "
        f"AND p.feature_spec = {sql_literal(spec.version)} WHERE " + " AND ".join(equal)
    )


def check_leakage(
    con: duckdb.DuckDBPyConnection,
    spec: FeatureSpec,
    sample_size: int = 2000,
    seed: int = 0,
    verified: str | None = None,
) -> LeakageResult:
    """Compare ``_fx_matrix`` (in ``con``, with its ``_fx_src_*`` tables) with features recomputed from each
    sampled stay's history cut at its index time. ``sample_size`` 0 checks every stay.

    ``verified``, a SELECT of stay ids (``verified_rows_sql``), names rows already verified: they are left out of
    the sample and counted in ``verified_before``, so a rebuild checks what changed since."""
    stays = con.execute("SELECT count(*) FROM _fx_matrix").fetchall()[0][0]
    limit = "" if sample_size <= 0 else f"LIMIT {int(sample_size)}"
    skip = f"WHERE m.stay_id NOT IN ({verified})" if verified else ""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _lk_sample AS
        SELECT m.stay_id, px.pid, m.index_offset_h AS index_h FROM _fx_matrix m
        JOIN _fx_pid px ON px.patient_id = m.patient_id {skip}
        ORDER BY md5(m.stay_id || {sql_literal(str(seed))}) {limit}"""
    )
    unchecked = stays
    if verified:
        unchecked = con.execute(f"SELECT count(*) FROM _fx_matrix WHERE stay_id NOT IN ({verified})").fetchall()[0][0]
    checked = con.execute("SELECT count(*) FROM _lk_sample").fetchall()[0][0]
    if not checked:
        return LeakageResult(0, unchecked, verified_before=stays - unchecked)
    compared = compared_columns(spec)
    expected = con.sql(
        f"SELECT stay_id, {', '.join(compared)} FROM _fx_matrix WHERE stay_id IN (SELECT stay_id FROM _lk_sample)"
    ).pl()
    cut = quiet(duckdb.connect(":memory:"))
    try:
        cut.execute("SET threads = 2")
        for table, sql in _cut_tables(con, "_lk_sample").items():
            frame = con.sql(sql).to_arrow_table()  # noqa: F841 (read by the replacement scan below)
            cut.execute(f"CREATE TABLE deidentified_{table} AS SELECT * FROM frame")
        build_features(cut, spec)
        recomputed = cut.sql(
            f"SELECT patient_id AS stay_id, {', '.join(compared)} FROM _fx_matrix "
            "WHERE stay_id = patient_id || ':' || patient_id"
        ).pl()
    finally:
        cut.close()
    con.execute("DROP TABLE _lk_sample")
    return LeakageResult(
        checked, unchecked, *_differences(expected, recomputed, compared), verified_before=stays - unchecked
    )


def _differences(expected: pl.DataFrame, recomputed: pl.DataFrame, columns: list[str]) -> tuple[list, int]:
    """(failures shown, failure count): stays that are no index stay any more, and every differing value."""
    failures: list[dict[str, object]] = []
    count = 0
    found = set(recomputed.get_column("stay_id").to_list())
    for stay in expected.get_column("stay_id").to_list():
        if stay not in found:
            count += 1
            if len(failures) < MAX_FAILURES_SHOWN:
                failures.append({"stay_id": stay, "column": "(stay)", "matrix": "index stay", "cut_history": "absent"})
    joined = expected.join(recomputed, on="stay_id", how="inner", suffix="__cut")
    # Every column's differences in one pass; only the columns that differ are looked at row by row.
    schema = joined.schema  # built anew on every access: once, not once per column
    flags = joined.select(_differs(name, schema[name]).fill_null(False).alias(name) for name in columns)
    counts = flags.sum().row(0, named=True)
    for name in columns:
        if not counts[name]:
            continue
        count += counts[name]
        if len(failures) >= MAX_FAILURES_SHOWN:
            continue
        bad = joined.filter(flags.get_column(name)).select("stay_id", name, f"{name}__cut")
        for stay, value, other in bad.head(MAX_FAILURES_SHOWN - len(failures)).iter_rows():
            failures.append({"stay_id": stay, "column": name, "matrix": value, "cut_history": other})
    return failures, count


def _differs(name: str, dtype: pl.DataType) -> pl.Expr:
    a, b = pl.col(name), pl.col(f"{name}__cut")
    if dtype in (pl.Float64, pl.Float32):
        return (a.is_null() != b.is_null()) | ((a - b).abs() > TOLERANCE * (1 + a.abs()))
    return (a.is_null() != b.is_null()) | (a != b)
