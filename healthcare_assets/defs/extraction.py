"""Stage 1, extraction: land an export batch in the PHI zone and profile it behind a blocking structural gate."""
# No `from __future__ import annotations` here: Dagster reads the Config annotations at import.

import dataclasses
import os
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
)
from pydantic import Field

from healthcare_assets.audit.canonical import sha256_file
from healthcare_assets.defs.audit import append_audit
from healthcare_assets.defs.boundary import phi_boundary
from healthcare_assets.defs.bulk_export import (
    AUDITED_EVENTS,
    EXPORT_CHECK_SPEC,
    bulk_audit_details,
    bulk_metadata,
    export_check,
)
from healthcare_assets.defs.metadata import md_table
from healthcare_assets.defs.partitions import batch_check_spec, export_batches
from healthcare_assets.defs.resources import DataHome
from healthcare_assets.deid.published_profile import PublishedProfile, publish_profile
from healthcare_assets.deid.published_profile import check as check_published
from healthcare_assets.errors import ConfigError
from healthcare_assets.fhir.export_coverage import plan_since
from healthcare_assets.fhir.landing import land_batch, load_batch
from healthcare_assets.fhir.ndjson import public_file_name, public_resource_type
from healthcare_assets.fhir.profile import PROFILE_FILE, QUARANTINE_DIR, ProfileLimits, ProfileResult, profile_batch
from healthcare_assets.fhir.screen import DEFAULT_MAX_LINE_BYTES, validate_max_line_bytes
from healthcare_assets.fhir.sources import (
    BatchSource,
    BulkExportSource,
    NdjsonDirSource,
    SyntheticSource,
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
PARTIAL_POLICIES = ("warn", "block")


class BulkConfig(Config):
    """A FHIR Bulk Data $export. The private key never appears in config: only a file path or the NAME of the
    environment variable that holds it (default HEALTHCARE_ASSETS_BULK_PRIVATE_KEY)."""

    url: str | None = Field(default=None, description=f"FHIR base URL; default ${BULK_URL_ENV}.")
    level: str = Field(default="system", description="system, patient or group.")
    group_id: str | None = Field(default=None, description="Group id for a group-level export.")
    types: list[str] | None = Field(
        default=None,
        description="_type: resource types to export, always requested. Unset: the types the views read and the "
        "ones they reference, less those the server's CapabilityStatement does not list.",
    )
    since: str = Field(
        default="auto",
        description="auto: per type, from the last export of this server that covered it (the earliest of the "
        "requested types; a type never exported means a full export); none; or an instant such as "
        "2026-01-01T00:00:00Z.",
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
    check_capabilities: bool = Field(
        default=True,
        description="Read the server's CapabilityStatement: warn about requested types it does not list (and drop "
        "them from the default type list). Turn off for servers whose statement is wrong.",
    )
    fresh: bool = Field(
        default=False,
        description="Abandon an interrupted export of the same request (DELETE on the server, staging removed) "
        "instead of resuming it.",
    )
    partial_export: str = Field(
        default="warn",
        description="An export whose error files report failures lands what was generated; warn: it goes "
        "downstream with a failed WARN check; block: the check fails with ERROR and blocks downstream.",
    )


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


def synthetic_config(values: object):
    """The generator's config from this config (or CLI arguments); its checks' messages quote only settings."""
    from healthcare_assets.synthetic import SyntheticConfig, SyntheticConfigError

    try:
        return SyntheticConfig(**synthetic_options(values))
    except SyntheticConfigError as exc:
        raise ConfigError(f"synthetic: {exc}") from None


def build_source(config: RawFhirConfig, batches_dir: Path | None = None, on_event=None) -> BatchSource:
    if config.source == "bulk":
        return build_bulk_source(config.bulk, batches_dir, on_event)
    if config.source == "ndjson_dir":
        if not config.path:
            raise ConfigError("source ndjson_dir needs `path`: a folder of *.ndjson or *.ndjson.gz files")
        return NdjsonDirSource(Path(config.path))
    if config.source == "synthetic":
        return SyntheticSource(synthetic_config(config))
    raise ConfigError(f"unknown source {config.source!r}; expected one of {', '.join(SOURCES)}")


def build_bulk_source(bulk: BulkConfig, batches_dir: Path | None = None, on_event=None) -> BulkExportSource:
    from healthcare_assets.fhir.bulk import Backoff, BulkExportRequest, ClientSettings, RetryPolicy, SmartBackendAuth

    url = bulk.url or os.environ.get(BULK_URL_ENV)
    if not url:
        raise ConfigError(f"source bulk needs the FHIR server's base URL: config bulk.url or ${BULK_URL_ENV}")
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
    if bulk.partial_export not in PARTIAL_POLICIES:
        raise ConfigError(f"bulk.partial_export must be warn or block, not {bulk.partial_export!r}")
    explicit_types = bulk.types is not None
    request = BulkExportRequest(
        base_url=url, level=bulk.level, group_id=bulk.group_id,
        types=tuple(bulk.types if explicit_types else DEFAULT_BULK_TYPES), type_filters=tuple(bulk.type_filters),
    )  # fmt: skip
    plan = plan_since(batches_dir, BulkExportSource(request).describe(), request) if batches_dir else None
    since = None if bulk.since in ("none", "") else bulk.since
    if since == "auto":
        since = plan.since if plan else None
    if since:
        request = dataclasses.replace(request, since=since)
    settings = ClientSettings(
        poll_timeout=bulk.poll_timeout_s,
        ca_bundle=Path(bulk.ca_bundle) if bulk.ca_bundle else None,
        retry=RetryPolicy(
            max_attempts=bulk.max_attempts,
            backoff=Backoff(initial=bulk.retry_initial_s, maximum=max(60.0, bulk.retry_initial_s)),
        ),
        check_capabilities=bulk.check_capabilities,
        drop_unlisted_types=not explicit_types,  # a user's explicit types are always requested
    )
    return BulkExportSource(request, auth, settings, on_event=on_event, fresh=bulk.fresh, since_plan=plan)


@asset(
    key="raw_fhir_ndjson",
    group_name=GROUP,
    partitions_def=export_batches,
    code_version="raw_fhir_ndjson-3",
    kinds={"fhir", "ndjson"},
    tags={"zone": "phi"},
    description=(
        "One FHIR export batch landed in the PHI zone (directory 0700): one NDJSON file per resource type "
        "and a manifest with source, batch id, time and per-file type, line count, size and SHA-256. Files "
        "unusable as a whole (unknown type, damaged gzip) are set aside and listed for the profile to quarantine."
    ),
    check_specs=[EXPORT_CHECK_SPEC],
)
@phi_boundary
def raw_fhir_ndjson(context: AssetExecutionContext, config: RawFhirConfig, home: DataHome) -> MaterializeResult:
    batch_id = context.partition_key
    paths = home.phi()

    def audit_export_event(event) -> None:
        """Bulk export kick-off, completion, restarts, cancellation, adoption and abandonment go to the ledger."""
        if event.kind in AUDITED_EVENTS:
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
        details={
            "source": manifest["source"],
            "transaction_time": manifest["transaction_time"],
            **(bulk_audit_details(manifest) if manifest["source"]["kind"] == "bulk" else {}),
        },
    )
    metadata = {
        "batch_id": batch_id,
        "source": manifest["source"]["kind"],
        "dagster/row_count": manifest["totals"]["lines"],
        "resource_types": manifest["totals"]["types"],
        "bytes": manifest["totals"]["bytes"],
        "files": md_table(
            ["type", "file", "lines", "bytes", "sha256"],
            [
                (
                    public_resource_type(f["type"]),
                    public_file_name(f["path"]),
                    f["lines"],
                    f["bytes"],
                    f["sha256"][:16],
                )
                for f in files
            ],
        ),
        "rejected_files": len(manifest["rejected_files"]),
        "manifest_sha256": landed.manifest_sha256,
        "batch_path": MetadataValue.path(str(landed.batch_dir)),
        "audit_record": record["hash"],
    }
    if manifest["rejected_files"]:
        metadata["rejected_files_list"] = md_table(
            ["file", "type", "reason", "bytes"],
            [
                (public_file_name(f["path"]), public_resource_type(f["type"]), f["reason"], f["bytes"])
                for f in manifest["rejected_files"]
            ],
        )
    for key in ("index_stays", "readmission_rate", "oracle_auroc"):
        if key in manifest["details"]:
            metadata[f"synthetic_{key}"] = manifest["details"][key]
    if manifest["source"]["kind"] == "bulk":
        metadata.update(bulk_metadata(manifest))
    check = export_check(manifest, config.bulk.partial_export)
    if not check.passed:
        context.log.warning(f"export_completeness: {check.description}")
    return MaterializeResult(metadata=metadata, check_results=[check])


class ProfileConfig(Config):
    max_quarantine_rate: float = Field(default=0.01, description="Gate: quarantined lines / all lines.")
    max_dangling_rate: float = Field(default=0.01, description="Gate: unresolved references / references.")
    max_superseded_rate: float = Field(
        default=0.5, description="Gate: lines superseded by a later copy of the same resource / all lines."
    )
    threads: int = Field(default=2, description="DuckDB threads for profiling.")
    max_line_bytes: int = Field(
        default=DEFAULT_MAX_LINE_BYTES,
        description="Lines longer than this (bytes) are quarantined unread as line_too_long (1 KiB to 256 MiB).",
    )


STRUCTURE_CHECK = "structural_integrity"


@asset(
    key="fhir_profile",
    group_name=GROUP,
    deps=["raw_fhir_ndjson"],
    partitions_def=export_batches,
    code_version="fhir_profile-3",
    kinds={"duckdb"},
    tags={"zone": "phi"},
    description=(
        "Profile of one export batch computed by DuckDB straight from the NDJSON: resources per type, element "
        "presence, code systems, time ranges, references. Unusable lines (not UTF-8, over the line limit, "
        "malformed, wrong type, no id) are quarantined with file, line and reason; repeated ids are superseded "
        "by one copy. The structural check gates everything downstream."
    ),
    check_specs=[
        batch_check_spec(
            STRUCTURE_CHECK,
            asset="fhir_profile",
            blocking=True,
            description=(
                "Valid JSON objects, resourceType matching the file, ids present and unique per type after "
                "superseding copies, references resolving (in Patient/Group exports, references outside the patient "
                "compartment are reported, not dangling); fails above the quarantine, dangling-reference or "
                "superseded-line limits."
            ),
        )
    ],
)
@phi_boundary
def fhir_profile(context: AssetExecutionContext, config: ProfileConfig, home: DataHome) -> MaterializeResult:
    batch_id = context.partition_key
    paths = home.phi()
    batch = load_batch(paths.batch_dir(batch_id))
    limits = ProfileLimits(config.max_quarantine_rate, config.max_dangling_rate, config.max_superseded_rate)
    try:
        validate_max_line_bytes(config.max_line_bytes)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    result = profile_batch(batch, limits, threads=config.threads, max_line_bytes=config.max_line_bytes)
    # Only allow-listed strings or replacements leave the PHI zone, and they are scanned first (deid gate).
    published = publish_profile(result, _reference_year(batch.manifest))
    check_published(published, batch, threads=config.threads)
    _store_profile(home, batch_id, published)
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
            "outside_compartment_references": result.references_outside_compartment,
        },
        details={
            "structural_check_passed": result.passed,
            "failures": published.failures,
            "limits": asdict(limits),
            "published_strings_replaced": published.replaced,
        },
    )
    check = AssetCheckResult(
        check_name=STRUCTURE_CHECK,
        passed=result.passed,
        severity=AssetCheckSeverity.ERROR,
        description="; ".join(published.failures) or "structure valid",
        metadata={
            "quarantine_rate": result.quarantine_rate,
            "max_quarantine_rate": limits.max_quarantine_rate,
            "dangling_rate": result.dangling_rate,
            "max_dangling_rate": limits.max_dangling_rate,
            "superseded_rate": result.superseded_rate,
            "max_superseded_rate": limits.max_superseded_rate,
            "outside_compartment_references": result.references_outside_compartment,
            "quarantine_reasons": MetadataValue.json(result.quarantine_reasons),
            "superseded_by_type": MetadataValue.json(published.duplicates),
        },
    )
    return MaterializeResult(metadata=_profile_metadata(result, published, record["hash"]), check_results=[check])


def _reference_year(manifest: dict) -> int:
    """The export's year: a time-range year that would reveal an age over 89 then is shown as <=YYYY."""
    stamp = manifest.get("transaction_time") or manifest.get("landed_at") or ""
    return int(stamp[:4]) if stamp[:4].isdigit() else datetime.now(UTC).year


def _profile_metadata(result: ProfileResult, published: PublishedProfile, audit_hash: str) -> dict[str, object]:
    """What a data scientist wants to see first; dates are shown as years only (full dates are PHI), and every
    type, element and system name is allow-listed or replaced (``deid/published_profile.py``)."""
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
        "outside_compartment_references": result.references_outside_compartment,
        "superseded_rate": round(result.superseded_rate, 6),
        "types": md_table(
            ["type", "files", "lines", "resources", "quarantined", "superseded"],
            [
                (t["resource_type"], t["files"], t["lines"], t["accepted"], t["quarantined"], t["superseded"])
                for t in published.types
            ],
        ),
        "quarantine_reasons": MetadataValue.json(result.quarantine_reasons),
        "quarantine_first_lines": md_table(
            ["file", "line", "reason"],
            [(public_file_name(q["file"]), q["line"], q["reason_kind"]) for q in result.quarantine_sample],
        ),
        "max_line_bytes": result.max_line_bytes,
        "rejected_files": md_table(
            ["file", "type", "reason", "lines quarantined"],
            [
                (public_file_name(r["path"]), public_resource_type(r["type"]), r["reason"], r["lines"])
                for r in result.rejected_files
            ],
        ),
        "code_systems": md_table(
            ["type", "system", "occurrences"],
            [(r["resource_type"], r["system"], r["occurrences"]) for r in published.code_systems],
        ),
        "element_presence": md_table(
            ["type", "element", "present", "rate"],
            [(r["resource_type"], r["element"], r["present"], r["rate"]) for r in published.elements],
            limit=400,
        ),
        "time_ranges_years": md_table(
            ["type", "element", "present", "from year", "to year"],
            [
                (r["resource_type"], r["element"], r["present"], r["min_year"], r["max_year"])
                for r in published.time_ranges
            ],
        ),
        "references_by_type": md_table(
            ["from", "to", "references", "dangling", "type not in batch", "outside compartment"],
            [
                (r["source_type"], r["target_type"], r["total"], r["dangling"], r["unexported"])
                + (r["outside_compartment"],)
                for r in published.references
            ],
        ),
        "published_strings_replaced": MetadataValue.json(published.replaced),
        "seconds": result.seconds,
        "stored_mb_per_s": round(mb / result.seconds, 2) if result.seconds else 0.0,
        "audit_record": audit_hash,
    }


def _store_profile(home: DataHome, batch_id: str, published: PublishedProfile) -> None:
    """Counts and rates only (no values, no dates; names allow-listed or replaced) go to the warehouse, for trends
    across batches."""
    tables = {
        "fhir_profile_types": published.types,
        "fhir_profile_elements": published.elements,
        "fhir_profile_code_systems": published.code_systems,
        "fhir_profile_references": published.references,
    }
    frames = {
        table: pl.DataFrame(rows).with_columns(pl.lit(batch_id).alias("batch_id"))
        for table, rows in tables.items()
        if rows
    }
    if frames:  # one transaction: the four tables always describe the same profile of the batch
        home.warehouse().replace_partition_frames(frames, "batch_id", batch_id)
