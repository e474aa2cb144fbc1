"""What ``raw_fhir_ndjson`` shows and records about a Bulk export batch, and its export-completeness check.

Kept apart from ``extraction.py`` so the asset stays thin: the verdict comes from ``fhir.export_outcome``, the
per-type ``_since`` from ``fhir.export_coverage``; this module turns them into metadata, ledger details and
the check result. Nothing here carries resource content: counts, type names, issue codes, redacted URLs.
"""

from dagster import AssetCheckResult, AssetCheckSeverity, MetadataValue

from healthcare_assets.defs.metadata import md_table
from healthcare_assets.defs.partitions import batch_check_spec
from healthcare_assets.fhir.export_outcome import EMPTY, PARTIAL, judge_export

EXPORT_CHECK = "export_completeness"
# Progress events of the Bulk client (and of resume/abandon) that go to the audit ledger as they happen.
AUDITED_EVENTS = ("kickoff", "complete", "restart", "cancel", "adopt", "abandon")

EXPORT_CHECK_SPEC = batch_check_spec(
    EXPORT_CHECK,
    asset="raw_fhir_ndjson",
    blocking=True,  # only an ERROR-severity failure blocks: an empty full export, or a partial one under "block"
    description=(
        "A Bulk export whose error files report failures is partial: it lands what was generated and, by "
        "default (bulk.partial_export: warn), goes downstream with this check failed as a WARNING; with "
        "'block' the check fails as an ERROR and blocks downstream. A full export that returned no resources "
        "at all (for example a mistyped group id) fails as an ERROR. Other sources always pass."
    ),
)


def export_check(manifest: dict, partial_policy: str) -> AssetCheckResult:
    verdict = judge_export(manifest)
    failed = verdict.status in (EMPTY, PARTIAL)
    blocking = verdict.status == EMPTY or (verdict.status == PARTIAL and partial_policy == "block")
    details = manifest.get("details") or {}
    return AssetCheckResult(
        check_name=EXPORT_CHECK,
        passed=not failed,
        severity=AssetCheckSeverity.ERROR if blocking else AssetCheckSeverity.WARN,
        description=verdict.message,
        metadata={
            "status": verdict.status,
            "partial_export_policy": partial_policy,
            "error_issues": md_table(
                ["severity", "code", "type", "issues"],
                [(i["severity"], i["code"], i["type"], i["count"]) for i in details.get("error_issues") or []],
            ),
        },
    )


def bulk_metadata(manifest: dict) -> dict[str, object]:
    """The Bulk-specific part of ``raw_fhir_ndjson``'s metadata."""
    details = manifest["details"]
    plan = details.get("since_plan") or {}
    deleted = sum(f["lines"] for f in details["deleted_files"])
    return {
        "transaction_time": manifest["transaction_time"],
        "since": manifest["source"].get("since") or "(full export)",
        "since_reason": plan.get("reason") or "given explicitly",
        "since_by_type": md_table(
            ["type", "last export covering it", "covered by this export"],
            [
                (
                    t,
                    when or ("never (not supported by the server)" if t in plan.get("unsupported", []) else "never"),
                    "yes" if any(c["type"] == t for c in details.get("coverage", [])) else "no",
                )
                for t, when in (plan.get("last_covered") or {}).items()
            ],
        ),
        "bulk_skipped_types": ", ".join(details["skipped_types"]) or "none",
        "bulk_error_files": len(details["error_files"]),
        "bulk_error_issues": md_table(
            ["severity", "code", "type", "issues"],
            [(i["severity"], i["code"], i["type"], i["count"]) for i in details.get("error_issues") or []],
        ),
        "bulk_partial": bool(details.get("partial")),
        "bulk_deleted_files": len(details["deleted_files"]),
        "bulk_deleted_resources": deleted,
        "bulk_resumed": details["resumed"] or bool(details.get("adopted_from")),
        "bulk_adopted_from": details.get("adopted_from") or "none",
        "bulk_abandoned": ", ".join(details.get("abandoned") or []) or "none",
        "bulk_warnings": MetadataValue.json(details.get("warnings") or []),
    }


def bulk_audit_details(manifest: dict) -> dict[str, object]:
    """The Bulk-specific details of the ``land_export_batch`` ledger record."""
    details = manifest["details"]
    return {
        "partial": bool(details.get("partial")),
        "error_issues": details.get("error_issues") or [],
        "unreadable_error_lines": details.get("unreadable_error_lines", 0),
        "deleted_resources": sum(f["lines"] for f in details["deleted_files"]),
        "coverage": details.get("coverage") or [],
        "since_plan": details.get("since_plan"),
        "adopted_from": details.get("adopted_from"),
        "abandoned": details.get("abandoned") or [],
    }
