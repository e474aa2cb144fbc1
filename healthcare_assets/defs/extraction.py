"""Stage 1, extraction: land an export batch in the PHI zone and profile it behind a blocking structural gate."""
# No `from __future__ import annotations` here: Dagster reads the Config annotations at import.

from dataclasses import asdict
from pathlib import Path

import polars as pl
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
)
from pydantic import Field

from healthcare_assets.audit.canonical import sha256_file
from healthcare_assets.defs.audit import append_audit
from healthcare_assets.defs.metadata import md_table
from healthcare_assets.defs.partitions import export_batches
from healthcare_assets.defs.resources import DataHome
from healthcare_assets.fhir.landing import land_batch, load_batch
from healthcare_assets.fhir.profile import PROFILE_FILE, QUARANTINE_DIR, ProfileLimits, ProfileResult, profile_batch
from healthcare_assets.fhir.sources import BatchSource, NdjsonDirSource, SyntheticSource

GROUP = "extraction"
SOURCES = ("synthetic", "ndjson_dir")


class RawFhirConfig(Config):
    """Which source fills a new export batch; the defaults generate the embedded synthetic cohort."""

    source: str = Field(default="synthetic", description=f"One of {', '.join(SOURCES)}.")
    path: str | None = Field(default=None, description="ndjson_dir: folder of *.ndjson / *.ndjson.gz files.")
    patients: int = Field(default=2000, description="synthetic: number of patients.")
    seed: int = Field(default=42, description="synthetic: random seed (same seed, same cohort).")
    malformed_rate: float | None = Field(default=None, description="synthetic: malformed-line rate.")
    duplicate_rate: float | None = Field(default=None, description="synthetic: duplicated-line rate.")
    case_mix_shift: float = Field(default=0.0, description="synthetic drift: older, sicker population.")
    creatinine_shift: float = Field(default=0.0, description="synthetic drift: creatinine assay bias, mg/dL.")
    icd10_dropped: bool = Field(default=False, description="synthetic drift: conditions coded in SNOMED only.")


def build_source(config: RawFhirConfig) -> BatchSource:
    if config.source == "ndjson_dir":
        if not config.path:
            raise ValueError("source ndjson_dir needs `path`: a folder of *.ndjson or *.ndjson.gz files")
        return NdjsonDirSource(Path(config.path))
    if config.source == "synthetic":
        from healthcare_assets.synthetic import SyntheticConfig

        options = {
            "patients": config.patients,
            "seed": config.seed,
            "case_mix_shift": config.case_mix_shift,
            "creatinine_shift": config.creatinine_shift,
            "icd10_dropped": config.icd10_dropped,
        }
        if config.malformed_rate is not None:
            options["malformed_rate"] = config.malformed_rate
        if config.duplicate_rate is not None:
            options["duplicate_rate"] = config.duplicate_rate
        return SyntheticSource(SyntheticConfig(**options))
    raise ValueError(f"unknown source {config.source!r}; expected one of {', '.join(SOURCES)}")


@asset(
    key="raw_fhir_ndjson",
    group_name=GROUP,
    partitions_def=export_batches,
    code_version="raw_fhir_ndjson-1",
    kinds={"fhir", "ndjson"},
    tags={"zone": "phi"},
    description=(
        "One FHIR export batch landed in the PHI zone (directory 0700): one NDJSON file per resource type "
        "and a manifest with source, batch id, time and per-file type, line count, size and SHA-256."
    ),
)
def raw_fhir_ndjson(context: AssetExecutionContext, config: RawFhirConfig, home: DataHome) -> MaterializeResult:
    batch_id = context.partition_key
    paths = home.phi()
    source = build_source(config)
    landed = land_batch(paths.batches, batch_id, source, progress=context.log.info)
    manifest = landed.manifest
    files = manifest["files"]
    record = append_audit(
        context,
        home,
        "land_export_batch",
        outputs={"manifest": landed.manifest_sha256, **{f["path"]: f["sha256"] for f in files}},
        counts={k: v for k, v in manifest["totals"].items()},
        details={"source": manifest["source"], "transaction_time": manifest["transaction_time"]},
    )
    metadata = {
        "batch_id": batch_id,
        "source": manifest["source"]["kind"],
        "dagster/row_count": manifest["totals"]["lines"],
        "resource_types": manifest["totals"]["types"],
        "bytes": manifest["totals"]["bytes"],
        "files": md_table(
            ["type", "file", "lines", "bytes", "sha256"],
            [(f["type"], f["path"], f["lines"], f["bytes"], f["sha256"][:16]) for f in files],
        ),
        "manifest_sha256": landed.manifest_sha256,
        "batch_path": MetadataValue.path(str(landed.batch_dir)),
        "audit_record": record["hash"],
    }
    for key in ("index_stays", "readmission_rate", "oracle_auroc"):
        if key in manifest["details"]:
            metadata[f"synthetic_{key}"] = manifest["details"][key]
    return MaterializeResult(metadata=metadata)


class ProfileConfig(Config):
    max_quarantine_rate: float = Field(default=0.01, description="Gate: quarantined lines / all lines.")
    max_dangling_rate: float = Field(default=0.01, description="Gate: unresolved references / references.")
    threads: int = Field(default=2, description="DuckDB threads for profiling.")


STRUCTURE_CHECK = "structural_integrity"


@asset(
    key="fhir_profile",
    group_name=GROUP,
    deps=["raw_fhir_ndjson"],
    partitions_def=export_batches,
    code_version="fhir_profile-1",
    kinds={"duckdb"},
    tags={"zone": "phi"},
    description=(
        "Profile of one export batch computed by DuckDB straight from the NDJSON: resources per type, element "
        "presence, code systems, time ranges, references. Unusable lines are quarantined with file, line and "
        "reason; repeated ids are superseded by one copy. The structural check gates everything downstream."
    ),
    check_specs=[
        AssetCheckSpec(
            STRUCTURE_CHECK,
            asset="fhir_profile",
            blocking=True,
            description=(
                "Valid JSON objects, resourceType matching the file, ids present and unique per type after "
                "superseding copies, references resolving; fails above the quarantine or dangling-reference limits."
            ),
        )
    ],
)
def fhir_profile(context: AssetExecutionContext, config: ProfileConfig, home: DataHome) -> MaterializeResult:
    batch_id = context.partition_key
    paths = home.phi()
    batch = load_batch(paths.batch_dir(batch_id))
    limits = ProfileLimits(config.max_quarantine_rate, config.max_dangling_rate)
    result = profile_batch(batch, limits, threads=config.threads)
    _store_profile(home, batch_id, result)
    quarantine = batch.batch_dir / QUARANTINE_DIR
    record = append_audit(
        context,
        home,
        "profile_export_batch",
        inputs={"manifest": batch.manifest_sha256},
        outputs={
            "profile": sha256_file(batch.batch_dir / PROFILE_FILE),
            "quarantine": sha256_file(quarantine / "quarantine.ndjson"),
        },
        counts={
            "lines": result.lines,
            "accepted": result.accepted,
            "quarantined": result.quarantined,
            "superseded": result.superseded,
            "references": result.references_total,
            "dangling_references": result.references_dangling,
        },
        details={"structural_check_passed": result.passed, "failures": result.failures, "limits": asdict(limits)},
    )
    check = AssetCheckResult(
        check_name=STRUCTURE_CHECK,
        passed=result.passed,
        severity=AssetCheckSeverity.ERROR,
        description="; ".join(result.failures) or "structure valid",
        metadata={
            "quarantine_rate": result.quarantine_rate,
            "max_quarantine_rate": limits.max_quarantine_rate,
            "dangling_rate": result.dangling_rate,
            "max_dangling_rate": limits.max_dangling_rate,
            "quarantine_reasons": MetadataValue.json(result.quarantine_reasons),
            "superseded_by_type": MetadataValue.json(result.duplicates),
        },
    )
    return MaterializeResult(metadata=_profile_metadata(result, record["hash"]), check_results=[check])


def _profile_metadata(result: ProfileResult, audit_hash: str) -> dict[str, object]:
    """What a data scientist wants to see first; dates are shown as years only (full dates are PHI)."""
    mb = result.bytes_read / 1e6
    return {
        "dagster/row_count": result.accepted,
        "lines": result.lines,
        "quarantined": result.quarantined,
        "quarantine_rate": round(result.quarantine_rate, 6),
        "superseded_duplicates": result.superseded,
        "references": result.references_total,
        "dangling_references": result.references_dangling,
        "dangling_rate": round(result.dangling_rate, 6),
        "types": md_table(
            ["type", "files", "lines", "resources", "quarantined", "superseded"],
            [(t.resource_type, t.files, t.lines, t.accepted, t.quarantined, t.superseded) for t in result.types],
        ),
        "quarantine_reasons": MetadataValue.json(result.quarantine_reasons),
        "code_systems": md_table(
            ["type", "system", "occurrences"],
            [(r["resource_type"], r["system"], r["occurrences"]) for r in result.code_systems],
        ),
        "element_presence": md_table(
            ["type", "element", "present", "rate"],
            [(r["resource_type"], r["element"], r["present"], r["rate"]) for r in result.element_presence],
            limit=400,
        ),
        "time_ranges_years": md_table(
            ["type", "element", "present", "from year", "to year"],
            [
                (r["resource_type"], r["element"], r["present"], r["min_year"], r["max_year"])
                for r in result.time_ranges
            ],
        ),
        "references_by_type": md_table(
            ["from", "to", "references", "dangling"],
            [(r["source_type"], r["target_type"], r["total"], r["dangling"]) for r in result.references],
        ),
        "seconds": result.seconds,
        "stored_mb_per_s": round(mb / result.seconds, 2) if result.seconds else 0.0,
        "audit_record": audit_hash,
    }


def _store_profile(home: DataHome, batch_id: str, result: ProfileResult) -> None:
    """Counts and rates only (no values, no dates) go to the warehouse, for trends across batches."""
    warehouse = home.warehouse()
    tables = {
        "fhir_profile_types": [asdict(t) for t in result.types],
        "fhir_profile_elements": result.element_presence,
        "fhir_profile_code_systems": result.code_systems,
        "fhir_profile_references": result.references,
    }
    for table, rows in tables.items():
        if rows:
            frame = pl.DataFrame(rows).with_columns(pl.lit(batch_id).alias("batch_id"))
            warehouse.replace_partition(table, frame, "batch_id", batch_id)
