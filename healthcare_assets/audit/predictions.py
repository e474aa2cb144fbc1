"""The prediction log: one hash-chained record per prediction, anchored in the main audit ledger.

Why a second chain rather than the main ledger: a service answers thousands of requests an hour, and the main
ledger is read whole by promotion, ``audit show`` and every verification; a prediction a line there would bury
the pipeline's records. So predictions go to their own ledger (same record format, hashing, ``flock`` and
``HEAD``: ``AuditLedger`` on ``$HEALTHCARE_ASSETS_HOME/audit/predictions/``), and the main ledger links to it:

* each service start appends ``serve_model`` to the main ledger (model name, version, alias, MLflow runs); every
  prediction record carries that record's hash as ``details.session``, so a prediction names the exact served
  model through the tamper-evident chain;
* every ``anchor_every`` predictions, and at shutdown, the service appends ``anchor_predictions`` to the main
  ledger with the prediction log's head (seq, hash): an edit of an anchored prediction breaks both chains.

``verify_predictions`` walks the prediction chain and checks every anchor and every session link; the
``healthcare-assets audit verify`` command runs it after the main ledger. A record holds no PHI: prediction id,
time, model version, SHA-256 of the feature vector, probability, band, alert, latency, route.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from healthcare_assets.audit.ledger import AuditEvent, AuditLedger
from healthcare_assets.audit.verify import VerifyResult, verify_ledger

PREDICTIONS_DIR = "predictions"
PREDICT_ACTION = "predict"
SERVE_ACTION = "serve_model"
ANCHOR_ACTION = "anchor_predictions"
STOP_ACTION = "stop_serving"


def prediction_ledger(audit_dir: Path) -> AuditLedger:
    return AuditLedger(Path(audit_dir) / PREDICTIONS_DIR)


@dataclass(frozen=True)
class PredictionVerify:
    chain: VerifyResult
    anchors: int
    unanchored: int  # predictions after the last anchor (a running service anchors them later)
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.chain.ok and self.problem is None

    def describe(self) -> str:
        if not self.chain.ok:
            return self.chain.describe()
        if self.problem:
            return f"TAMPERED: {self.problem}"
        return (
            f"OK: {self.chain.records} predictions, chain intact, {self.anchors} anchor(s) in the audit ledger "
            f"match, {self.unanchored} not yet anchored"
        )


def verify_predictions(main: AuditLedger, predictions: AuditLedger) -> PredictionVerify:
    """The prediction chain is intact, every anchor in ``main`` matches it, every prediction's session is a
    ``serve_model`` record of ``main``. (Run ``verify_ledger(main)`` first: this trusts main's content.)"""
    chain = verify_ledger(predictions)
    anchors: dict[int, str] = {}
    sessions: set[str] = set()
    for record in main.records():
        if record.get("action") == SERVE_ACTION:
            sessions.add(record["hash"])
        elif record.get("action") == ANCHOR_ACTION:
            anchors[int(record["counts"]["prediction_log_seq"])] = record["outputs"]["prediction_log_hash"]
    if not chain.ok:
        return PredictionVerify(chain, len(anchors), 0)
    last_anchor = max(anchors, default=0)
    if last_anchor > chain.records:
        return PredictionVerify(
            chain,
            len(anchors),
            0,
            f"the audit ledger anchors prediction seq {last_anchor} but the prediction log "
            f"ends at seq {chain.records}: predictions were removed",
        )
    for record in predictions.records():
        seq = record["seq"]
        if seq in anchors and anchors[seq] != record["hash"]:
            return PredictionVerify(
                chain,
                len(anchors),
                0,
                f"prediction seq {seq} does not match its anchor in the audit ledger "
                "(the prediction log was rewritten)",
            )
        session = (record.get("details") or {}).get("session")
        if record.get("action") == PREDICT_ACTION and session not in sessions:
            return PredictionVerify(
                chain, len(anchors), 0, f"prediction seq {seq} names a serving session that is not in the audit ledger"
            )
    return PredictionVerify(chain, len(anchors), chain.records - last_anchor)


class GroupSync:
    """Group commit: every caller returns only after an ``fsync`` of ``path`` that started after its write, and
    concurrent callers share one ``fsync`` (4 clients: about one per 4 predictions instead of one each)."""

    def __init__(self, path: Path):
        self.path = path
        self._cond = threading.Condition()
        self._written = 0
        self._synced = 0
        self._syncing = False

    def wrote(self) -> int:
        """A ticket for a write that has completed (call after the write)."""
        with self._cond:
            self._written += 1
            return self._written

    def wait(self, ticket: int) -> None:
        with self._cond:
            while self._synced < ticket:
                if self._syncing:
                    self._cond.wait()
                    continue
                self._syncing, target = True, self._written
                self._cond.release()
                try:
                    fd = os.open(self.path, os.O_RDONLY)
                    try:
                        os.fsync(fd)
                    finally:
                        os.close(fd)
                finally:
                    self._cond.acquire()
                    self._syncing = False
                    self._cond.notify_all()
                self._synced = max(self._synced, target)


class PredictionRecorder:
    """Appends one service's predictions and anchors them in the main ledger."""

    def __init__(self, audit_dir: Path, served: Mapping[str, Any], anchor_every: int = 1000):
        self.main = AuditLedger(Path(audit_dir))
        self.log = prediction_ledger(Path(audit_dir))
        self.anchor_every = max(1, int(anchor_every))
        self.served = dict(served)
        self.session: str | None = None
        self._since_anchor = 0
        self._lock = threading.Lock()
        self._sync = GroupSync(self.log.path)

    def start(self, details: Mapping[str, Any]) -> dict[str, Any]:
        record = self.main.append(
            AuditEvent(
                action=SERVE_ACTION,
                run_id=self.served.get("run_id"),
                inputs={"mlflow_model_run": str(self.served.get("run_id"))},
                details=dict(details),
            )
        )
        self.session = record["hash"]
        return record

    def record(self, details: Mapping[str, Any], input_sha256: str) -> dict[str, Any]:
        if self.session is None:
            raise RuntimeError("PredictionRecorder.start() must run before predictions are recorded")
        record = self.log.append(
            AuditEvent(
                action=PREDICT_ACTION,
                run_id=self.served.get("run_id"),
                inputs={"features_sha256": input_sha256},
                details={**details, "session": self.session},
                actor="serving",
            ),
            sync=False,
        )
        self._sync.wait(self._sync.wrote())  # durable before the answer leaves
        with self._lock:
            self._since_anchor += 1
            due = self._since_anchor >= self.anchor_every
            if due:
                self._since_anchor = 0
        if due:
            self.anchor()
        return record

    def anchor(self) -> dict[str, Any] | None:
        head = self.log.head()
        if head is None:
            return None
        return self.main.append(
            AuditEvent(
                action=ANCHOR_ACTION,
                outputs={"prediction_log_hash": head["hash"]},
                counts={"prediction_log_seq": int(head["seq"])},
                details={"session": self.session},
                actor="serving",
            )
        )

    def stop(self) -> None:
        with self._lock:
            pending, self._since_anchor = self._since_anchor, 0
        if pending:
            self.anchor()


def find_prediction(predictions: AuditLedger, prediction_id: str) -> dict[str, Any] | None:
    """The record of one prediction id (a scan from the end: recent predictions are found first)."""
    needle = orjson.dumps(prediction_id)
    for record in _reversed_records(predictions.path):
        if needle in record:
            parsed = orjson.loads(record)
            if (parsed.get("details") or {}).get("prediction_id") == prediction_id:
                return parsed
    return None


def _reversed_records(path: Path, chunk: int = 1 << 16) -> Iterator[bytes]:
    if not path.exists():
        return
    with open(path, "rb") as handle:
        end = handle.seek(0, 2)
        buffer = b""
        while end > 0:
            step = min(chunk, end)
            end -= step
            handle.seek(end)
            buffer = handle.read(step) + buffer
            lines = buffer.split(b"\n")
            buffer = lines[0]
            for line in reversed(lines[1:]):
                if line.strip():
                    yield line
        if buffer.strip():
            yield buffer
