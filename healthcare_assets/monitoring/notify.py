"""Alerts: a notifier with a log sink and a webhook sink.

An ``Alert`` carries aggregates only (batch id, model version, drifted share and column names, prediction mean
shift, batch AUROC, the reasons): ``Alert`` refuses any other detail key, so no patient row or identifier can
ride along. Every alert also goes to the audit ledger (the caller's ``record`` callback). A failing sink is
reported, never raised: an unreachable webhook must not hide the alert from the log or the ledger.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

WEBHOOK_ENV = "HEALTHCARE_ASSETS_ALERT_WEBHOOK"
ALLOWED_DETAILS = frozenset(
    {
        "batch_id",
        "batch_ids",
        "model",
        "model_version",
        "drifted_share",
        "drifted_columns",
        "prediction_mean_shift",
        "batch_auroc",
        "thresholds",
        "report",
        "run_key",
    }
)


@dataclass(frozen=True)
class Alert:
    kind: str  # drift_detected, retraining_requested
    summary: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.details) - ALLOWED_DETAILS)
        if unknown:
            raise ValueError(f"alert detail(s) {unknown} are not allowed (aggregates only: {sorted(ALLOWED_DETAILS)})")

    def payload(self) -> dict[str, Any]:
        return {
            "source": "healthcare-assets",
            "kind": self.kind,
            "summary": self.summary,
            "details": dict(self.details),
        }


class Sink(Protocol):
    name: str

    def send(self, alert: Alert) -> None: ...


class LogSink:
    name = "log"

    def __init__(self, logger: Any | None = None):
        self.logger = logger or logging.getLogger("healthcare_assets.alerts")

    def send(self, alert: Alert) -> None:
        self.logger.warning(f"ALERT {alert.kind}: {alert.summary}")


class WebhookSink:
    """POSTs the alert as JSON (``Content-Type: application/json``) to a configured URL."""

    name = "webhook"

    def __init__(self, url: str, timeout_s: float = 5.0):
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"alert webhook URL must be http(s), got a {url.split(':', 1)[0]!r} URL")
        self.url, self.timeout_s = url, timeout_s

    def send(self, alert: Alert) -> None:
        import requests

        response = requests.post(
            self.url,
            data=json.dumps(alert.payload()),
            timeout=self.timeout_s,
            headers={"Content-Type": "application/json"},
        )
        response.raise_for_status()


@dataclass
class Delivery:
    sent: list[str]
    failed: dict[str, str]  # sink -> error class and status (never the payload)


class Notifier:
    def __init__(self, sinks: Sequence[Sink], record: Callable[[Alert, Delivery], Any] | None = None):
        self.sinks, self.record = list(sinks), record

    def notify(self, alert: Alert) -> Delivery:
        delivery = Delivery([], {})
        for sink in self.sinks:
            try:
                sink.send(alert)
                delivery.sent.append(sink.name)
            except Exception as exc:  # noqa: BLE001 - one sink's failure must not stop the others
                status = getattr(getattr(exc, "response", None), "status_code", None)
                delivery.failed[sink.name] = type(exc).__name__ + (f" (HTTP {status})" if status else "")
        if self.record is not None:
            self.record(alert, delivery)
        return delivery


def notifier(logger: Any | None, webhook_url: str | None, record: Callable[[Alert, Delivery], Any] | None) -> Notifier:
    sinks: list[Sink] = [LogSink(logger)]
    if webhook_url:
        sinks.append(WebhookSink(webhook_url))
    return Notifier(sinks, record)
