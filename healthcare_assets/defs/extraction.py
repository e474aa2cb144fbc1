"""Stage 1, extraction: land an export batch in the PHI zone and profile it behind a blocking structural gate."""
# No `from __future__ import annotations` here: Dagster reads the Config annotations at import.

import dataclasses
import os
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
from healthcare_assets.fhir.sources import (
    BatchSource,
    BulkExportSource,
    NdjsonDirSource,
    SyntheticSource,
    latest_transaction_time,
)
from healthcare_assets.synthetic.risk import SIGNAL_DEFAULT, SIGNAL_REALISTIC

GROUP = "extraction"
SOURCES = ("synthetic", "ndjson_dir", "bulk")
# What a Bulk export asks for by default: the types the project's views read, and who they reference.
DEFAULT_BULK_TYPES = [
    "Patient", "Encounter", "Condition", "Observation", "MedicationRequest", "Procedure", "Practitioner",
    "Organization",
]  # fmt: skip
BULK_URL_ENV = "HEALTHCARE_ASSETS_BULK_URL"
BULK_CLIENT_ENV = "HEALTHCARE_ASSETS_BULK_CLIENT_ID"
BULK_KID_ENV = "HEALTHCARE_ASSETS_BULK_KID"
BULK_KEY_ENV = "HEALTHCARE_ASSETS_BULK_PRIVATE_KEY"


class BulkConfig(Config):
    """A FHIR Bulk Data $export. The private key never appears in config: only a file path or the NAME of the
    environment variable that holds it (default HEALTHCARE_ASSETS_BULK_PRIVATE_KEY)."""

    url: str | None = Field(default=None, description=f"FHIR base URL; default ${BULK_URL_ENV}.")
    level: str = Field(default="system", description="system, patient or group.")
    group_id: str | None = Field(default=None, description="Group id for a group-level export.")
    types: list[str] = Field(default=DEFAULT_BULK_TYPES, description="_type: resource types to export.")
    since: str = Field(
        default="auto",
        description="auto: the transactionTime of the last export from this server (incremental); none; or an "
        "instant such as 2026-01-01T00:00:00Z.",
    )
    type_filters: list[str] = Field(default=[], description="_typeFilter queries.")
    client_id: str | None = Field(
        default=None, description=f"SMART Backend Services client id (enables auth); default ${BULK_CLIENT_ENV}."
    )
    key_file: str | None = Field(default=None, description="Private key file (JWK or PEM).")
    key_env: str = Field(default=BULK_KEY_ENV, description="Environment variable holding the private key.")
    kid: str | None = Field(default=None, description=f"Key id registered with the server; default ${BULK_KID_ENV}.")
    algorithm: str | None = Field(default=None, description="RS384 or ES384 (inferred from the key if unset).")
    scope: str = Field(default="system/*.read", description="System scopes (v1 .read or v2 .rs).")
    token_url: str | None = Field(default=None, description="Token endpoint when .well-known cannot be read.")
    ca_bundle: str | None = Field(default=None, description="CA bundle for a private CA (TLS stays verified).")
    poll_timeout_s: float = Field(default=6 * 3600.0, description="Give up (and DELETE the job) after this.")
    max_attempts: int = Field(default=6, description="Tries per request (kick-off, poll error, file, token).")
    retry_initial_s: float = Field(default=1.0, description="First backoff delay when no Retry-After is sent.")


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
    signal_strength: float = Field(
        default=SIGNAL_DEFAULT,
        description=f"synthetic: how strongly the true risk depends on the chart ({SIGNAL_DEFAULT} default, oracle "
        f"AUROC ~0.94; {SIGNAL_REALISTIC} realistic, ~0.70; 1.0 the original cohort).",
    )
    bulk: BulkConfig = Field(default=BulkConfig(), description="bulk: the FHIR server and what to export.")


SYNTHETIC_OPTIONS = ("patients", "seed", "case_mix_shift", "creatinine_shift", "icd10_dropped")
SYNTHETIC_RATES = ("malformed_rate", "duplicate_rate")  # unset: the generator's defaults
SYNTHETIC_UNSET_IS_DEFAULT = (*SYNTHETIC_RATES, "signal_strength")


def synthetic_options(values: object) -> dict[str, object]:
    """The synthetic cohort's options from anything carrying them as attributes (this config, CLI arguments)."""
    options = {name: getattr(values, name) for name in SYNTHETIC_OPTIONS}
    options.update(
        {name: getattr(values, name) for name in SYNTHETIC_UNSET_IS_DEFAULT if getattr(values, name) is not None}
    )
    return options


def build_source(config: RawFhirConfig, batches_dir: Path | None = None, on_event=None) -> BatchSource:
    if config.source == "bulk":
        return build_bulk_source(config.bulk, batches_dir, on_event)
    if config.source == "ndjson_dir":
        if not config.path:
            raise ValueError("source ndjson_dir needs `path`: a folder of *.ndjson or *.ndjson.gz files")
        return NdjsonDirSource(Path(config.path))
    if config.source == "synthetic":
        from healthcare_assets.synthetic import SyntheticConfig

        return SyntheticSource(SyntheticConfig(**synthetic_options(config)))
    raise ValueError(f"unknown source {config.source!r}; expected one of {', '.join(SOURCES)}")


def build_bulk_source(bulk: BulkConfig, batches_dir: Path | None = None, on_event=None) -> BulkExportSource:
    from healthcare_assets.fhir.bulk import Backoff, BulkExportRequest, ClientSettings, RetryPolicy, SmartBackendAuth

    url = bulk.url or os.environ.get(BULK_URL_ENV)
    if not url:
        raise ValueError(f"source bulk needs the FHIR server's base URL: config bulk.url or ${BULK_URL_ENV}")
    client_id = bulk.client_id or os.environ.get(BULK_CLIENT_ENV)
    auth = None
    if client_id:
        auth = SmartBackendAuth(
            client_id=client_id,
            key_file=bulk.key_file,
            key_env=None if bulk.key_file else bulk.key_env,
            kid=bulk.kid or os.environ.get(BULK_KID_ENV),
            algorithm=bulk.algorithm,
            scope=bulk.scope,
            token_url=bulk.token_url,
        )
    request = BulkExportRequest(
        base_url=url, level=bulk.level, group_id=bulk.group_id, types=tuple(bulk.types),
        type_filters=tuple(bulk.type_filters),
    )  # fmt: skip
    since = None if bulk.since in ("none", "") else bulk.since
    if since == "auto":
        since = latest_transaction_time(batches_dir, BulkExportSource(request).describe()) if batches_dir else None
    if since:
        request = dataclasses.replace(request, since=since)
    settings = ClientSettings(
        poll_timeout=bulk.poll_timeout_s,
        ca_bundle=Path(bulk.ca_bundle) if bulk.ca_bundle else None,
        retry=RetryPolicy(
            max_attempts=bulk.max_attempts,
            backoff=Backoff(initial=bulk.retry_initial_s, maximum=max(60.0, bulk.retry_initial_s)),
        ),
    )
    return BulkExportSource(request, auth, settings, on_event=on_event)


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

    def audit_export_event(event) -> None:
        """Bulk export kick-off, completion, restarts and cancellation go to the ledger as they happen."""
        if event.kind in ("kickoff", "complete", "restart", "cancel"):
            append_audit(context, home, f"bulk_export_{event.kind}", details=dict(event.data))

    source = build_source(config, paths.batches, on_event=audit_export_event)
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
    if manifest["source"]["kind"] == "bulk":
        details = manifest["details"]
        metadata["transaction_time"] = manifest["transaction_time"]
        metadata["since"] = manifest["source"].get("since") or "(full export)"
        metadata["bulk_skipped_types"] = ", ".join(details["skipped_types"]) or "none"
        metadata["bulk_error_files"] = len(details["error_files"])
        metadata["bulk_deleted_files"] = len(details["deleted_files"])
        metadata["bulk_resumed"] = details["resumed"]
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
        "unexported_type_references": result.references_unexported,
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
            ["from", "to", "references", "dangling", "type not in batch"],
            [
                (r["source_type"], r["target_type"], r["total"], r["dangling"], r["unexported"])
                for r in result.references
            ],
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
