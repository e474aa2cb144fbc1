"""Stage 3, features (per export batch): the readmission cohort and the feature matrix, behind two blocking gates.

Both assets read the de-identified zone only: the warehouse is attached read-only under the shared lock just long
enough to copy the current rows (``healthcare_assets.features.current``) into an in-memory DuckDB; the cohort and
features are computed there, staged as Parquet, gated, and the batch's rows published in one transaction.
A batch holds the index stays first seen in it, computed from each patient's whole history across batches.
"""
# No `from __future__ import annotations` here: Dagster reads the Config annotations at import.

import shutil
import time
from contextlib import contextmanager

import duckdb
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    Config,
    ConfigurableResource,
    MaterializeResult,
    MetadataValue,
    TableColumn,
    TableSchema,
    asset,
)
from pydantic import Field

from healthcare_assets.audit.canonical import sha256_file
from healthcare_assets.defs.audit import append_audit
from healthcare_assets.defs.metadata import md_table
from healthcare_assets.defs.partitions import EXPORT_BATCH_PARTITIONS, export_batches
from healthcare_assets.defs.resources import DataHome
from healthcare_assets.features import (
    COHORT_SOURCES,
    CohortSpec,
    FeatureSpec,
    WindowSpec,
    attrition,
    check_leakage,
    compute_cohort,
    compute_features,
    load_sources,
    matrix_columns,
    validate,
)
from healthcare_assets.features.cohort import cohort_rows_sql
from healthcare_assets.features.measurements import BY_KEY as MEASUREMENTS
from healthcare_assets.features.publish import publish_partition
from healthcare_assets.warehouse.duckdb_store import quiet

GROUP = "features"
DEIDENTIFIED = [
    "deidentified_patient", "deidentified_encounter", "deidentified_condition", "deidentified_observation",
    "deidentified_observation_component", "deidentified_medication_request", "deidentified_procedure",
]  # fmt: skip
SCHEMA_CHECK = "feature_matrix_schema"
LEAKAGE_CHECK = "no_future_data"
STAGING_DIR = "features_staging"


class FeatureSettings(ConfigurableResource):
    """The cohort and feature definition shared by every feature asset of a run (so they always agree)."""

    merge_gap_hours: float = Field(default=24.0, description="Encounters starting within this many hours of the "
                                   "latest end merge into one stay ('same or next day').")  # fmt: skip
    horizon_days: float = Field(default=30.0, description="Readmission horizon after discharge, days (1-30).")
    min_age_years: int = Field(default=18, description="Index stays of younger patients are excluded.")
    lookback_days: list[int] = Field(
        default=[365], description="Windows for labs and vitals besides the index stay itself, days before discharge."
    )
    measurements: list[str] = Field(
        default=list(MEASUREMENTS), description=f"Labs and vitals to summarise; known: {', '.join(MEASUREMENTS)}."
    )
    utilization_days: list[int] = Field(default=[182, 365], description="Windows for prior ED visits and stays.")

    def spec(self) -> FeatureSpec:
        windows = (WindowSpec("stay", None),) + tuple(
            WindowSpec(f"{days}d", -24.0 * days) for days in sorted(set(self.lookback_days))
        )
        return FeatureSpec(
            cohort=CohortSpec(self.merge_gap_hours, self.horizon_days, self.min_age_years),
            measurements=tuple(self.measurements),
            windows=windows,
            utilization_days=tuple(self.utilization_days),
        )


class FeatureMatrixConfig(Config):
    leakage_sample: int = Field(default=2000, description="Stays recomputed from history cut at discharge (0: all).")
    leakage_seed: int = Field(default=0, description="Seed of the leakage sample.")
    threads: int = Field(default=2, description="DuckDB threads.")
    memory_limit: str = Field(default="4GB", description="DuckDB memory limit (spills to disk beyond it).")


def batch_order(context: AssetExecutionContext) -> list[str]:
    """Registered export batches, oldest first: the order in which a re-sent resource's latest version wins."""
    return list(context.instance.get_dynamic_partitions(EXPORT_BATCH_PARTITIONS))


@contextmanager
def working_connection(home: DataHome, name: str, threads: int = 2, memory_limit: str = "4GB"):
    """An in-memory DuckDB spilling into a fresh staging folder of the de-identified zone; both are gone when the
    block ends, whatever happens in it. ``name`` carries the run id: concurrent runs never share a folder."""
    staging = home.paths().home / STAGING_DIR / name
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    con = quiet(duckdb.connect(":memory:"))
    try:
        con.execute(f"SET threads = {int(threads)}")
        con.execute(f"SET memory_limit = '{memory_limit}'")
        con.execute("SET temp_directory = ?", [str(staging / ".spill")])
        con.execute("SET preserve_insertion_order = false")
        yield con, staging
    finally:
        con.close()
        shutil.rmtree(staging, ignore_errors=True)


def load_warehouse(con, home: DataHome, order: list[str], tables=None) -> dict[str, int]:
    """Copy the current de-identified rows into ``con`` under the warehouse's shared lock."""
    with home.warehouse().attached(con, "wh", read_only=True):
        return load_sources(con, "wh", order, tables)


def attrition_table(steps) -> MetadataValue:
    return md_table(
        ["step", "stays", "patients", "outcomes", "non-outcomes", "pending", "censored"],
        [(s.step, s.stays, s.patients, s.outcomes, s.non_outcomes, s.pending, s.censored) for s in steps],
    )


def outcome_warnings(outcomes: int, non_outcomes: int, minimum: int, where: str) -> list[str]:
    problems = []
    if outcomes < minimum:
        problems.append(f"{where}: only {outcomes} observed outcomes (readmissions), under {minimum}: too few to train")
    if non_outcomes < minimum:
        problems.append(f"{where}: only {non_outcomes} observed non-outcomes, under {minimum}: too few to train")
    return problems


def column_schema(columns) -> TableSchema:
    return TableSchema(
        columns=[TableColumn(name=c.name, type=c.dtype, description=f"[{c.role}] {c.definition}") for c in columns]
    )


@asset(
    key="readmission_cohort",
    group_name=GROUP,
    deps=DEIDENTIFIED,
    partitions_def=export_batches,
    code_version="readmission_cohort-1",
    kinds={"duckdb"},
    tags={"zone": "deidentified"},
    description=(
        "Every merged inpatient stay first seen in this export batch: index discharges, exclusions (age, in-"
        "hospital death, against medical advice, acute transfer), the 30-day readmission label and its status "
        "(observed / pending / censored by a competing death), from each patient's whole history across batches. "
        "Warehouse table `readmission_cohort` (column batch_id); the attrition table and the definition are in "
        "the metadata."
    ),
    metadata={"cohort_definition": MetadataValue.md(CohortSpec().describe()), "warehouse_table": "readmission_cohort"},
)
def readmission_cohort(context: AssetExecutionContext, home: DataHome, features: FeatureSettings) -> MaterializeResult:
    batch_id = context.partition_key
    spec = features.spec()
    with working_connection(home, f"cohort-{batch_id}-{context.run_id}") as (con, staging):
        tick = time.perf_counter()
        loaded = load_warehouse(con, home, batch_order(context), COHORT_SOURCES)
        compute_cohort(con, spec.cohort)
        steps = attrition(con, spec.cohort, batch_id)
        target = staging / "readmission_cohort.parquet"
        con.execute(f"COPY ({cohort_rows_sql(spec.version, batch_id)}) TO '{target}' (FORMAT parquet)")
        seconds = time.perf_counter() - tick
        con.close()
        published = publish_partition(home.warehouse(), "readmission_cohort", target, "batch_id", batch_id)
        digest = sha256_file(target)
    final = steps[-1]
    problems = outcome_warnings(final.outcomes, final.non_outcomes, spec.cohort.min_outcomes_warning, batch_id)
    for problem in problems:
        context.log.warning(problem)
    record = append_audit(
        context,
        home,
        "build_readmission_cohort",
        inputs={"feature_spec": spec.version},
        outputs={"readmission_cohort": digest},
        counts={"stays": steps[0].stays, "index_stays": final.stays, "outcomes": final.outcomes},
        details={"source_rows": loaded, "stale_batches_dropped": published.stale_batches_dropped},
    )
    observed = final.outcomes + final.non_outcomes
    return MaterializeResult(
        metadata={
            "dagster/row_count": published.rows,
            "index_stays": final.stays,
            "patients": final.patients,
            "outcomes": final.outcomes,
            "non_outcomes": final.non_outcomes,
            "pending": final.pending,
            "censored": final.censored,
            "event_rate": round(final.outcomes / observed, 4) if observed else 0.0,
            "attrition": attrition_table(steps),
            "warnings": "; ".join(problems) or "none",
            "cohort_definition": MetadataValue.md(spec.cohort.describe()),
            "feature_spec": spec.version,
            "stale_batches_dropped": ", ".join(published.stale_batches_dropped) or "none",
            "seconds": round(seconds, 2),
            "audit_record": record["hash"],
        }
    )


@asset(
    key="feature_matrix",
    group_name=GROUP,
    deps=["readmission_cohort", *DEIDENTIFIED],
    partitions_def=export_batches,
    code_version="feature_matrix-1",
    kinds={"duckdb"},
    tags={"zone": "deidentified"},
    description=(
        "One row per index stay of this batch's cohort: demographics, ICD-10-CM/SNOMED CT comorbidities and "
        "Charlson, labs and vitals in canonical UCUM units over windows, missingness, medications and "
        "polypharmacy, utilization, the stay, disposition; LACE and HOSPITAL as comparators; label and status. "
        "Only data available at discharge. Warehouse table `feature_matrix` (column batch_id), published only "
        "when the pandera gate and the leakage gate pass."
    ),
    metadata={
        "dagster/column_schema": column_schema(matrix_columns(FeatureSpec())),
        "warehouse_table": "feature_matrix",
    },
    check_specs=[
        AssetCheckSpec(
            SCHEMA_CHECK,
            asset="feature_matrix",
            blocking=True,
            description="Pandera schema from the data dictionary: types, nullability, physiological ranges, unique "
            "stay_id, label 0/1 exactly when observed.",
        ),
        AssetCheckSpec(
            LEAKAGE_CHECK,
            asset="feature_matrix",
            blocking=True,
            description="Features recomputed from each sampled stay's history cut at its discharge must be identical: "
            "no feature used an event after its index time.",
        ),
    ],
)
def feature_matrix(
    context: AssetExecutionContext, config: FeatureMatrixConfig, home: DataHome, features: FeatureSettings
) -> MaterializeResult:
    batch_id = context.partition_key
    spec = features.spec()
    columns = matrix_columns(spec)
    name = f"matrix-{batch_id}-{context.run_id}"
    with working_connection(home, name, config.threads, config.memory_limit) as (con, staging):
        tick = time.perf_counter()
        loaded = load_warehouse(con, home, batch_order(context))
        load_s = time.perf_counter() - tick
        build = compute_features(con, spec, loaded)
        con.execute("DELETE FROM _fx_matrix WHERE batch_id IS DISTINCT FROM ?", [batch_id])
        frame = con.sql("SELECT * FROM _fx_matrix").pl()
        gate = validate(frame, columns)
        tick = time.perf_counter()
        leakage = check_leakage(con, spec, config.leakage_sample, config.leakage_seed)
        leakage_s = time.perf_counter() - tick
        target = staging / "feature_matrix.parquet"
        con.execute(f"COPY _fx_matrix TO '{target}' (FORMAT parquet)")
        missing = _missingness(con, spec)
        con.close()
        passed = gate.passed and leakage.passed
        published = publish_partition(
            home.warehouse(), "feature_matrix", target if passed else None, "batch_id", batch_id
        )
        digest = sha256_file(target)
    if not passed:
        context.log.error(f"feature matrix of batch {batch_id} not published: {gate.summary()}; {leakage.summary()}")
    labels = frame.get_column("label_status").value_counts()
    record = append_audit(
        context,
        home,
        "build_feature_matrix",
        inputs={"feature_spec": spec.version},
        outputs={"feature_matrix": digest} if passed else {},
        counts={"rows": frame.height, "features": sum(c.role == "feature" for c in columns)},
        details={
            "published": passed,
            "gate": gate.summary(),
            "leakage": leakage.summary(),
            "stale_batches_dropped": published.stale_batches_dropped,
        },
    )
    return MaterializeResult(
        metadata={
            "dagster/row_count": published.rows,
            "rows_built": frame.height,
            "published": passed,
            "features": sum(c.role == "feature" for c in columns),
            "feature_spec": spec.version,
            "label_status": md_table(["status", "stays"], labels.rows()),
            "feature_definition": MetadataValue.md(spec.describe()),
            "values_not_used": md_table(
                ["measurement", "reason", "values"],
                [(m, r, n) for m, reasons in sorted(build.dropped_values.items()) for r, n in sorted(reasons.items())],
            ),
            "missing_most": md_table(["column", "missing rate"], missing),
            "seconds": MetadataValue.json(
                {
                    "load": round(load_s, 2),
                    **{k: round(v, 2) for k, v in build.timings.items()},
                    "leakage_check": round(leakage_s, 2),
                }  # fmt: skip
            ),
            "stale_batches_dropped": ", ".join(published.stale_batches_dropped) or "none",
            "audit_record": record["hash"],
        },
        check_results=[
            gate_result(SCHEMA_CHECK, gate),
            leakage_result(LEAKAGE_CHECK, leakage),
        ],
    )


def gate_result(name: str, gate, asset_key: str | None = None) -> AssetCheckResult:
    return AssetCheckResult(
        asset_key=asset_key,
        check_name=name,
        passed=gate.passed,
        severity=AssetCheckSeverity.ERROR,
        description=gate.summary(),
        metadata={
            "rows": gate.rows,
            "failing_values": gate.failure_count,
            "failure_cases": md_table(
                ["stay_id", "column", "check", "value"],
                [(f["stay_id"], f["column"], f["check"], f["value"]) for f in gate.failures],
            ),
        },
    )


def leakage_result(name: str, leakage, asset_key: str | None = None) -> AssetCheckResult:
    return AssetCheckResult(
        asset_key=asset_key,
        check_name=name,
        passed=leakage.passed,
        severity=AssetCheckSeverity.ERROR,
        description=leakage.summary(),
        metadata={
            "stays_checked": leakage.checked,
            "stays": leakage.stays,
            "stays_verified_before": leakage.verified_before,
            "differences": leakage.failure_count,
            "failure_cases": md_table(
                ["stay_id", "column", "matrix", "history cut at discharge"],
                [(f["stay_id"], f["column"], f["matrix"], f["cut_history"]) for f in leakage.failures],
            ),
        },
    )


def _missingness(con, spec: FeatureSpec, top: int = 15) -> list[tuple[str, float]]:
    names = [c.name for c in matrix_columns(spec) if c.role == "feature" and c.nullable]
    if not names:
        return []
    row = con.execute(
        "SELECT " + ", ".join(f'avg(("{n}" IS NULL)::DOUBLE)' for n in names) + " FROM _fx_matrix"
    ).fetchall()[0]
    rates = sorted(((n, round(r or 0.0, 4)) for n, r in zip(names, row, strict=True)), key=lambda x: -x[1])
    return rates[:top]
