"""Land one export batch in the PHI zone: stage, hash, write the manifest, then rename into place.

Layout under ``$HEALTHCARE_ASSETS_HOME/phi/batches/<batch_id>/`` (all 0700):
``manifest.json``, ``ndjson/<Type>.ndjson[.gz]`` and ``side/`` (files that are not FHIR data, such as the
synthetic generator's ground truth, which nothing downstream may read as an input). The batch becomes visible
only by an atomic rename, so a crash never leaves a half-landed batch, and re-landing a batch replaces the old
copy only once the new one is complete. A landing that fails removes its staging folder, except for a
resumable source (a Bulk export), whose next attempt at the same batch continues from it.

A file that cannot be used as a whole (no resource type in its name or first lines, or gzip data that cannot
be decompressed to its end) is not a reason to lose the batch: it lands in ``ndjson/rejected/`` and is listed
under ``rejected_files`` with the reason, and the profile quarantines its lines.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from healthcare_assets.audit.canonical import canonical_json, sha256_bytes, sha256_file
from healthcare_assets.config import ensure_private_dir, private_file
from healthcare_assets.fhir.ndjson import (
    REJECTED_DIR,
    CorruptCompressionError,
    FileStats,
    NdjsonError,
    file_stats,
    is_gzip,
    is_ndjson_name,
    type_from_name,
)
from healthcare_assets.fhir.sources import BatchSource, ProgressFn

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1
_BATCH_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")


def new_batch_id(kind: str, now: datetime | None = None) -> str:
    """Sortable, unique, readable: ``20261125T150823Z-synthetic-3fa9c1``."""
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{kind.replace('_', '-')}-{secrets.token_hex(3)}"


def validate_batch_id(batch_id: str) -> str:
    if not _BATCH_ID.match(batch_id) or batch_id in {".", ".."}:
        raise ValueError(f"invalid batch id {batch_id!r}: use letters, digits, '.', '_' or '-'")
    return batch_id


@dataclass(frozen=True)
class LandedBatch:
    batch_dir: Path
    manifest: dict[str, Any]

    @property
    def manifest_sha256(self) -> str:
        return sha256_bytes(canonical_json(self.manifest))

    def files(self, resource_type: str | None = None) -> list[Path]:
        return [
            self.batch_dir / entry["path"]
            for entry in self.manifest["files"]
            if resource_type is None or entry["type"] == resource_type
        ]


def land_batch(
    batches_dir: Path,
    batch_id: str,
    source: BatchSource,
    progress: ProgressFn = lambda _msg: None,
    keep_staging: bool = False,
) -> LandedBatch:
    """Fetch ``source`` into a staging folder, write its manifest and rename it to ``batches_dir/batch_id``."""
    validate_batch_id(batch_id)
    ensure_private_dir(batches_dir)
    staging = staging_dir(batches_dir, batch_id)
    # A resumable source (a Bulk export) continues where an interrupted attempt at this batch stopped.
    resumable = keep_staging or getattr(source, "resumable", False)
    if staging.exists() and not resumable:
        shutil.rmtree(staging)
    if hasattr(source, "prepare_staging"):  # resume (or adopt, or with `fresh` abandon) an interrupted export
        source.prepare_staging(batches_dir, staging, progress)
    try:
        return _land(batches_dir, batch_id, source, progress, staging, keep_staging)
    except BaseException:
        if not resumable:  # a resumable source decides below (and at its next run) what stays
            shutil.rmtree(staging, ignore_errors=True)
        raise


def staging_dir(batches_dir: Path, batch_id: str) -> Path:
    return batches_dir / f".staging-{batch_id}"


def _land(
    batches_dir: Path, batch_id: str, source: BatchSource, progress: ProgressFn, staging: Path, keep_staging: bool
) -> LandedBatch:
    ensure_private_dir(staging)
    ndjson_dir = ensure_private_dir(staging / "ndjson")
    side_dir = ensure_private_dir(staging / "side")

    started = datetime.now(UTC)
    try:
        fetched = source.fetch(ndjson_dir, side_dir, progress)
    except BaseException:
        # An interrupted export stays for the next run to resume; a failed or cancelled one never stays behind.
        if getattr(source, "resumable", False) and not keep_staging and not source.can_resume(staging):
            shutil.rmtree(staging, ignore_errors=True)
        raise
    progress("hashing and counting landed files")
    files, rejected = _describe_files(staging, ndjson_dir)
    manifest = {
        "manifest_version": MANIFEST_VERSION,
        "batch_id": batch_id,
        "source": source.describe(),
        "started_at": started.isoformat(timespec="seconds"),
        "landed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "transaction_time": fetched.transaction_time,
        "files": files,
        "rejected_files": rejected,
        "side_files": {
            name: {"path": str(private_file(path).relative_to(staging)), "sha256": sha256_file(path)}
            for name, path in sorted(fetched.side_files.items())
            if path.exists()
        },
        "details": fetched.details,
    }
    if not manifest["files"] and not getattr(source, "may_be_empty", False):
        # A Bulk export may legitimately bring nothing new (an incremental _since export); others may not.
        raise NdjsonError(f"source {source.kind} produced no usable NDJSON files for batch {batch_id}")
    manifest["totals"] = {
        "files": len(manifest["files"]),
        "lines": sum(f["lines"] for f in manifest["files"]),
        "bytes": sum(f["bytes"] for f in manifest["files"]),
        "types": len({f["type"] for f in manifest["files"]}),
        "rejected_files": len(rejected),
    }
    _write_atomic(staging / MANIFEST, orjson.dumps(manifest, option=orjson.OPT_INDENT_2) + b"\n")
    final = batches_dir / batch_id
    _swap_into_place(staging, final)
    if hasattr(source, "release"):  # a Bulk export's lock, held until the batch is in place
        source.release(final)
    return LandedBatch(final, manifest)


def load_batch(batch_dir: Path) -> LandedBatch:
    manifest_path = batch_dir / MANIFEST
    if not manifest_path.exists():
        raise FileNotFoundError(f"{batch_dir}: no {MANIFEST}; the batch was never landed completely")
    return LandedBatch(batch_dir, orjson.loads(manifest_path.read_bytes()))


def _describe_files(root: Path, ndjson_dir: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Manifest entries of the typed files, and of the rejected ones (moved to ``ndjson/rejected/``)."""
    paths = sorted(p for p in ndjson_dir.iterdir() if p.is_file() and is_ndjson_name(p))
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        stats = list(pool.map(_stats_or_error, paths))
    described, rejected = [], []
    for path, stat in zip(paths, stats, strict=True):
        private_file(path)
        resource_type = type_from_name(path)
        if resource_type is None:
            raise NdjsonError(f"{path}: landed file name does not carry a resource type")
        if isinstance(stat, CorruptCompressionError):
            moved = ensure_private_dir(ndjson_dir / REJECTED_DIR) / path.name
            os.rename(path, moved)
            rejected.append(_rejected_entry(root, moved, "corrupt_compression", resource_type))
            continue
        described.append(
            {
                "type": resource_type,
                "path": str(path.relative_to(root)),
                "lines": stat.lines,
                "bytes": stat.bytes,
                "sha256": stat.sha256,
                "compressed": is_gzip(path),
            }
        )
    rejected_dir = ndjson_dir / REJECTED_DIR
    if rejected_dir.is_dir():
        listed = {entry["path"] for entry in rejected}
        for path in sorted(p for p in rejected_dir.iterdir() if p.is_file()):
            if str(path.relative_to(root)) not in listed:  # put there by the source: its type is unknown
                rejected.append(_rejected_entry(root, private_file(path), "unknown_type", None))
    return described, sorted(rejected, key=lambda e: e["path"])


def _stats_or_error(path: Path) -> FileStats | CorruptCompressionError:
    try:
        return file_stats(path)
    except CorruptCompressionError as exc:
        return exc


def _rejected_entry(root: Path, path: Path, reason: str, resource_type: str | None) -> dict[str, Any]:
    return {
        "type": resource_type,
        "path": str(path.relative_to(root)),
        "reason": reason,
        "bytes": path.stat().st_size,
        "sha256": sha256_file(path),
        "compressed": is_gzip(path),
    }


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    private_file(tmp)
    os.replace(tmp, path)


def _swap_into_place(staging: Path, final: Path) -> None:
    """Rename the complete staging folder over ``final``; an older copy is removed only afterwards."""
    retired = None
    if final.exists():
        retired = final.with_name(f".retired-{final.name}-{secrets.token_hex(3)}")
        os.rename(final, retired)
    os.rename(staging, final)
    if retired is not None:
        shutil.rmtree(retired, ignore_errors=True)
