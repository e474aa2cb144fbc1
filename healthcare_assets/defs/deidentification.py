"""Stage 2, de-identification: the deidentified_* tables, each behind a blocking residual-PHI scan.

One step builds every table of a batch (they share pseudonyms and patient timelines), stages them as Parquet in
the PHI zone, scans them, and only then publishes all of them to the warehouse in one transaction. If the scan
finds anything, nothing is published, the batch's rows are removed from every de-identified table (fail
closed), and the failed checks block everything downstream.
"""
# No `from __future__ import annotations` here: Dagster reads the Config annotations at import.

import shutil
from datetime import UTC, datetime, timedelta

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
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
from healthcare_assets.defs.boundary import phi_boundary
from healthcare_assets.defs.metadata import md_table
from healthcare_assets.defs.partitions import batch_check_spec, export_batches
from healthcare_assets.defs.resources import DataHome
from healthcare_assets.defs.tombstones import (
    TOMBSTONE_SPEC,
    publish_hook,
    removed_totals,
    tombstone_audit,
    tombstone_result,
)
from healthcare_assets.deid import (
    Codebook,
    CodebookPseudonymizer,
    HmacPseudonymizer,
    Policy,
    build_policy,
    deidentify_batch,
)
from healthcare_assets.deid.attestation import (
    SAFE_HARBOR_CATEGORIES,
    batch_totals,
    category_report,
    primary_tables,
    profile_counts,
)
from healthcare_assets.deid.ground_truth import COLUMNS as GROUND_TRUTH_COLUMNS
from healthcare_assets.deid.ground_truth import GROUND_TRUTH_TABLE
from healthcare_assets.deid.pseudonyms import CODEBOOK_FILE, KEY_ENV
from healthcare_assets.deid.tombstones import TOMBSTONE_TABLE
from healthcare_assets.deid.validation import DEFAULT_MIN_PATIENTS, ValidationSettings
from healthcare_assets.errors import ConfigError
from healthcare_assets.fhir.landing import load_batch
from healthcare_assets.fhir.profile import load_profile
from healthcare_assets.fhir.views import catalog

GROUP = "deidentification"
SCAN_CHECK = "residual_phi_scan"
CODE_VERSION = "deidentify-2"
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
    local_code_systems: list[str] = Field(
        default=[],
        description="System URIs of the hospital's own code systems: their codes may be published when seen for "
        "at least local_code_min_patients patients of the batch and free of PHI; other unknown systems never are.",
    )
    local_code_min_patients: int = Field(
        default=DEFAULT_MIN_PATIENTS, description="k: fewest distinct patients a local code must be seen for."
    )


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


SPECS = [*_specs(), TOMBSTONE_SPEC]  # the tombstones share the step's pseudonyms, scan and transaction


@multi_asset(
    name="deidentified_tables",
    specs=SPECS,
    check_specs=[
        batch_check_spec(
            SCAN_CHECK,
            asset=spec.key,
            blocking=True,
            description=(
                "Residual-PHI scan of every string column: the batch's own names, identifiers, contacts, address "
                "parts, ZIP5s, dates in every written form and resource ids, as whole values and inside longer "
                "ones, plus SSN/phone/e-mail/URL/IP/date patterns; identifier digits in numeric columns. Runs "
                "after coded values were checked against their domains. Counts and locations only, never "
                "values. Fails (and blocks downstream) on any finding."
            ),
        )
        for spec in SPECS
    ],
    can_subset=False,
)
@phi_boundary
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
        raise ConfigError(f"unknown pseudonym_mode {config.pseudonym_mode!r}; expected codebook or hmac")
    settings = ValidationSettings(tuple(config.local_code_systems), config.local_code_min_patients)
    reference = _reference_time(batch.manifest)
    staging = batch.batch_dir / STAGING_DIR
    result = deidentify_batch(
        batch,
        type_counts,
        views,
        policy,
        pseudonymizer,
        codebook,
        staging,
        reference,
        threads=config.threads,
        settings=settings,
        data_end=_data_end_time(batch.manifest),
    )
    validation = result.validation
    staged = {name: table.path for name, table in result.tables.items()}
    staged[TOMBSTONE_TABLE] = result.tombstones.path
    scan, inventory = result.scan, result.inventory
    hashes = {name: sha256_file(path) for name, path in staged.items()}
    warehouse = home.warehouse()
    removed: dict[str, dict[str, int]] = {}  # tombstoned rows deleted, per table
    if scan.passed:
        published = warehouse.replace_partitions(
            {name: f"SELECT * FROM read_parquet('{path}')" for name, path in staged.items()},
            "batch_id",
            batch_id,
            then=publish_hook(policy, views, paths.batches, batch_id, removed),
        )
    else:
        warehouse.replace_partitions({name: None for name in staged}, "batch_id", batch_id)
        published = {}
        context.log.error(f"residual PHI found, nothing published for batch {batch_id}: {scan.summary()}")
    shutil.rmtree(staging, ignore_errors=True)

    raw_counts = profile_counts(profile)
    report = category_report(policy, result, inventory, raw_counts)
    primary = primary_tables(policy)
    totals = batch_totals(report, inventory, raw_counts, primary)
    record = append_audit(
        context,
        home,
        "deidentify_export_batch",
        inputs={"manifest": batch.manifest_sha256, "profile": sha256_file(batch.batch_dir / "profile.json")},
        outputs=hashes if scan.passed else {},
        counts={
            **{name: table.rows for name, table in result.tables.items()},
            "tombstones": result.tombstones.rows,
            **removed_totals(removed),
        },
        details={
            "policy_version": policy.version,
            "profile": policy.profile.value,
            "safe_harbor": policy.profile.is_safe_harbor,
            "pseudonym_mode": pseudonymizer.mode,
            "published": scan.passed,
            "scan": {"passed": scan.passed, "findings": [f.__dict__ for f in scan.findings]},
            "safe_harbor_categories": totals,
            "value_validation": {t: c for t, c in validation.counts.items() if validation.replaced(t)},
            "local_code_systems": len(settings.local_code_systems),
            "local_code_min_patients": settings.min_patients,
            "new_pseudonyms": result.new_pseudonyms,
            "tombstones": tombstone_audit(result.tombstones, removed),
        },
    )
    for name, table in result.tables.items():
        findings = scan.for_table(name)
        yield MaterializeResult(
            asset_key=name,
            metadata={
                "dagster/row_count": published.get(name, 0) - removed.get(name, {}).get("this_batch", 0),
                "rows_staged": table.rows,
                "tombstoned_rows_removed": sum(removed.get(name, {}).values()),
                "published": scan.passed,
                "deid_policy_version": policy.version,
                "deid_profile": policy.profile.value
                + ("" if policy.profile.is_safe_harbor else " (NOT Safe Harbor: Expert Determination / DUA only)"),
                "pseudonym_mode": pseudonymizer.mode,
                "safe_harbor_categories": md_table(
                    ["category", "rule", "values in the raw resources", "written transformed", "not selected"],
                    [
                        (c, SAFE_HARBOR_CATEGORIES[c][0], n["present"], n["transformed"], n["removed"])
                        if name in primary
                        else (
                            c,
                            SAFE_HARBOR_CATEGORIES[c][0],
                            "(counted on its resource's table)",
                            n["transformed"],
                            "",
                        )
                        for c, n in report.get(name, {}).items()
                    ],
                ),
                "safe_harbor_counting": (
                    "Value occurrences. In the raw resources: names, contacts, addresses and identifiers of person "
                    "resources (inventory), and resource ids, references and values at the profile's time "
                    "elements (profile). Written transformed: surrogates, hour offsets, ZIP3 values in this table. "
                    "Not selected: present in the raw resources, absent from every column."
                ),
                "values_outside_domain": validation.replaced(name),
                "value_validation": md_table(
                    ["column", "values checked", "replaced", "why"],
                    [
                        (column, n["rows"], sum(v for k, v in n.items() if k != "rows"), _reasons(n))
                        for column, n in validation.counts.get(name, {}).items()
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

    yield tombstone_result(
        result.tombstones,
        scan,
        published.get(TOMBSTONE_TABLE, 0),
        removed,
        hashes[TOMBSTONE_TABLE],
        record["hash"],
        SCAN_CHECK,
    )


def _data_end_time(manifest: dict) -> datetime | None:
    """Where the batch's data ends: the Bulk transactionTime, or the synthetic simulation's end (nothing happens
    at or after midnight UTC after its ``end_date``); None lets de-identification use the latest event time."""
    if manifest.get("transaction_time"):
        return datetime.fromisoformat(manifest["transaction_time"].replace("Z", "+00:00"))
    source = manifest.get("source") or {}
    if source.get("kind") == "synthetic" and source.get("end_date"):
        return datetime.fromisoformat(str(source["end_date"])).replace(tzinfo=UTC) + timedelta(days=1)
    return None


def _reasons(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items()) if k != "rows") or "-"


def _reference_time(manifest: dict) -> datetime:
    """The export's time: ages over 89 are judged at the later of this and the latest event."""
    for key in ("transaction_time", "landed_at"):
        value = manifest.get(key)
        if value:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return datetime.now(UTC)
