"""Appending an asset's record to the audit ledger from inside a Dagster step."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagster import AssetExecutionContext

from healthcare_assets import __version__
from healthcare_assets.audit import AuditEvent
from healthcare_assets.defs.resources import DataHome


def append_audit(
    context: AssetExecutionContext,
    home: DataHome,
    action: str,
    *,
    inputs: Mapping[str, str] | None = None,
    outputs: Mapping[str, str] | None = None,
    counts: Mapping[str, int | float] | None = None,
    details: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Record what this step read and wrote; returns the ledger record (its hash goes into metadata).

    A multi-asset step is recorded once, under the sorted, comma-joined keys of everything it materializes.
    """
    keys = sorted(context.assets_def.keys, key=lambda k: k.to_user_string())
    code_version = next((context.assets_def.code_versions_by_key.get(k) for k in keys), None)
    return home.ledger().append(
        AuditEvent(
            action=action,
            asset_key=",".join(k.to_user_string() for k in keys),
            partition=context.partition_key if context.has_partition_key else None,
            run_id=context.run_id,
            code_version=f"{code_version}+pkg{__version__}" if code_version else f"pkg{__version__}",
            inputs=inputs or {},
            outputs=outputs or {},
            counts=counts or {},
            details=details or {},
        )
    )
