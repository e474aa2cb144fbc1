"""``deidentified_tombstones``: the deletions of incremental Bulk exports, published with the de-identified tables.

Part of the ``deidentified_tables`` step (the tombstones share its pseudonyms, its residual-PHI scan and its
publishing transaction); the logic is in ``healthcare_assets.deid.tombstones``, this module only wires it.
"""

from collections.abc import Callable
from pathlib import Path

from dagster import AssetCheckResult, AssetCheckSeverity, AssetSpec, MaterializeResult, TableColumn, TableSchema

from healthcare_assets.defs.metadata import md_table
from healthcare_assets.defs.partitions import export_batches
from healthcare_assets.deid import Policy, ScanResult
from healthcare_assets.deid.tombstones import TOMBSTONE_TABLE, StagedTombstones, apply_tombstones, key_columns
from healthcare_assets.deid.tombstones import later_batches as batches_after

TOMBSTONE_SPEC = AssetSpec(
    key=TOMBSTONE_TABLE,
    group_name="deidentification",
    partitions_def=export_batches,
    deps=["raw_fhir_ndjson", "fhir_profile"],
    code_version="tombstones-1",
    kinds={"duckdb"},
    tags={"zone": "deidentified"},
    description=(
        "Resources an incremental Bulk export reported deleted, one row per resource: its type and its key "
        "pseudonymized like the resource's own (never the original id). Publishing a batch removes its "
        "tombstoned resources from every de-identified table of the batches landed before it (and a republished "
        "batch loses the resources later batches deleted), so downstream readers never see deleted data."
    ),
    metadata={
        "dagster/column_schema": TableSchema(
            columns=[
                TableColumn("batch_id", "VARCHAR", "Export batch whose export reported the deletion."),
                TableColumn("resource_type", "VARCHAR", "FHIR resource type of the deleted resource."),
                TableColumn("resource_key", "VARCHAR", "Surrogate key of the deleted resource (as in its table)."),
                TableColumn("deid_policy", "VARCHAR", "Version of the de-identification policy applied."),
            ]
        ),
        "warehouse_table": TOMBSTONE_TABLE,
    },
)


def publish_hook(
    policy: Policy, views: dict, batches_dir: Path, batch_id: str, removed: dict[str, dict[str, int]]
) -> Callable:
    """The step run inside the publishing transaction; fills ``removed`` (rows per table) as it goes."""
    keys = key_columns(views, {table.table: table.view for table in policy.tables})
    later = batches_after(batches_dir, batch_id)

    def hook(con) -> None:
        removed.update(apply_tombstones(con, batch_id, later, keys))

    return hook


def removed_totals(removed: dict[str, dict[str, int]]) -> dict[str, int]:
    return {
        "rows_removed_from_earlier_batches": sum(r["earlier_batches"] for r in removed.values()),
        "rows_of_this_batch_removed_by_later_deletions": sum(r["this_batch"] for r in removed.values()),
    }


def tombstone_audit(staged: StagedTombstones | None, removed: dict[str, dict[str, int]]) -> dict[str, object]:
    if staged is None:
        return {}
    deletions = staged.deletions
    return {
        "delete_entries": deletions.entries,
        "tombstones_by_type": deletions.by_type,
        "deletions_of_types_without_table": deletions.other_types,
        "unusable_deletion_lines_or_entries": deletions.unusable,
        "rows_removed": removed,
    }


def tombstone_result(
    staged: StagedTombstones,
    scan: ScanResult,
    published_rows: int,
    removed: dict[str, dict[str, int]],
    parquet_sha256: str,
    audit_hash: str,
    scan_check: str,
) -> MaterializeResult:
    findings = scan.for_table(TOMBSTONE_TABLE)
    deletions = staged.deletions
    return MaterializeResult(
        asset_key=TOMBSTONE_TABLE,
        metadata={
            "dagster/row_count": published_rows,
            "published": scan.passed,
            "delete_entries": deletions.entries,
            "tombstones_by_type": md_table(["type", "resources"], sorted(deletions.by_type.items())),
            "deletions_of_types_without_table": deletions.other_types,
            "unusable_deletion_lines_or_entries": deletions.unusable,
            "rows_removed": md_table(
                ["table", "from earlier batches", "of this batch (deleted later)"],
                [(t, r["earlier_batches"], r["this_batch"]) for t, r in sorted(removed.items())],
            ),
            **removed_totals(removed),
            "parquet_sha256": parquet_sha256,
            "audit_record": audit_hash,
        },
        check_results=[
            AssetCheckResult(
                asset_key=TOMBSTONE_TABLE,
                check_name=scan_check,
                passed=not findings,
                severity=AssetCheckSeverity.ERROR,
                description=scan.summary(TOMBSTONE_TABLE),
                metadata={
                    "findings": md_table(
                        ["column", "detector", "rows"], [(f.column, f.detector, f.rows) for f in findings]
                    ),
                    "batch_clean": scan.passed,
                },
            )
        ],
    )
