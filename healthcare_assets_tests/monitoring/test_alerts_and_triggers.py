"""Retraining decisions, batch performance on matured labels, and the notifier's sinks."""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np
import pytest

from healthcare_assets.monitoring.notify import Alert, LogSink, Notifier, WebhookSink, notifier
from healthcare_assets.monitoring.performance import labelled_performance, prediction_shift
from healthcare_assets.monitoring.triggers import Thresholds, evaluate


def test_each_criterion_fires_alone_and_says_why() -> None:
    limits = Thresholds()
    quiet = evaluate({"drifted_share": 0.1, "prediction_mean_shift": -0.05, "batch_auroc": 0.9}, limits)
    assert not quiet.retrain and "drifted share 0.100" in quiet.text() and "batch AUROC 0.900" in quiet.text()
    assert evaluate({"drifted_share": 0.31, "prediction_mean_shift": 0.0}, limits).reasons[0].startswith("drifted")
    assert evaluate({"drifted_share": 0.0, "prediction_mean_shift": -0.25}, limits).retrain  # either direction
    assert evaluate({"drifted_share": 0.0, "prediction_mean_shift": 0.0, "batch_auroc": 0.80}, limits).retrain
    not_evaluable = evaluate({"drifted_share": 0.0, "prediction_mean_shift": 0.0, "batch_auroc": None}, limits)
    assert not not_evaluable.retrain and "not evaluable" in not_evaluable.text()
    assert not evaluate({"drifted_share": 0.31}, Thresholds(max_drifted_share=0.5)).retrain  # configurable


def test_batch_performance_needs_enough_matured_labels() -> None:
    rng = np.random.default_rng(0)
    p = rng.random(2000)
    y = (rng.random(2000) < p).astype(float)
    observed = np.ones(2000, dtype=bool)
    observed[:500] = False  # pending labels are left out, never counted as negatives
    good = labelled_performance(y, p, observed, min_events=50)
    assert good.evaluable and good.observed == 1500 and 0.7 < good.auroc < 0.9
    assert abs(good.calibration_slope - 1.0) < 0.2 and abs(good.observed_rate - good.expected_rate) < 0.05
    few = labelled_performance(y[:60], p[:60], np.ones(60, dtype=bool), min_events=50)
    assert not few.evaluable and few.auroc is None and "50 of each are needed" in few.reason
    shift = prediction_shift(np.full(10, 0.2), np.full(10, 0.26))
    assert shift.relative_mean_shift == pytest.approx(0.3) and shift.batch_quantiles["p50"] == pytest.approx(0.26)


class _Receiver(BaseHTTPRequestHandler):
    received: list[dict] = []
    status = 200

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def receiver():
    _Receiver.received, _Receiver.status = [], 200
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", _Receiver
    server.shutdown()


def test_log_and_webhook_sinks_and_the_record(receiver, caplog: pytest.LogCaptureFixture) -> None:
    url, handler = receiver
    recorded = []
    alert = Alert("drift_detected", "batch b1: drifted share 0.400", {"batch_id": "b1", "drifted_share": 0.4})
    with caplog.at_level(logging.WARNING, logger="healthcare_assets.alerts"):
        delivery = notifier(None, url, lambda a, d: recorded.append((a, d))).notify(alert)
    assert delivery.sent == ["log", "webhook"] and not delivery.failed
    assert handler.received == [alert.payload()] and handler.received[0]["details"]["batch_id"] == "b1"
    assert "ALERT drift_detected: batch b1" in caplog.text
    assert recorded[0][0] is alert and recorded[0][1].sent == ["log", "webhook"]

    handler.status = 500  # a failing webhook is reported and recorded, the log sink still fires
    delivery = Notifier([LogSink(), WebhookSink(url)], lambda a, d: recorded.append((a, d))).notify(alert)
    assert delivery.sent == ["log"] and delivery.failed == {"webhook": "HTTPError (HTTP 500)"}
    assert recorded[-1][1].failed == {"webhook": "HTTPError (HTTP 500)"}


def test_alerts_carry_aggregates_only() -> None:
    with pytest.raises(ValueError, match="not allowed"):
        Alert("drift_detected", "x", {"stay_ids": ["a", "b"]})
    with pytest.raises(ValueError, match="must be http"):
        WebhookSink("file:///etc/passwd")
