"""Where an export batch comes from: the synthetic generator or a folder of NDJSON (Bulk `$export` comes later).

A source writes one export's NDJSON files into a staging folder inside the PHI zone and describes itself for
the manifest; ``landing.land_batch`` does the rest (hashing, manifest, atomic rename).
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from healthcare_assets.errors import ConfigError
from healthcare_assets.fhir.ndjson import (
    REJECTED_DIR,
    NdjsonError,
    is_gzip,
    is_ndjson_name,
    public_resource_type,
    type_from_content,
    type_from_name,
)

ProgressFn = Callable[[str], None]


@dataclass
class FetchResult:
    """What a source hands back besides the files: extra manifest fields and PHI-zone side files."""

    details: dict[str, Any] = field(default_factory=dict)
    side_files: dict[str, Path] = field(default_factory=dict)
    transaction_time: str | None = None


class BatchSource(Protocol):
    kind: str

    def describe(self) -> dict[str, Any]:
        """Parameters recorded in the manifest and the audit ledger (never secrets)."""
        ...

    def fetch(self, ndjson_dir: Path, side_dir: Path, progress: ProgressFn) -> FetchResult:
        """Write ``<Type>[.<n>].ndjson[.gz]`` files into ``ndjson_dir``; side files go to ``side_dir``."""
        ...


class NdjsonDirSource:
    """A folder of ``*.ndjson`` / ``*.ndjson.gz`` files, such as Synthea output or a previous export."""

    kind = "ndjson_dir"

    def __init__(self, path: Path):
        self.path = Path(path).expanduser().resolve()

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": str(self.path)}

    def _files(self) -> list[Path]:
        if not self.path.is_dir():
            raise NdjsonError(f"{self.path}: not a directory")
        files = sorted(p for p in self.path.iterdir() if p.is_file() and is_ndjson_name(p))
        if not files:
            raise NdjsonError(f"{self.path}: no *.ndjson or *.ndjson.gz files")
        return files

    def fetch(self, ndjson_dir: Path, side_dir: Path, progress: ProgressFn) -> FetchResult:
        """Copy each file under its type's name; a file whose type neither its name nor its first lines tell
        (binary, not UTF-8, not FHIR) is copied into ``ndjson/rejected/`` so the profile can count it."""
        by_type: dict[str, list[Path]] = {}
        unknown: list[Path] = []
        for path in self._files():
            found = type_from_name(path) or type_from_content(path)
            if found is None:
                unknown.append(path)
            else:
                by_type.setdefault(found, []).append(path)
        if not by_type:
            names = ", ".join(p.name for p in unknown[:5]) + (", ..." if len(unknown) > 5 else "")
            raise NdjsonError(
                f"{self.path}: no file whose resource type its name or first lines tell ({names}); name files "
                "<Type>.ndjson or check that they hold FHIR resources"
            )
        if unknown:
            rejected = ndjson_dir / REJECTED_DIR
            rejected.mkdir(mode=0o700, exist_ok=True)
            for src in unknown:
                shutil.copyfile(src, rejected / src.name)
            progress(f"{len(unknown)} file(s) of unknown resource type set aside (names withheld; see the manifest)")
        for resource_type, paths in sorted(by_type.items()):
            for index, src in enumerate(paths):
                name = resource_type if len(paths) == 1 else f"{resource_type}.{index + 1:03d}"
                suffix = ".ndjson.gz" if is_gzip(src) else ".ndjson"
                shutil.copyfile(src, ndjson_dir / f"{name}{suffix}")
            progress(f"copied {public_resource_type(resource_type)} ({len(paths)} file{'s' if len(paths) > 1 else ''})")
        return FetchResult(
            details={
                "source_files": sum(len(p) for p in by_type.values()) + len(unknown),
                "unknown_type_files": len(unknown),
            }
        )


class SyntheticSource:
    """The built-in deterministic synthetic cohort (the embedded default)."""

    kind = "synthetic"

    def __init__(self, config: Any):
        self.config = config  # healthcare_assets.synthetic.SyntheticConfig

    def describe(self) -> dict[str, Any]:
        described = {"kind": self.kind}
        described.update(
            {k: (str(v) if not isinstance(v, (int, float, bool, str)) else v) for k, v in asdict(self.config).items()}
        )
        return described

    def fetch(self, ndjson_dir: Path, side_dir: Path, progress: ProgressFn) -> FetchResult:
        from healthcare_assets.synthetic import generate_cohort

        truth = side_dir / "ground_truth.parquet"
        progress(f"generating {self.config.patients} synthetic patients (seed {self.config.seed})")
        summary = generate_cohort(ndjson_dir, self.config, ground_truth_path=truth)
        details = {
            "index_stays": summary.index_stays,
            "readmission_rate": summary.readmission_rate,
            # Undefined (NaN) when a small cohort has no readmission or no index stay; JSON has no NaN.
            "oracle_auroc": summary.oracle_auroc if math.isfinite(summary.oracle_auroc) else None,
            "malformed_lines_injected": summary.malformed_lines,
            "duplicate_lines_injected": summary.duplicate_lines,
        }
        return FetchResult(details=details, side_files={"ground_truth": truth})


class BulkExportSource:
    """A FHIR Bulk Data ``$export`` (see ``healthcare_assets.fhir.bulk``), resumable across runs.

    Downloads go straight into the batch's staging folder with the client's state file beside them. Before
    fetching, ``prepare_staging`` (called by landing) finds an interrupted export of the same request and resumes
    it -- in place, or by adopting another batch's staging folder -- or, with ``fresh``, abandons every such
    export (DELETE on the server, staging removed). Error and deleted-resource files stay in ``ndjson/errors``
    and ``ndjson/deleted``; the error files are summarised as counts (``outcomes``), and what the export covered
    per type is recorded for the next ``_since`` (``export_coverage``). ``on_event`` receives the client's
    progress events plus ``adopt`` and ``abandon`` (counts, hashes, redacted URLs; never a token or key).
    """

    kind = "bulk"
    resumable = True  # landing keeps the staging folder of an interrupted export (see can_resume)
    may_be_empty = True  # an incremental (_since) export may bring nothing new

    def __init__(
        self,
        request: Any,
        auth: Any = None,
        settings: Any = None,
        on_event: Callable | None = None,
        *,
        fresh: bool = False,
        since_plan: Any = None,
    ):
        self.request, self.auth, self.settings, self.on_event = request, auth, settings, on_event
        self.fresh = fresh
        self.since_plan = since_plan  # export_coverage.SincePlan, when --since auto planned the request
        self.adopted_from: str | None = None
        self.abandoned: list[str] = []
        self._lock: Any = None

    def describe(self) -> dict[str, Any]:
        from healthcare_assets.fhir.bulk import redact_url

        request = self.request
        described: dict[str, Any] = {
            "kind": self.kind,
            "base_url": redact_url(request.base_url),
            "level": str(getattr(request.level, "value", request.level)),
            "group_id": request.group_id,
            "types": list(request.types),
            "since": str(request.since) if request.since else None,
            "type_filters": list(request.type_filters),
        }
        if self.auth is not None:
            described["auth"] = {"client_id": self.auth.client_id, "kid": self.auth.kid, "scope": self.auth.scope}
        return described

    # -- resume, adopt, abandon -------------------------------------------------------------------------------
    def prepare_staging(self, batches_dir: Path, staging: Path, progress: ProgressFn) -> None:
        """Make ``staging`` hold the export to continue (or nothing, for a new one) and lock it for this run."""
        from healthcare_assets.fhir.bulk import BulkExportRequest
        from healthcare_assets.fhir.export_resume import find_unfinished, lock_export, resumable_state, same_export

        _remove_stale_stagings(batches_dir, staging, progress)
        if self.fresh:
            self._abandon_all(batches_dir, staging, progress)
        own = resumable_state(staging) if staging.exists() else None
        if own is not None:
            if not same_export(own, self.request):
                raise ConfigError(
                    f"{staging.name} holds an unfinished export of a different request (types "
                    f"{','.join(own.request.get('types') or []) or 'all'}); run the batch with its original options "
                    "to resume it, or ask for a fresh export (--fresh, config bulk.fresh) to abandon it"
                )
            self._lock = lock_export(staging)
            self.request = BulkExportRequest.from_dict(own.request)  # its own _since, not a recomputed one
            return
        for candidate in find_unfinished(batches_dir, self.request):
            if candidate.staging == staging:
                continue
            try:
                handle = lock_export(candidate.staging)
            except (OSError, RuntimeError):
                continue  # taken by a live run (or gone) since we looked
            try:
                if staging.exists():
                    _remove_staging(staging)  # what this batch tried before (never kicked off, or finished)
                os.rename(candidate.staging, staging)
            except (OSError, RuntimeError):
                handle.close()
                raise
            self._lock = handle
            self.adopted_from = candidate.batch_id
            self.request = BulkExportRequest.from_dict(candidate.state.request)
            self._event(
                "adopt",
                progress,
                f"resuming the unfinished export started for batch {candidate.batch_id}",
                from_batch=candidate.batch_id,
                kicked_off_at=candidate.state.kicked_off_at,
            )
            return
        self._lock = lock_export(staging)

    def _abandon_all(self, batches_dir: Path, staging: Path, progress: ProgressFn) -> None:
        """``fresh``: stop every interrupted export of this request on the server and delete its staging."""
        from healthcare_assets.fhir.bulk import BulkExportClient, redact_url
        from healthcare_assets.fhir.export_resume import (
            STAGING_PREFIX,
            Unfinished,
            find_unfinished,
            lock_export,
            resumable_state,
        )

        targets = find_unfinished(batches_dir, self.request)
        own = resumable_state(staging) if staging.exists() else None
        if own is not None and all(t.staging != staging for t in targets):
            targets.append(Unfinished(staging.name[len(STAGING_PREFIX) :], staging, own))
        for target in targets:
            handle = lock_export(target.staging)  # refuses an export a live run is working on
            try:
                with BulkExportClient(self.auth, self.settings) as client:
                    client.abandon(target.state_path, on_progress=self.on_event, reason="fresh export requested")
                shutil.rmtree(target.staging)
            finally:
                handle.close()
            self.abandoned.append(target.batch_id)
            self._event(
                "abandon",
                progress,
                f"abandoned the unfinished export of batch {target.batch_id} (job deleted, staging removed)",
                batch=target.batch_id,
                status_url=redact_url(target.state.status_url or ""),
            )
        if staging.exists():  # leftovers of an attempt that never got going
            _remove_staging(staging)

    def can_resume(self, staging: Path) -> bool:
        """Whether a failed landing left an export a later run can resume (else its staging must go)."""
        from healthcare_assets.fhir.export_resume import resumable_state

        return resumable_state(staging) is not None

    def release(self, landed: Path | None = None) -> None:
        """Let go of the export's lock; landing calls it with the batch folder once the batch is in place."""
        from healthcare_assets.fhir.export_resume import LOCK_FILE

        if self._lock is not None:
            self._lock.close()
            self._lock = None
        if landed is not None:
            (landed / "side" / LOCK_FILE).unlink(missing_ok=True)

    def _event(self, kind: str, progress: ProgressFn, message: str, **data: Any) -> None:
        from healthcare_assets.fhir.bulk import ProgressEvent

        progress(message)
        if self.on_event is not None:
            self.on_event(ProgressEvent(kind, data))

    # -- fetch -------------------------------------------------------------------------------------------------
    def fetch(self, ndjson_dir: Path, side_dir: Path, progress: ProgressFn) -> FetchResult:
        from healthcare_assets.fhir.bulk import BulkExportClient, redact_url
        from healthcare_assets.fhir.bulk.outcomes import summarize_error_files
        from healthcare_assets.fhir.export_coverage import coverage_entries
        from healthcare_assets.fhir.export_resume import lock_export

        state = side_dir / "bulk_state.json"
        if self._lock is None:  # called without prepare_staging (a caller landing by hand)
            self._lock = lock_export(side_dir.parent)

        def on_progress(event: Any) -> None:
            if event.kind in ("kickoff", "complete", "restart", "cancel", "type_skipped", "warning", "resume"):
                progress(event.message)
            if self.on_event is not None:
                self.on_event(event)

        try:
            with BulkExportClient(self.auth, self.settings) as client:
                result = client.run(self.request, ndjson_dir, state, on_progress=on_progress)
        except BaseException:
            self.release()
            raise
        # The lock stays held while landing hashes and renames the batch; landing calls release() at the end.
        root = ndjson_dir.parent
        known = set(self.request.types) | set(result.lines_by_type())
        errors = summarize_error_files([f.path for f in result.error_files], known)
        if errors.partial:
            progress(f"partial export: the server reported failures ({errors.describe()})")
        empty_full = not result.files and self.request.since is None
        previous = self.since_plan.last_covered if self.since_plan is not None else {}
        coverage = coverage_entries(
            self.request,
            result.transaction_time,
            previous=previous,
            skipped_types=result.skipped_types,
            failed_types=errors.failed_types,
            incomplete=errors.unattributed_failures or empty_full,
        )

        def described(files: Any) -> list[dict[str, Any]]:
            return [
                {
                    "type": f.type,
                    "path": str(f.path.relative_to(root)),
                    "lines": f.lines,
                    "count": f.count,
                    "sha256": f.sha256,
                }
                for f in files
            ]

        details: dict[str, Any] = {
            "request_url": redact_url(result.request_url),
            "transaction_time": result.transaction_time,
            "lines_by_type": result.lines_by_type(),
            "error_files": described(result.error_files),
            "deleted_files": described(result.deleted_files),
            "error_issues": errors.rows(),
            "unreadable_error_lines": errors.unreadable_lines,
            "partial": errors.partial,
            "empty_full_export": empty_full,
            "skipped_types": list(result.skipped_types),
            "warnings": list(result.warnings),
            "resumed": result.resumed,
            "restarts": result.restarts,
            "adopted_from": self.adopted_from,
            "abandoned": list(self.abandoned),
            "coverage": coverage,
        }
        if self.since_plan is not None:
            details["since_plan"] = {
                "last_covered": self.since_plan.last_covered,
                "reason": self.since_plan.reason,
                "unsupported": list(self.since_plan.unsupported),
            }
        return FetchResult(details=details, side_files={"bulk_state": state}, transaction_time=result.transaction_time)


def _remove_stale_stagings(batches_dir: Path, keep: Path, progress: ProgressFn) -> None:
    """Delete other batches' Bulk staging folders that nobody can resume: an export that never got kicked off
    (a crash during kick-off), or one downloaded whose landing failed. Live runs hold the lock and are kept."""
    from healthcare_assets.fhir.export_resume import STAGING_PREFIX, ExportInProgressError, resumable_state, state_path

    for staging in batches_dir.glob(f"{STAGING_PREFIX}*") if batches_dir.is_dir() else []:
        if staging == keep or not state_path(staging).exists() or resumable_state(staging) is not None:
            continue
        try:
            _remove_staging(staging)
        except (ExportInProgressError, OSError):
            continue
        progress(f"removed the staging folder of batch {staging.name[len(STAGING_PREFIX) :]} (nothing to resume)")


def _remove_staging(staging: Path) -> None:
    """Delete a staging folder, unless a live run holds its export lock (ExportInProgressError)."""
    from healthcare_assets.fhir.export_resume import lock_export

    handle = lock_export(staging)
    try:
        shutil.rmtree(staging)
    finally:
        handle.close()
