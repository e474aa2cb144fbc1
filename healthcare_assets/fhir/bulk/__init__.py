"""FHIR Bulk Data Access (v2.0.0) client with SMART Backend Services auth, and a development server.

Plain Python (no Dagster): the Dagster asset, schedule and audit ledger are built on this API::

    client = BulkExportClient(auth=SmartBackendAuth(client_id=..., key_file=..., kid=...))
    result = client.run(BulkExportRequest(base_url, types=("Patient", "Encounter")), dest_dir, state_path)
    next_since = result.transaction_time

``devserver`` is imported on demand (it is only needed for development and tests); so is everything else here, on
first use of a name: importing one light submodule (``lines``, ``errors``) does not pull in HTTP and JWT libraries.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from healthcare_assets.fhir.bulk.auth import SmartBackendAuth, generate_private_jwk, public_jwks, system_scope
    from healthcare_assets.fhir.bulk.client import BulkExportClient, BulkExportResult, ClientSettings, ExportedFile
    from healthcare_assets.fhir.bulk.errors import (
        AuthError,
        BulkExportError,
        CountMismatchError,
        DownloadError,
        ExportCancelledError,
        ExportExpiredError,
        ExportFailedError,
        ExportTimeoutError,
        FilesExpiredError,
        KickoffError,
        NoSupportedTypesError,
        OutcomeIssue,
        ServerError,
        StateMismatchError,
    )
    from healthcare_assets.fhir.bulk.events import ProgressEvent, redact_url
    from healthcare_assets.fhir.bulk.manifest import ManifestError
    from healthcare_assets.fhir.bulk.request import BulkExportRequest, ExportLevel
    from healthcare_assets.fhir.bulk.retry import Backoff, RetryPolicy, parse_retry_after
    from healthcare_assets.fhir.bulk.transport import Timeouts

_EXPORTS = {
    "AuthError": "healthcare_assets.fhir.bulk.errors",
    "Backoff": "healthcare_assets.fhir.bulk.retry",
    "BulkExportClient": "healthcare_assets.fhir.bulk.client",
    "BulkExportError": "healthcare_assets.fhir.bulk.errors",
    "BulkExportRequest": "healthcare_assets.fhir.bulk.request",
    "BulkExportResult": "healthcare_assets.fhir.bulk.client",
    "ClientSettings": "healthcare_assets.fhir.bulk.client",
    "CountMismatchError": "healthcare_assets.fhir.bulk.errors",
    "DownloadError": "healthcare_assets.fhir.bulk.errors",
    "ExportCancelledError": "healthcare_assets.fhir.bulk.errors",
    "ExportExpiredError": "healthcare_assets.fhir.bulk.errors",
    "ExportFailedError": "healthcare_assets.fhir.bulk.errors",
    "ExportLevel": "healthcare_assets.fhir.bulk.request",
    "ExportTimeoutError": "healthcare_assets.fhir.bulk.errors",
    "ExportedFile": "healthcare_assets.fhir.bulk.client",
    "FilesExpiredError": "healthcare_assets.fhir.bulk.errors",
    "KickoffError": "healthcare_assets.fhir.bulk.errors",
    "ManifestError": "healthcare_assets.fhir.bulk.manifest",
    "NoSupportedTypesError": "healthcare_assets.fhir.bulk.errors",
    "OutcomeIssue": "healthcare_assets.fhir.bulk.errors",
    "ProgressEvent": "healthcare_assets.fhir.bulk.events",
    "RetryPolicy": "healthcare_assets.fhir.bulk.retry",
    "ServerError": "healthcare_assets.fhir.bulk.errors",
    "SmartBackendAuth": "healthcare_assets.fhir.bulk.auth",
    "StateMismatchError": "healthcare_assets.fhir.bulk.errors",
    "Timeouts": "healthcare_assets.fhir.bulk.transport",
    "generate_private_jwk": "healthcare_assets.fhir.bulk.auth",
    "parse_retry_after": "healthcare_assets.fhir.bulk.retry",
    "public_jwks": "healthcare_assets.fhir.bulk.auth",
    "redact_url": "healthcare_assets.fhir.bulk.events",
    "system_scope": "healthcare_assets.fhir.bulk.auth",
}
"""Public name -> the submodule that defines it; imported on first use (PEP 562)."""


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "AuthError",
    "Backoff",
    "BulkExportClient",
    "BulkExportError",
    "BulkExportRequest",
    "BulkExportResult",
    "ClientSettings",
    "CountMismatchError",
    "DownloadError",
    "ExportCancelledError",
    "ExportExpiredError",
    "ExportFailedError",
    "ExportLevel",
    "ExportTimeoutError",
    "ExportedFile",
    "FilesExpiredError",
    "KickoffError",
    "ManifestError",
    "NoSupportedTypesError",
    "OutcomeIssue",
    "ProgressEvent",
    "RetryPolicy",
    "ServerError",
    "SmartBackendAuth",
    "StateMismatchError",
    "Timeouts",
    "generate_private_jwk",
    "parse_retry_after",
    "public_jwks",
    "redact_url",
    "system_scope",
]


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
