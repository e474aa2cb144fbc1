"""Where an export batch comes from: the synthetic generator or a folder of NDJSON (Bulk `$export` comes later).

A source writes one export's NDJSON files into a staging folder inside the PHI zone and describes itself for
the manifest; ``landing.land_batch`` does the rest (hashing, manifest, atomic rename).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from healthcare_assets.fhir.ndjson import NdjsonError, is_gzip, is_ndjson_name, resource_type_of

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
        by_type: dict[str, list[Path]] = {}
        for path in self._files():
            by_type.setdefault(resource_type_of(path), []).append(path)
        for resource_type, paths in sorted(by_type.items()):
            for index, src in enumerate(paths):
                name = resource_type if len(paths) == 1 else f"{resource_type}.{index + 1:03d}"
                suffix = ".ndjson.gz" if is_gzip(src) else ".ndjson"
                shutil.copyfile(src, ndjson_dir / f"{name}{suffix}")
            progress(f"copied {resource_type} ({len(paths)} file{'s' if len(paths) > 1 else ''})")
        return FetchResult(details={"source_files": sum(len(p) for p in by_type.values())})


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
            "oracle_auroc": summary.oracle_auroc,
            "malformed_lines_injected": summary.malformed_lines,
            "duplicate_lines_injected": summary.duplicate_lines,
        }
        return FetchResult(details=details, side_files={"ground_truth": truth})
