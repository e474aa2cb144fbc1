"""Where an export batch comes from: the synthetic generator or a folder of NDJSON (Bulk `$export` comes later).

A source writes one export's NDJSON files into a staging folder inside the PHI zone and describes itself for
the manifest; ``landing.land_batch`` does the rest (hashing, manifest, atomic rename).
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from healthcare_assets.fhir.ndjson import (
    REJECTED_DIR,
    NdjsonError,
    is_gzip,
    is_ndjson_name,
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
            progress(f"{len(unknown)} file(s) of unknown resource type set aside: {', '.join(p.name for p in unknown)}")
        for resource_type, paths in sorted(by_type.items()):
            for index, src in enumerate(paths):
                name = resource_type if len(paths) == 1 else f"{resource_type}.{index + 1:03d}"
                suffix = ".ndjson.gz" if is_gzip(src) else ".ndjson"
                shutil.copyfile(src, ndjson_dir / f"{name}{suffix}")
            progress(f"copied {resource_type} ({len(paths)} file{'s' if len(paths) > 1 else ''})")
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
    """A FHIR Bulk Data ``$export`` (see ``healthcare_assets.fhir.bulk``), resumable within one batch.

    Downloads go straight into the batch's staging folder with the client's state file beside them, so a run
    that dies mid-export is resumed by the next attempt at the same batch (landing keeps the staging folder for
    resumable sources). Error and deleted-resource files stay in ``ndjson/errors`` and ``ndjson/deleted``.
    ``on_event`` receives the client's progress events (counts, hashes, redacted URLs; never a token or key).
    """

    kind = "bulk"
    resumable = True  # landing keeps the staging folder so an interrupted export resumes
    may_be_empty = True  # an incremental (_since) export may bring nothing new

    def __init__(self, request: Any, auth: Any = None, settings: Any = None, on_event: Callable | None = None):
        self.request, self.auth, self.settings, self.on_event = request, auth, settings, on_event

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

    def fetch(self, ndjson_dir: Path, side_dir: Path, progress: ProgressFn) -> FetchResult:
        from healthcare_assets.fhir.bulk import BulkExportClient, redact_url

        state = side_dir / "bulk_state.json"

        def on_progress(event: Any) -> None:
            if event.kind in ("kickoff", "complete", "restart", "cancel", "type_skipped", "warning", "resume"):
                progress(event.message)
            if self.on_event is not None:
                self.on_event(event)

        with BulkExportClient(self.auth, self.settings) as client:
            result = client.run(self.request, ndjson_dir, state, on_progress=on_progress)
        return FetchResult(
            details={
                "request_url": redact_url(result.request_url),
                "transaction_time": result.transaction_time,
                "lines_by_type": result.lines_by_type(),
                "error_files": [{"type": f.type, "lines": f.lines, "sha256": f.sha256} for f in result.error_files],
                "deleted_files": [{"type": f.type, "lines": f.lines, "sha256": f.sha256} for f in result.deleted_files],
                "skipped_types": list(result.skipped_types),
                "warnings": list(result.warnings),
                "resumed": result.resumed,
                "restarts": result.restarts,
            },
            side_files={"bulk_state": state},
            transaction_time=result.transaction_time,
        )


def latest_transaction_time(batches_dir: Path, described: dict[str, Any]) -> str | None:
    """The newest ``transactionTime`` of earlier batches exported from the same server, level and group: the
    ``_since`` of the next incremental export (the Bulk Data IG's way of asking only for what changed)."""
    import orjson

    newest = None
    if not batches_dir.is_dir():
        return None
    for manifest_path in batches_dir.glob("*/manifest.json"):
        try:
            manifest = orjson.loads(manifest_path.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            continue
        source = manifest.get("source", {})
        same = source.get("kind") == "bulk" and all(
            source.get(k) == described.get(k) for k in ("base_url", "level", "group_id")
        )
        when = manifest.get("transaction_time")
        if same and when and (newest is None or when > newest):
            newest = when
    return newest
