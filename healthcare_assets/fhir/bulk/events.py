"""Structured progress events: what the client is doing, safe to log and to append to the audit ledger.

Events carry counts, types, hashes and URLs without query strings (file URLs may be pre-signed, which makes
their query a credential). Tokens and keys are never put into an event.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

logger = logging.getLogger("healthcare_assets.fhir.bulk")

# Event kinds, in the order an export emits them.
KINDS = (
    "resume",  # a state file was found: status_url, completed files
    "capabilities",  # CapabilityStatement read: supported type count
    "type_skipped",  # a requested type the server does not support: type, reason
    "token",  # an access token was obtained: expires_in, scope (never the token)
    "kickoff",  # export accepted: request_url, method, status_url
    "poll",  # status answered 202: progress, delay
    "retry",  # a request will be retried: what, status/error, attempt, delay
    "manifest",  # export complete: transaction_time, output/error/deleted file counts, pages
    "file_skipped",  # already downloaded by an earlier run: type, path, lines, sha256
    "file_complete",  # downloaded and verified: kind, type, path, lines, bytes, sha256, url
    "restart",  # the server lost the job or its files: starting a new export
    "cancel",  # DELETE sent for the job: reason
    "warning",  # something the operator should know; message
    "complete",  # all files present: totals
)


def redact_url(url: str) -> str:
    """``url`` without its query string and fragment (kept: scheme, host, port, path)."""
    parts = urlsplit(url)
    query = "…" if parts.query else ""
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


@dataclass(frozen=True)
class ProgressEvent:
    kind: str
    data: Mapping[str, Any] = field(default_factory=dict)

    @property
    def message(self) -> str:
        details = ", ".join(f"{k}={v}" for k, v in self.data.items())
        return f"{self.kind}: {details}" if details else self.kind


ProgressFn = Callable[[ProgressEvent], None]


class Emitter:
    """Sends each event to the logger and to the caller's ``on_progress``.

    ``on_progress`` always runs on the thread that created the emitter (the one that called ``run``): events
    raised by download workers are queued and delivered by ``drain()``, so a callback never needs locking and
    an exception it raises (for example KeyboardInterrupt) surfaces in ``run``.
    """

    def __init__(self, on_progress: ProgressFn | None = None):
        self.on_progress = on_progress
        self._owner = threading.get_ident()
        self._queued: queue.SimpleQueue[ProgressEvent] = queue.SimpleQueue()

    def __call__(self, kind: str, /, **data: Any) -> None:
        event = ProgressEvent(kind, data)
        level = logging.WARNING if kind in ("type_skipped", "warning", "restart") else logging.INFO
        logger.log(level, "bulk export %s", event.message)
        if self.on_progress is None:
            return
        if threading.get_ident() == self._owner:
            self.drain()
            self.on_progress(event)
        else:
            self._queued.put(event)

    def drain(self) -> None:
        """Deliver events queued by other threads (call from the owner thread)."""
        while self.on_progress is not None:
            try:
                event = self._queued.get_nowait()
            except queue.Empty:
                return
            self.on_progress(event)
