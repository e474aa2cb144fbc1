"""Stage 3, across batches: the data dictionary, the training set and its train/test split (not partitioned).

``training_set`` recomputes the cohort and features over every batch at once (one row per stay, labels
relabelled from all data read) and keeps the observed labels of the selected batches, behind the same pandera
and leakage gates as the per-batch matrices. These assets run in the ``training_pipeline`` job, which the CLI
launches after a batch; the training stage's assets hang off ``training_set`` and ``train_test_split``.
"""
# No `from __future__ import annotations` here: Dagster reads the Config annotations at import.

import time

import polars as pl
from dagster import (
    AssetCheckSpec,
    AssetExecutionContext,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
)
from pydantic import Field

from healthcare_assets.audit.canonical import sha256_file, sha256_json
from healthcare_assets.defs.audit import append_audit
from healthcare_assets.defs.features import (
    LEAKAGE_CHECK,
    FeatureSettings,
    batch_order,
    column_schema,
    gate_result,
    leakage_result,
    load_warehouse,
    outcome_warnings,
    working_connection,
)
from healthcare_assets.defs.metadata import md_table
from healthcare_assets.defs.resources import DataHome
from healthcare_assets.features import (
    DICTIONARY_COLUMNS,
    FeatureSpec,
    check_leakage,
    compute_features,
    dictionary_rows,
    select_batches,
    split_training_set,
    training_columns,
    training_sql,
    validate,
    verified_rows_sql,
)

GROUP = "features"
TRAINING_SCHEMA_CHECK = "training_set_schema"


@asset(
    key="feature_dictionary",
    group_name=GROUP,
    code_version="feature_dictionary-1",
    kinds={"duckdb"},
    tags={"zone": "deidentified"},
    description=(
        "The data dictionary: name, role (key, label, feature, comparator, subgroup, meta), type, definition, "
        "unit, window and source codes of every column of the feature matrix and training set. The model's "
        "inputs are exactly the rows with role 'feature', in this order. Warehouse tables `feature_dictionary` "
        "and `feature_definition` (the cohort and feature definition as Markdown, for the model card)."
    ),
)
def feature_dictionary(context: AssetExecutionContext, home: DataHome, features: FeatureSettings) -> MaterializeResult:
    spec = features.spec()
    rows = dictionary_rows(spec)
    frame = pl.DataFrame(rows, schema=list(DICTIONARY_COLUMNS), orient="row").with_row_index("position", offset=1)
    definition = pl.DataFrame({"feature_spec": [spec.version], "definition_md": [spec.describe()]})
    warehouse = home.warehouse()
    with warehouse.connect() as con:
        con.register("_dictionary", frame)
        con.register("_definition", definition)
        con.execute("BEGIN TRANSACTION")
        con.execute("CREATE OR REPLACE TABLE feature_dictionary AS SELECT * FROM _dictionary ORDER BY position")
        con.execute("CREATE OR REPLACE TABLE feature_definition AS SELECT * FROM _definition")
        con.execute("COMMIT")
    roles = frame.group_by("role").len().sort("role")
    record = append_audit(
        context,
        home,
        "write_feature_dictionary",
        outputs={"feature_dictionary": sha256_json([list(r) for r in rows])},
        counts={"columns": len(rows)},
        details={"feature_spec": spec.version},
    )
    return MaterializeResult(
        metadata={
            "dagster/row_count": len(rows),
            "feature_spec": spec.version,
            "roles": md_table(["role", "columns"], roles.rows()),
            "dictionary": md_table(
                ["name", "role", "type", "definition", "unit", "window"], [r[:6] for r in rows], limit=500
            ),
            "feature_definition": MetadataValue.md(spec.describe()),
            "audit_record": record["hash"],
        }
    )


class TrainingSetConfig(Config):
    batches: list[str] = Field(default=[], description="Batches to train on (empty: every registered batch).")
    last_n_batches: int = Field(default=0, description="Only the latest N of those batches (0: all).")
    leakage_sample: int = Field(default=2000, description="Stays recomputed from history cut at discharge (0: all).")
    threads: int = Field(default=2, description="DuckDB threads.")
    memory_limit: str = Field(default="4GB", description="DuckDB memory limit (spills to disk beyond it).")


@asset(
    key="training_set",
    group_name=GROUP,
    deps=["feature_matrix", "feature_dictionary"],
    code_version="training_set-1",
    kinds={"duckdb"},
    tags={"zone": "deidentified"},
    description=(
        "Every index stay with an observed label from the selected batches, one row per stay even when batches "
        "overlap (a stay belongs to the batch that first carried it; labels relabelled from all data): keys, "
        "label, subgroups (sex, age_band), comparators (LACE, HOSPITAL), then every feature. Warehouse table "
        "`training_set`, rebuilt on each materialization."
    ),
    metadata={
        "dagster/column_schema": column_schema(training_columns(FeatureSpec())),
        "warehouse_table": "training_set",
    },
    check_specs=[
        AssetCheckSpec(
            TRAINING_SCHEMA_CHECK,
            asset="training_set",
            blocking=True,
            description="Pandera schema from the data dictionary, label present on every row, unique stay_id.",
        ),
        AssetCheckSpec(
            LEAKAGE_CHECK,
            asset="training_set",
            blocking=True,
            description="Features recomputed from each sampled stay's history cut at its discharge are identical. "
            "Rows identical to published feature_matrix rows, which passed this check in their batch's build, are "
            "not sampled again (metadata stays_verified_before).",
        ),
    ],
)
def training_set(
    context: AssetExecutionContext, config: TrainingSetConfig, home: DataHome, features: FeatureSettings
) -> MaterializeResult:
    spec = features.spec()
    order = batch_order(context)
    chosen = select_batches(order, config.batches, config.last_n_batches)
    name = f"training_set-{context.run_id}"
    with working_connection(home, name, config.threads, config.memory_limit) as (con, staging):
        tick = time.perf_counter()
        loaded = load_warehouse(con, home, order)
        compute_features(con, spec, loaded)
        build_s = time.perf_counter() - tick
        con.execute(f"CREATE OR REPLACE TEMP TABLE _training AS {training_sql(spec, chosen)}")
        frame = con.sql("SELECT * FROM _training").pl()
        gate = validate(frame, training_columns(spec))
        # The leakage gate samples from the rows trained on, leaving out those identical to published feature-matrix
        # rows: each passed the same gate when its batch was built (a single batch's run would check them twice).
        con.execute("DELETE FROM _fx_matrix WHERE stay_id NOT IN (SELECT stay_id FROM _training)")
        verified = _verified_rows(con, home, spec)
        leakage = check_leakage(con, spec, config.leakage_sample, verified=verified)
        target = staging / "training_set.parquet"
        con.execute(f"COPY _training TO '{target}' (FORMAT parquet)")
        con.close()
        passed = gate.passed and leakage.passed
        rows = (
            home.warehouse().replace_table("training_set", f"SELECT * FROM read_parquet('{target}')") if passed else 0
        )
        digest = sha256_file(target)
    if not passed:  # the last valid training set stays; the failed checks block everything downstream
        context.log.error(f"training set not published: {gate.summary()}; {leakage.summary()}")
    events = int(frame.get_column("label").sum() or 0)
    problems = outcome_warnings(events, frame.height - events, spec.cohort.min_outcomes_warning, "training set")
    for problem in problems:
        context.log.warning(problem)
    per_batch = frame.group_by("batch_id").agg(pl.len().alias("stays"), pl.col("label").sum().alias("events"))
    ordered = pl.DataFrame(
        {"batch_id": order, "seq": range(len(order))}, schema={"batch_id": pl.String, "seq": pl.Int64}
    )
    per_batch = per_batch.join(ordered, on="batch_id").sort("seq")
    record = append_audit(
        context,
        home,
        "build_training_set",
        inputs={"feature_spec": spec.version},
        outputs={"training_set": digest} if passed else {},
        counts={"rows": frame.height, "events": events, "batches": len(chosen)},
        details={"batches": chosen, "published": passed, "gate": gate.summary(), "leakage": leakage.summary()},
    )
    return MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "published": passed,
            "stays": frame.height,
            "patients": frame.get_column("patient_id").n_unique(),
            "events": events,
            "event_rate": round(events / frame.height, 4) if frame.height else 0.0,
            "batches": md_table(["batch", "stays", "events"], per_batch.select("batch_id", "stays", "events").rows()),
            "warnings": "; ".join(problems) or "none",
            "feature_spec": spec.version,
            "features": sum(c.role == "feature" for c in training_columns(spec)),
            "seconds": round(build_s, 2),
            "audit_record": record["hash"],
        },
        check_results=[gate_result(TRAINING_SCHEMA_CHECK, gate), leakage_result(LEAKAGE_CHECK, leakage)],
    )


def _verified_rows(con, home: DataHome, spec) -> str | None:
    """``_lk_verified``: training rows identical to the published ``feature_matrix`` (``verified_rows_sql``)."""
    with home.warehouse().attached(con, "wh", read_only=True):
        tables = con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = 'wh' AND table_name = 'feature_matrix'"
        ).fetchall()[0][0]
        sql = verified_rows_sql(con, spec, "wh.feature_matrix") if tables else None
        if sql is None:
            return None
        con.execute(f"CREATE OR REPLACE TEMP TABLE _lk_verified AS {sql}")
    return "SELECT stay_id FROM _lk_verified"


class SplitConfig(Config):
    strategy: str = Field(default="random", description="random (patient-grouped, stratified) or temporal (by batch).")
    test_fraction: float = Field(default=0.25, description="Share of stays in the test set (random: 1/k folds).")
    seed: int = Field(default=42, description="Random seed.")


@asset(
    key="train_test_split",
    group_name=GROUP,
    deps=["training_set"],
    code_version="train_test_split-1",
    kinds={"duckdb"},
    tags={"zone": "deidentified"},
    description=(
        "Train or test for every training-set stay: patient-grouped (no patient on both sides), stratified on the "
        "label, seeded; or temporal (earlier batches train, later test). Warehouse table `train_test_split` "
        "(stay_id, patient_id, split); seed, strategy, sizes and event rates in the metadata."
    ),
)
def train_test_split(context: AssetExecutionContext, config: SplitConfig, home: DataHome) -> MaterializeResult:
    warehouse = home.warehouse()
    if not warehouse.table_exists("training_set"):
        raise RuntimeError("the warehouse has no training_set table: materialize training_set first")
    with warehouse.connect(read_only=True) as con:
        frame = con.sql("SELECT * FROM training_set").pl()  # all of it: patients are ranked by their data
    split = split_training_set(frame, config.strategy, config.test_fraction, config.seed, batch_order(context))
    with warehouse.connect() as con:
        con.register("_split", split.assignments)
        con.execute("CREATE OR REPLACE TABLE train_test_split AS SELECT stay_id, patient_id, split FROM _split")
    sides = split.summary(frame)
    record = append_audit(
        context,
        home,
        "split_training_set",
        outputs={"train_test_split": sha256_json(split.assignments.sort("stay_id").rows())},
        counts={s["split"]: s["stays"] for s in sides},
        details={"strategy": split.strategy, "seed": split.seed, "test_fraction": split.test_fraction},
    )
    return MaterializeResult(
        metadata={
            "dagster/row_count": split.assignments.height,
            "strategy": split.strategy,
            "seed": split.seed,
            "test_fraction": round(split.test_fraction, 4),
            "sizes": md_table(
                ["split", "stays", "patients", "events", "event rate"],
                [(s["split"], s["stays"], s["patients"], s["events"], s["event_rate"]) for s in sides],
            ),
            **{f"{s['split']}_stays": s["stays"] for s in sides},
            **{f"{s['split']}_event_rate": s["event_rate"] for s in sides},
            "patients_on_both_sides": _overlap(split.assignments),
            "stays_left_out": split.dropped_stays,
            "notes": "; ".join(split.notes) or "none",
            "audit_record": record["hash"],
        }
    )


def _overlap(assignments: pl.DataFrame) -> int:
    per_patient = assignments.group_by("patient_id").agg(pl.col("split").n_unique().alias("sides"))
    return per_patient.filter(pl.col("sides") > 1).height
