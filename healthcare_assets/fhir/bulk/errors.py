"""Errors of the Bulk Data client, each carrying what an operator needs to act on it.

Server failures keep the HTTP status and the OperationOutcome issues the server sent, so the message says *why*
(for example ``error/not-found: Group 'x' is unknown``) instead of a bare status code. Messages never contain
tokens, keys or query strings of file URLs (which may be pre-signed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson


@dataclass(frozen=True)
class OutcomeIssue:
    """One ``OperationOutcome.issue``: severity, code and the human-readable text."""

    severity: str
    code: str
    diagnostics: str

    def __str__(self) -> str:
        label = f"{self.severity}/{self.code}"
        return f"{label}: {self.diagnostics}" if self.diagnostics else label


def parse_outcome(payload: Any) -> tuple[OutcomeIssue, ...]:
    """Issues of an OperationOutcome given as bytes, text or parsed JSON; empty when it is not one."""
    if isinstance(payload, (bytes, str)):
        try:
            payload = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return ()
    if not isinstance(payload, dict) or payload.get("resourceType") != "OperationOutcome":
        return ()
    issues = []
    for issue in payload.get("issue") or []:
        if not isinstance(issue, dict):
            continue
        text = issue.get("diagnostics") or (issue.get("details") or {}).get("text") or ""
        issues.append(
            OutcomeIssue(str(issue.get("severity", "error")), str(issue.get("code", "unknown")), str(text)[:2000])
        )
    return tuple(issues)


class BulkExportError(Exception):
    """Base class: anything that stops an export."""


class ServerError(BulkExportError):
    """The server answered with an error status (or could not be reached after retries)."""

    def __init__(
        self, what: str, url: str, status: int | None, issues: tuple[OutcomeIssue, ...] = (), detail: str = ""
    ):
        self.what, self.url, self.status, self.issues = what, url, status, issues
        status_text = f"HTTP {status}" if status is not None else "no response"
        explained = "; ".join(str(i) for i in issues) or detail or "no OperationOutcome in the response"
        super().__init__(f"{what} failed: {status_text} from {url}: {explained}")


class KickoffError(ServerError):
    """The ``$export`` kick-off request was refused."""


class ExportFailedError(ServerError):
    """The status endpoint reported that the export itself failed."""


class ExportExpiredError(ServerError):
    """The status URL is gone (404/410): the server dropped the job, so the export must start again."""


class DownloadError(ServerError):
    """An output, error or deleted file could not be downloaded."""


class FilesExpiredError(DownloadError):
    """A file URL answered 404/410: the server expired the files, so the export must start again."""


class AuthError(BulkExportError):
    """SMART Backend Services authorization failed (discovery, key, or the token endpoint refused)."""


class CountMismatchError(BulkExportError):
    """A downloaded file holds a different number of resources than the manifest's ``count``."""

    def __init__(self, resource_type: str, url: str, expected: int, actual: int):
        self.resource_type, self.url, self.expected, self.actual = resource_type, url, expected, actual
        super().__init__(
            f"{resource_type} file {url}: manifest count is {expected} but the file holds {actual} resources"
        )


class ExportTimeoutError(BulkExportError):
    """The export was not ready before the configured deadline (the job was cancelled on the server)."""


class ExportCancelledError(BulkExportError):
    """``cancel()`` was called (the job was cancelled on the server)."""


class StateMismatchError(BulkExportError):
    """The state file belongs to a different request; resuming it would mix two exports."""


class NoSupportedTypesError(BulkExportError):
    """None of the requested resource types is supported by the server, so there is nothing to export."""
