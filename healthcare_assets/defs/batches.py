"""Export batches as an operator sees them, and removing one everywhere it left something.

A batch lives in four places: its ``export_batch`` partition in the Dagster instance (with the runs tagged with
it), its folder in the PHI zone (and a ``.staging-`` folder while or after a landing fails), its rows in every
warehouse table with a ``batch_id`` column, and the audit ledger. ``list_batches`` joins what the first three
hold; ``delete_batch`` removes the first three and appends a record to the fourth (the ledger is append-only,
so the batch's earlier records stay and the chain still verifies). The pseudonym codebook is kept: its
surrogates and time anchors are shared with the other batches of the same patients.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from healthcare_assets import __version__
from healthcare_assets.audit import AuditEvent, AuditLedger
from healthcare_assets.config import Paths
from healthcare_assets.defs.partitions import EXPORT_BATCH_PARTITIONS
from healthcare_assets.errors import ConfigError
from healthcare_assets.fhir.landing import MANIFEST, staging_dir, validate_batch_id
from healthcare_assets.fhir.profile import PROFILE_FILE
from healthcare_assets.warehouse import Warehouse

BATCH_COLUMN = "batch_id"
PARTITION_TAG = "dagster/partition"
_IN_PROGRESS = (
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
)


@dataclass
class BatchInfo:
    """One batch, from every place that knows it (counts only: nothing here is PHI)."""

    batch_id: str
    registered: bool = False
    last_run: str | None = None  # status of the latest run for the partition
    landed: bool = False
    staging: bool = False
    source: str | None = None
    landed_at: str | None = None
    lines: int | None = None
    quarantined: int | None = None
    superseded: int | None = None
    rejected_files: int | None = None
    warehouse_rows: int = 0


@dataclass
class DeleteReport:
    batch_id: str
    partition_removed: bool
    folders_removed: list[str] = field(default_factory=list)
    rows_deleted: dict[str, int] = field(default_factory=dict)
    audit_record: str | None = None


def list_batches(instance: DagsterInstance, paths: Paths, warehouse_lock_timeout_s: float = 600.0) -> list[BatchInfo]:
    """Every batch known to the instance, the PHI zone or the warehouse, oldest id first."""
    found: dict[str, BatchInfo] = {}

    def info(batch_id: str) -> BatchInfo:
        return found.setdefault(batch_id, BatchInfo(batch_id))

    for batch_id in instance.get_dynamic_partitions(EXPORT_BATCH_PARTITIONS):
        info(batch_id).registered = True
    if paths.batches.is_dir():
        for entry in paths.batches.iterdir():
            if entry.name.startswith(".staging-") and entry.is_dir():
                info(entry.name.removeprefix(".staging-")).staging = True
            elif not entry.name.startswith(".") and entry.is_dir():
                _read_folder(info(entry.name), entry)
    for batch_id, rows in Warehouse(paths.warehouse, warehouse_lock_timeout_s).count_by_key(BATCH_COLUMN).items():
        info(batch_id).warehouse_rows = rows
    for batch in found.values():
        runs = instance.get_runs(RunsFilter(tags={PARTITION_TAG: batch.batch_id}), limit=1)
        batch.last_run = runs[0].status.value if runs else None
    return [found[k] for k in sorted(found)]


def _read_folder(batch: BatchInfo, folder: Path) -> None:
    """Counts from the manifest and the profile (never their dates or values)."""
    batch.landed = (folder / MANIFEST).exists()
    try:
        manifest = orjson.loads((folder / MANIFEST).read_bytes())
        batch.source = manifest.get("source", {}).get("kind")
        batch.landed_at = manifest.get("landed_at")
        batch.rejected_files = len(manifest.get("rejected_files", []))
    except (OSError, orjson.JSONDecodeError):
        pass
    try:
        profile = orjson.loads((folder / PROFILE_FILE).read_bytes())
        batch.lines, batch.quarantined, batch.superseded = (
            int(profile["lines"]),
            int(profile["quarantined"]),
            int(profile["superseded"]),
        )
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        pass


def delete_batch(
    instance: DagsterInstance, paths: Paths, batch_id: str, warehouse_lock_timeout_s: float = 600.0
) -> DeleteReport:
    """Remove ``batch_id`` from the warehouse, the PHI zone and the instance, then record it in the ledger.

    Safe to repeat: a deletion cut short by a crash is finished by running it again."""
    try:
        validate_batch_id(batch_id)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    known = {b.batch_id: b for b in list_batches(instance, paths, warehouse_lock_timeout_s)}
    if batch_id not in known:
        raise ConfigError(f"no batch {batch_id!r} (see: healthcare-assets batches list)")
    running = instance.get_runs(RunsFilter(tags={PARTITION_TAG: batch_id}, statuses=list(_IN_PROGRESS)), limit=1)
    if running:
        raise ConfigError(f"batch {batch_id} has a run in progress ({running[0].run_id}); wait for it or cancel it")

    report = DeleteReport(batch_id, partition_removed=False)
    # De-identified rows first: from here on nothing downstream can read the batch.
    report.rows_deleted = Warehouse(paths.warehouse, warehouse_lock_timeout_s).delete_key_everywhere(
        BATCH_COLUMN, batch_id
    )
    for folder in [paths.batch_dir(batch_id), staging_dir(paths.batches, batch_id)]:
        if folder.exists():
            _remove_folder(folder)
            report.folders_removed.append(folder.name)
    if paths.batches.is_dir():  # what a re-landing or an earlier deletion left behind when cut short
        leftover = re.compile(
            rf"^\.(retired-|deleting-(\.staging-|\.retired-)?){re.escape(batch_id)}(-[0-9a-f]{{6}})+$"
        )
        for folder in paths.batches.iterdir():
            if leftover.match(folder.name):
                shutil.rmtree(folder, ignore_errors=True)
                report.folders_removed.append(folder.name)
    if instance.has_dynamic_partition(EXPORT_BATCH_PARTITIONS, batch_id):
        instance.delete_dynamic_partition(EXPORT_BATCH_PARTITIONS, batch_id)
        report.partition_removed = True
    record = AuditLedger(paths.audit).append(
        AuditEvent(
            action="delete_export_batch",
            partition=batch_id,
            code_version=f"pkg{__version__}",
            counts={"warehouse_rows_deleted": sum(report.rows_deleted.values()), **_table_counts(report)},
            details={
                "partition_removed": report.partition_removed,
                "phi_folders_removed": report.folders_removed,
                "codebook": "kept (surrogates and anchors are shared across batches)",
            },
        )
    )
    report.audit_record = record["hash"]
    return report


def _table_counts(report: DeleteReport) -> dict[str, Any]:
    return {f"rows_{table}": rows for table, rows in report.rows_deleted.items() if rows}


def _remove_folder(folder: Path) -> None:
    """Rename first (one atomic step takes the batch out of sight), then delete."""
    doomed = folder.with_name(f".deleting-{folder.name}-{secrets.token_hex(3)}")
    os.rename(folder, doomed)
    shutil.rmtree(doomed)
