"""From one prediction id to everything that made it: served model version, training run, data hashes, batches.

Reads the ledgers only (the main ledger and the prediction log), so the trace is as trustworthy as
``audit verify`` says they are: prediction record -> its ``serve_model`` session record (model, version, MLflow
runs) -> the ``train_models`` record of that version (training set / split / dictionary hashes, export batches,
MLflow training run, git commit) -> its validation and promotion records -> each export batch's landing record
(manifest hash) and de-identification record.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from healthcare_assets.audit.ledger import AuditLedger
from healthcare_assets.audit.predictions import SERVE_ACTION, find_prediction, prediction_ledger

TRAIN_ACTION = "train_models"
BATCH_ACTIONS = ("land_export_batch", "deidentify_export_batch", "profile_export_batch")


class TraceError(LookupError):
    """The prediction or one of its links is missing from the ledgers."""


@dataclass
class Trace:
    prediction: dict[str, Any]
    session: dict[str, Any]
    training: dict[str, Any] | None
    model_events: list[dict[str, Any]] = field(default_factory=list)  # validation, card, promotion, rollback
    batches: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def trace_prediction(audit_dir: Path, prediction_id: str) -> Trace:
    main = AuditLedger(Path(audit_dir))
    prediction = find_prediction(prediction_ledger(Path(audit_dir)), prediction_id)
    if prediction is None:
        raise TraceError(f"no prediction {prediction_id!r} in {prediction_ledger(Path(audit_dir)).path}")
    session_hash = prediction["details"].get("session")
    records = list(main.records())
    session = next((r for r in records if r["hash"] == session_hash and r["action"] == SERVE_ACTION), None)
    if session is None:
        raise TraceError(f"prediction {prediction_id}: its serving session is not in the audit ledger {main.path}")
    model, version = session["details"]["registered_model"], str(session["details"]["version"])
    of_version = [r for r in records if _names(r, model, version)]
    training = next((r for r in reversed(of_version) if r["action"] == TRAIN_ACTION), None)
    events = [r for r in of_version if r["action"] not in (TRAIN_ACTION, SERVE_ACTION) and r["seq"] < session["seq"]]
    batch_ids = (training or {}).get("details", {}).get("batch_ids") or []
    batches = {b: [r for r in records if r.get("partition") == b and r["action"] in BATCH_ACTIONS] for b in batch_ids}
    return Trace(prediction, session, training, events, batches)


def _names(record: Mapping[str, Any], model: str, version: str) -> bool:
    details = record.get("details") or {}
    return details.get("registered_model") == model and str(details.get("version")) == version


def describe(trace: Trace) -> Iterable[str]:
    p, s, t = trace.prediction, trace.session, trace.training
    d = p["details"]
    yield f"prediction {d['prediction_id']}"
    yield (
        f"  time {p['time']}  route {d.get('route')}  probability {d.get('probability')}  band {d.get('band')}  "
        f"alert {d.get('alert')}  latency {d.get('latency_ms')} ms"
    )
    yield f"  features sha256 {p['inputs'].get('features_sha256')}"
    yield f"  prediction log seq {p['seq']} hash {p['hash'][:16]}"
    sd = s["details"]
    yield f"model {sd['registered_model']} version {sd['version']} (served as {sd.get('alias') or 'a pinned version'})"
    yield f"  serving session: audit seq {s['seq']} {s['time']} hash {s['hash'][:16]}"
    yield f"  MLflow model run {sd.get('mlflow_run_id')}"
    yield f"  threshold {sd.get('threshold')} ({sd.get('threshold_source')})"
    if t is None:
        yield "training: no train_models record for this version in the audit ledger"
    else:
        td = t["details"]
        yield f"training: audit seq {t['seq']} {t['time']} Dagster run {t.get('run_id')}"
        yield (
            f"  MLflow training run {t['outputs'].get('mlflow_training_run')}  candidate {td.get('chosen')}  "
            f"git {(td.get('git') or {}).get('commit')}"
        )
        for name, digest in sorted(t["inputs"].items()):
            yield f"  data {name} sha256 {digest}"
    for r in trace.model_events:
        yield f"{r['action']}: audit seq {r['seq']} {r['time']} by {r.get('actor')}"
    for batch, records in trace.batches.items():
        yield f"export batch {batch}"
        for r in records:
            manifest = r["outputs"].get("manifest") or r["inputs"].get("manifest")
            yield f"  {r['action']}: audit seq {r['seq']} {r['time']}" + (
                f" manifest sha256 {manifest}" if manifest else ""
            )
