"""The two gates can fail: the pandera schema on a broken matrix, the leakage gate on a feature that looks past
discharge at a planted post-discharge lab."""

from __future__ import annotations

import polars as pl
import pytest
from pandera.errors import SchemaErrors

from healthcare_assets.features import (
    FeatureSpec,
    WindowSpec,
    check_leakage,
    matrix_columns,
    validate,
    verified_rows_sql,
)
from healthcare_assets.features.dictionary import ColumnDef, training_columns
from healthcare_assets.features.gate import _obeys, gate_schema, schema
from healthcare_assets_tests.features.helpers import build
from healthcare_assets_tests.features.world import World


def _world() -> tuple[World, list[str]]:
    w = World()
    stays = []
    for k, pid in enumerate(("p1", "p2", "p3")):
        w.patient(pid, gender="male" if k else "female")
        stays.append(w.stay(pid, 1000, 100))
        w.lab(pid, "2160-0", 1.0 + k, "mg/dL", 1050)
        w.lab(pid, "2951-2", 138.0, "mmol/L", 1090)
        stays.append(w.stay(pid, 3000, 60))
    w.lab("p2", "2160-0", 7.5, "mg/dL", 3060 + 12)  # 12 hours after p2 was discharged the second time
    return w, stays


def test_the_schema_passes_a_built_matrix_and_names_what_breaks_it() -> None:
    w, stays = _world()
    spec = FeatureSpec()
    frame = build(w, spec).sql("SELECT * FROM _fx_matrix").pl()
    assert validate(frame, matrix_columns(spec)).passed
    broken = pl.concat([frame, frame.head(1)]).with_columns(
        pl.when(pl.col("stay_id") == stays[1]).then(900.0).otherwise(pl.col("sodium_stay_latest"))
        .alias("sodium_stay_latest"),
        pl.when(pl.col("stay_id") == stays[2]).then(None).otherwise(pl.col("label")).alias("label"),
        pl.when(pl.col("stay_id") == stays[3]).then(pl.lit("X")).otherwise(pl.col("sex")).alias("sex"),
    )  # fmt: skip
    result = validate(broken, matrix_columns(spec))
    assert not result.passed
    found = {(f["stay_id"], f["column"]) for f in result.failures}
    assert (stays[1], "sodium_stay_latest") in found  # physiological range
    assert (stays[2], "(table)") in found  # observed label missing
    assert (stays[3], "sex") in found and (stays[0], "stay_id") in found  # subgroup values, unique key
    assert all(f["value"] is None for f in result.failures if f["column"] in ("stay_id", "(table)"))


def test_the_leakage_gate_passes_honest_features() -> None:
    w, _ = _world()
    spec = FeatureSpec()
    con = build(w, spec)
    result = check_leakage(con, spec, sample_size=0)
    assert result.passed and result.checked == 6


def test_a_feature_that_sees_a_post_discharge_lab_fails_the_leakage_gate() -> None:
    w, stays = _world()
    # "Labs around discharge" (+-24 h) is a classic leak: it reaches the planted lab 12 h after discharge.
    spec = FeatureSpec(windows=(WindowSpec("stay", None), WindowSpec("around", -24.0, 24.0)))
    con = build(w, spec)
    result = check_leakage(con, spec, sample_size=0)
    assert not result.passed
    assert {(f["stay_id"], f["column"]) for f in result.failures} >= {(stays[3], "creatinine_around_latest")}
    assert {f["stay_id"] for f in result.failures} == {stays[3]}
    planted = next(f for f in result.failures if f["column"] == "creatinine_around_latest")
    assert planted["matrix"] == 7.5 and planted["cut_history"] is None


def _published(con, changed: dict[str, tuple[str, object]] | None = None, version: str = "") -> None:
    """``published``: the matrix as the warehouse holds it (``feature_spec``), with ``changed`` {stay: (column,
    value)} set as if those rows had been built from other data."""
    con.execute("CREATE OR REPLACE TABLE published AS SELECT * FROM _fx_matrix")
    if version:
        con.execute("UPDATE published SET feature_spec = ?", [version])
    for stay, (column, value) in (changed or {}).items():
        con.execute(f'UPDATE published SET "{column}" = ? WHERE stay_id = ?', [value, stay])


def test_rows_identical_to_published_ones_are_not_checked_again_and_changed_ones_are() -> None:
    w, stays = _world()
    spec = FeatureSpec()
    con = build(w, spec)
    _published(con, {stays[1]: ("sodium_stay_latest", 139.0), stays[4]: ("sex", "female")})
    verified = verified_rows_sql(con, spec, "published")
    assert {r[0] for r in con.execute(verified).fetchall()} == set(stays) - {stays[1], stays[4]}
    result = check_leakage(con, spec, sample_size=0, verified=verified)
    assert result.passed and (result.checked, result.stays, result.verified_before) == (2, 2, 4)
    assert "4 more identical to published" in result.summary()
    # Within the gate's tolerance a float is the same value; a NULL is not a value.
    _published(con, {stays[0]: ("sodium_stay_latest", 138.0 + 1e-9), stays[2]: ("sodium_stay_latest", None)})
    assert {r[0] for r in con.execute(verified).fetchall()} == set(stays) - {stays[2]}
    # Rows built under another feature spec, or a table without a compared column, verify nothing.
    _published(con, version="another-spec")
    assert not con.execute(verified).fetchall()
    con.execute("ALTER TABLE published DROP COLUMN sodium_stay_latest")
    assert verified_rows_sql(con, spec, "published") is None


def test_a_leak_in_a_row_that_changed_since_it_was_published_fails_the_gate() -> None:
    w, stays = _world()
    spec = FeatureSpec(windows=(WindowSpec("stay", None), WindowSpec("around", -24.0, 24.0)))
    con = build(w, spec)
    # The leaking row (stays[3] sees the lab 12 h after discharge) changed since publication; the rest did not.
    _published(con, {stays[3]: ("creatinine_around_latest", None)})
    result = check_leakage(con, spec, sample_size=0, verified=verified_rows_sql(con, spec, "published"))
    assert not result.passed and result.checked == 1 and result.verified_before == 5
    assert {f["stay_id"] for f in result.failures} == {stays[3]}


def _violations(col: ColumnDef) -> list[tuple[str, object]]:
    """Values that break each rule the dictionary gives ``col``."""
    broken: list[tuple[str, object]] = []
    if col.lo is not None and col.hi is not None:
        broken.append(("above range", col.hi + 1))
    if col.lo is not None:
        broken.append(("below range", col.lo - 1))
    if col.allowed:
        broken.append(("not allowed", "no-such-value"))
    if col.dtype == "DOUBLE":
        broken += [("nan", float("nan")), ("infinite", float("inf"))]
    if not col.nullable:
        broken.append(("null", None))
    return broken


def _with(frame: pl.DataFrame, column: str, value: object) -> pl.DataFrame:
    dtype = frame.schema[column]
    return frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(pl.lit(value, dtype=dtype)).otherwise(pl.col(column)).alias(column)
    )


def test_the_deciding_rules_catch_every_rule_of_every_column() -> None:
    """gate_schema folds the per-column checks into one expression per column (``_obeys``): every rule of every
    column of both matrices is broken in turn, and each breakage fails exactly the row broken."""
    w, _ = _world()
    spec = FeatureSpec()
    frame = build(w, spec).sql("SELECT * FROM _fx_matrix").pl()
    for columns in (matrix_columns(spec), training_columns(spec)):
        valid = frame.select([c.name for c in columns if c.name in frame.columns])
        kinds = 0
        for col in columns:
            if col.name not in valid.columns:
                continue
            assert valid.select(_obeys(col).fill_null(False).all()).item(), col.name
            for kind, value in _violations(col):
                verdict = _with(valid, col.name, value).select(_obeys(col).fill_null(False)).to_series().to_list()
                assert verdict == [False] + [True] * (valid.height - 1), (col.name, kind)
                kinds += 1
        assert kinds > 600


def test_the_gate_and_the_per_column_schema_agree_on_each_kind_of_rule() -> None:
    """One column per kind of rule (and the table-wide rules): the deciding schema fails, and the report then names
    the column from pandera's per-column checks."""
    w, stays = _world()
    spec = FeatureSpec()
    columns = matrix_columns(spec)
    frame = build(w, spec).sql("SELECT * FROM _fx_matrix").pl()
    assert validate(frame, columns).passed
    seen: set[tuple[str, bool]] = set()
    for col in columns:
        for kind, value in _violations(col):
            if (kind, col.dtype == "DOUBLE") in seen:
                continue
            seen.add((kind, col.dtype == "DOUBLE"))
            result = validate(_with(frame, col.name, value), columns)
            assert not result.passed, (col.name, kind)
            broken_stay = None if col.name == "stay_id" else frame.get_column("stay_id")[0]  # a null key names no stay
            assert (broken_stay, col.name) in {(f["stay_id"], f["column"]) for f in result.failures}, (col.name, kind)
    assert len(seen) >= 7
    table_wide = {
        "wrong type": frame.with_columns(pl.col("age_at_admission").cast(pl.Utf8)),
        "extra column": frame.with_columns(pl.lit(1).alias("surprise")),
        "missing column": frame.drop("sodium_stay_latest"),
        "columns reordered": frame.select(list(reversed(frame.columns))),
        "duplicate stay": pl.concat([frame, frame.head(1)]),
        "label missing where observed": frame.with_columns(pl.lit(None, dtype=frame.schema["label"]).alias("label")),
    }
    for broken in table_wide.values():  # validate fails exactly when gate_schema raises
        with pytest.raises(SchemaErrors):
            gate_schema(columns).validate(broken, lazy=True)
        with pytest.raises(SchemaErrors):
            schema(columns).validate(broken, lazy=True)


def test_the_gate_reads_column_names_once_and_reports_as_stock_pandera_does() -> None:
    """gate_schema's class overrides pandera's column-presence bookkeeping (for speed): on a valid frame and on
    every table-wide breakage, it finds exactly the failure cases stock pandera finds with the same schema."""
    import pandera.polars as pa

    w, _ = _world()
    columns = matrix_columns(FeatureSpec())
    frame = build(w, FeatureSpec()).sql("SELECT * FROM _fx_matrix").pl()
    ours = gate_schema(columns)
    stock = pa.DataFrameSchema(ours.columns, checks=ours.checks, strict=True, ordered=True)
    assert type(ours.get_backend(frame)) is not type(stock.get_backend(frame))

    def cases(schema_: pa.DataFrameSchema, data: pl.DataFrame) -> list[tuple]:
        try:
            schema_.validate(data, lazy=True)
        except SchemaErrors as exc:
            found = exc.failure_cases.select("column", "check", "failure_case")  # the context names the class
            return sorted(found.cast(pl.Utf8).rows(), key=str)
        return []

    assert cases(ours, frame) == cases(stock, frame) == []
    for broken in (
        frame.with_columns(pl.lit(1).alias("surprise")),
        frame.drop("sodium_stay_latest", "sex"),
        frame.select(list(reversed(frame.columns))),
        frame.with_columns(pl.col("age_at_admission").cast(pl.Utf8)),
        pl.concat([frame, frame.head(1)]),
    ):
        assert cases(ours, broken) == cases(stock, broken) != []
