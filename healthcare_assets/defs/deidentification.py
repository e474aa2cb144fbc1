"""Stage 2, de-identification: the deidentified_* tables, each behind a blocking residual-PHI scan.

One step builds every table of a batch (they share pseudonyms and patient timelines), stages them as Parquet in
the PHI zone, scans them, and only then publishes all of them to the warehouse in one transaction. If the scan
finds anything, nothing is published, the batch's rows are removed from every de-identified table (fail
closed), and the failed checks block everything downstream.
"""
# No `from __future__ import annotations` here: Dagster reads the Config annotations at import.

import shutil
from datetime import UTC, datetime

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetSpec,
    Config,
    MaterializeResult,
    MetadataValue,
    TableColumn,
    TableSchema,
    multi_asset,
)
from pydantic import Field

from healthcare_assets.audit.canonical import sha256_file
from healthcare_assets.defs.audit import append_audit
from healthcare_assets.defs.metadata import md_table
from healthcare_assets.defs.partitions import export_batches
from healthcare_assets.defs.resources import DataHome
from healthcare_assets.deid import (
    Codebook,
    CodebookPseudonymizer,
    HmacPseudonymizer,
    Policy,
    build_policy,
    deidentify_batch,
)
from healthcare_assets.deid.attestation import SAFE_HARBOR_CATEGORIES, batch_totals, category_report
from healthcare_assets.deid.ground_truth import COLUMNS as GROUND_TRUTH_COLUMNS
from healthcare_assets.deid.ground_truth import GROUND_TRUTH_TABLE
from healthcare_assets.deid.pseudonyms import CODEBOOK_FILE, KEY_ENV
from healthcare_assets.fhir.landing import load_batch
from healthcare_assets.fhir.profile import load_profile
from healthcare_assets.fhir.views import catalog

GROUP = "deidentification"
SCAN_CHECK = "residual_phi_scan"
CODE_VERSION = "deidentify-1"
STAGING_DIR = "deid_staging"


class DeidConfig(Config):
    profile: str = Field(
        default="safe_harbor",
        description="safe_harbor (default) or date_shift (NOT Safe Harbor: Expert Determination / DUA only).",
    )
    pseudonym_mode: str = Field(
        default="codebook",
        description=f"codebook (random surrogates kept in the PHI zone) or hmac (key in ${KEY_ENV}).",
    )
    threads: int = Field(default=2, description="DuckDB threads.")


def _schema(policy: Policy, view: str) -> TableSchema:
    return TableSchema(
        columns=[
            TableColumn(name=c.name, type=c.duckdb_type or "VARCHAR", description=c.description)
            for c in policy.table(view).output_columns
        ]
    )


def _specs() -> list[AssetSpec]:
    views = catalog.project_views()
    policy = build_policy(views)
    specs = []
    for table in policy.tables:
        view = views[table.view]
        statements = md_table(
            ["column", "transform", "statement"], [(r.column, r.transform, r.statement) for r in table.rules]
        )
        specs.append(
            AssetSpec(
                key=table.table,
                group_name=GROUP,
                partitions_def=export_batches,
                deps=["raw_fhir_ndjson", "fhir_profile"],
                code_version=CODE_VERSION,
                kinds={"duckdb"},
                tags={"zone": "deidentified"},
                description=(
                    f"De-identified {table.resource} rows (view `{table.view}`) under HIPAA Safe Harbor: only the "
                    "view's columns leave the PHI zone, ids become surrogates, times become hours since a "
                    "per-patient anchor. Table in the warehouse, one partition per export batch."
                ),
                metadata={
                    "dagster/column_schema": _schema(policy, table.view),
                    "view_definition": MetadataValue.json(view.raw),
                    "deid_policy": statements,
                    "warehouse_table": table.table,
                },
            )
        )
    specs.append(
        AssetSpec(
            key=GROUND_TRUTH_TABLE,
            group_name=GROUP,
            partitions_def=export_batches,
            deps=["raw_fhir_ndjson", "fhir_profile"],
            code_version=CODE_VERSION,
            kinds={"duckdb"},
            tags={"zone": "deidentified"},
            description=(
                "The synthetic generator's true 30-day readmission probability per index stay, keyed by the "
                "pseudonym of the stay's discharge encounter (as training_set.stay_id), for the validation "
                "report's oracle AUROC only: never a feature or a label. Empty for non-synthetic sources."
            ),
            metadata={
                "dagster/column_schema": TableSchema(
                    columns=[TableColumn(name=n, type=t, description=d) for n, t, d in GROUND_TRUTH_COLUMNS]
                ),
                "warehouse_table": GROUND_TRUTH_TABLE,
            },
        )
    )
    return specs


SPECS = _specs()


@multi_asset(
    name="deidentified_tables",
    specs=SPECS,
    check_specs=[
        AssetCheckSpec(
            SCAN_CHECK,
            asset=spec.key,
            blocking=True,
            description=(
                "Residual-PHI scan of every string column: the batch's own names, identifiers, contacts, address "
                "parts, ZIP5s, dates and resource ids, plus SSN/phone/e-mail/URL/IP/date patterns. Counts and "
                "locations only, never values. Fails (and blocks downstream) on any finding."
            ),
        )
        for spec in SPECS
    ],
    can_subset=False,
)
def deidentified_tables(context: AssetExecutionContext, config: DeidConfig, home: DataHome):
    batch_id = context.partition_key
    paths = home.phi()
    batch = load_batch(paths.batch_dir(batch_id))
    profile = load_profile(batch.batch_dir)
    type_counts = {t["resource_type"]: t for t in profile["types"]}
    views = catalog.project_views()
    policy = build_policy(views, config.profile)
    codebook = Codebook(paths.phi / CODEBOOK_FILE, lock_timeout_s=home.warehouse_lock_timeout_s)
    if config.pseudonym_mode == "hmac":
        pseudonymizer = HmacPseudonymizer.from_env()
    elif config.pseudonym_mode == "codebook":
        pseudonymizer = CodebookPseudonymizer(codebook)
    else:
        raise ValueError(f"unknown pseudonym_mode {config.pseudonym_mode!r}; expected codebook or hmac")
    reference = _reference_time(batch.manifest)
    staging = batch.batch_dir / STAGING_DIR
    result = deidentify_batch(
        batch, type_counts, views, policy, pseudonymizer, codebook, staging, reference, threads=config.threads
    )
    staged = {name: table.path for name, table in result.tables.items()}
    scan, inventory = result.scan, result.inventory
    hashes = {name: sha256_file(path) for name, path in staged.items()}
    warehouse = home.warehouse()
    if scan.passed:
        published = warehouse.replace_partitions(
            {name: f"SELECT * FROM read_parquet('{path}')" for name, path in staged.items()}, "batch_id", batch_id
        )
    else:
        warehouse.replace_partitions({name: None for name in staged}, "batch_id", batch_id)
        published = {}
        context.log.error(f"residual PHI found, nothing published for batch {batch_id}: {scan.summary()}")
    shutil.rmtree(staging, ignore_errors=True)

    report = category_report(policy, result, inventory)
    totals = batch_totals(report, inventory)
    record = append_audit(
        context,
        home,
        "deidentify_export_batch",
        inputs={"manifest": batch.manifest_sha256, "profile": sha256_file(batch.batch_dir / "profile.json")},
        outputs=hashes if scan.passed else {},
        counts={name: table.rows for name, table in result.tables.items()},
        details={
            "policy_version": policy.version,
            "profile": policy.profile.value,
            "safe_harbor": policy.profile.is_safe_harbor,
            "pseudonym_mode": pseudonymizer.mode,
            "published": scan.passed,
            "scan": {"passed": scan.passed, "findings": [f.__dict__ for f in scan.findings]},
            "safe_harbor_categories": totals,
            "new_pseudonyms": result.new_pseudonyms,
        },
    )
    for name, table in result.tables.items():
        findings = scan.for_table(name)
        yield MaterializeResult(
            asset_key=name,
            metadata={
                "dagster/row_count": published.get(name, 0),
                "rows_staged": table.rows,
                "published": scan.passed,
                "deid_policy_version": policy.version,
                "deid_profile": policy.profile.value
                + ("" if policy.profile.is_safe_harbor else " (NOT Safe Harbor: Expert Determination / DUA only)"),
                "pseudonym_mode": pseudonymizer.mode,
                "safe_harbor_categories": md_table(
                    ["category", "rule", "present in raw", "transformed", "removed"],
                    [
                        (c, SAFE_HARBOR_CATEGORIES[c][0], n["present"], n["transformed"], n["removed"])
                        for c, n in report.get(name, {}).items()
                    ],
                ),
                "residual_phi_scan": scan.summary(name),
                "parquet_sha256": hashes[name],
                "seconds": round(result.seconds, 2),
                "audit_record": record["hash"],
            },
            check_results=[
                AssetCheckResult(
                    asset_key=name,
                    check_name=SCAN_CHECK,
                    passed=not findings,
                    severity=AssetCheckSeverity.ERROR,
                    description=scan.summary(name),
                    metadata={
                        "findings": md_table(
                            ["column", "detector", "rows"], [(f.column, f.detector, f.rows) for f in findings]
                        ),
                        "string_columns_scanned_in_batch": scan.string_columns,
                        "values_scanned_in_batch": int(scan.values_scanned),
                        "dictionary_terms": MetadataValue.json(scan.dictionary_terms),
                        "batch_clean": scan.passed,
                    },
                )
            ],
        )


def _reference_time(manifest: dict) -> datetime:
    """The export's time: ages over 89 are judged at the later of this and the latest event."""
    for key in ("transaction_time", "landed_at"):
        value = manifest.get(key)
        if value:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return datetime.now(UTC)
