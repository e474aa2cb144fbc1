"""FHIR Bulk Data Access (v2.0.0) client with SMART Backend Services auth, and a development server.

Plain Python (no Dagster): the Dagster asset, schedule and audit ledger are built on this API::

    client = BulkExportClient(auth=SmartBackendAuth(client_id=..., key_file=..., kid=...))
    result = client.run(BulkExportRequest(base_url, types=("Patient", "Encounter")), dest_dir, state_path)
    next_since = result.transaction_time

``devserver`` is imported on demand (it is only needed for development and tests).
"""

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
