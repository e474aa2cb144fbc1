"""The inference service through FastAPI's TestClient, and once as a real uvicorn process on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient

from healthcare_assets.audit import AuditLedger, verify_ledger
from healthcare_assets.audit.predictions import prediction_ledger, verify_predictions
from healthcare_assets.audit.trace import describe, trace_prediction
from healthcare_assets.modeling.tracking import CHAMPION
from healthcare_assets.serving.app import ServiceConfig, create_app
from healthcare_assets.serving.model import MODEL_NAME, NoServableModel, load_served_model
from healthcare_assets.serving.server import ServeOptions, load_models
from healthcare_assets_tests.serving.conftest import Registry


def _client(registry: Registry, audit_dir: Path, shadow: bool = False, **config) -> TestClient:
    served, challenger = load_models(registry.tracker, ServeOptions(shadow="auto" if shadow else "none"))
    return TestClient(create_app(served, ServiceConfig(audit_dir, **config), challenger))


def _record(registry: Registry, **values) -> dict:
    record = {name: None for name in registry.features}
    record.update({"age_at_admission": 80.0, "charlson_index": 6.0, "los_days": 9.0, **values})
    return record


def _audit_copy(registry: Registry, tmp_path: Path) -> Path:
    """Each test gets its own copy of the shared ledger (the training records a trace follows)."""
    target = tmp_path / "audit"
    target.mkdir()
    for name in ("ledger.jsonl", "HEAD"):
        (target / name).write_bytes((registry.audit_dir / name).read_bytes())
    return target


def test_predict_answers_and_audits_without_phi(registry: Registry, tmp_path: Path) -> None:
    audit = _audit_copy(registry, tmp_path)
    with _client(registry, audit) as client:
        answer = client.post("/predict", json=_record(registry))
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert set(body) == {
            "prediction_id",
            "probability",
            "risk_band",
            "threshold",
            "alert",
            "model",
            "model_version",
        }
        assert body["model_version"] == registry.versions[0] and 0.0 < body["probability"] < 1.0
        assert body["alert"] == (body["probability"] >= body["threshold"])
        low = client.post("/predict", json=_record(registry, age_at_admission=20.0, charlson_index=0.0, los_days=1.0))
        assert low.json()["probability"] < body["probability"]  # the model, not a constant
        assert client.get("/health").json() == {"status": "ok"}
        ready = client.get("/ready").json()
        assert ready["status"] == "ready" and ready["version"] == registry.versions[0] and ready["alias"] == CHAMPION
        metrics = client.get("/metrics").text
        assert 'healthcare_requests_total{route="/predict",status="200"} 2.0' in metrics
        assert "healthcare_prediction_score_bucket" in metrics and "healthcare_request_seconds_bucket" in metrics
    # The prediction log holds this answer, linked to a serve_model session, anchored at shutdown.
    records = list(prediction_ledger(audit).records())
    assert len(records) == 2
    first = records[0]["details"]
    assert first["prediction_id"] == body["prediction_id"] and first["probability"] == round(body["probability"], 6)
    assert set(records[0]["inputs"]) == {"features_sha256"} and first["latency_ms"] >= 0
    main = AuditLedger(audit)
    assert verify_ledger(main).ok
    checked = verify_predictions(main, prediction_ledger(audit))
    assert checked.ok and checked.anchors == 1 and checked.unanchored == 0, checked.describe()

    trace = trace_prediction(audit, body["prediction_id"])
    text = "\n".join(describe(trace))
    assert f"model {MODEL_NAME} version {registry.versions[0]} (served as champion)" in text
    assert "MLflow training run" in text and "data training_set sha256" in text
    assert "export batch synthetic-test-batch" in text and "land_export_batch" in text


def test_tampering_with_a_prediction_is_detected(registry: Registry, tmp_path: Path) -> None:
    audit = _audit_copy(registry, tmp_path)
    with _client(registry, audit) as client:
        for _ in range(3):
            assert client.post("/predict", json=_record(registry)).status_code == 200
    log = prediction_ledger(audit)
    lines = log.path.read_bytes().splitlines(keepends=True)
    record = orjson.loads(lines[1])
    record["details"]["probability"] = 0.01
    lines[1] = orjson.dumps(record) + b"\n"
    log.path.write_bytes(b"".join(lines))
    checked = verify_predictions(AuditLedger(audit), log)
    assert not checked.ok and "record edited" in checked.describe()
    # Rewriting the whole prediction chain consistently is caught by the anchor in the main ledger.
    log.path.write_bytes(b"")
    log.head_path.unlink()
    from healthcare_assets.audit.predictions import PredictionRecorder

    forged = PredictionRecorder(audit, {"run_id": "x"})
    forged.session = next(r["hash"] for r in AuditLedger(audit).records() if r["action"] == "serve_model")
    for _ in range(3):
        forged.log.append(__import__("healthcare_assets.audit", fromlist=["AuditEvent"]).AuditEvent(
            action="predict", details={"prediction_id": "x", "session": forged.session}))  # fmt: skip
    again = verify_predictions(AuditLedger(audit), log)
    assert not again.ok and "does not match its anchor" in again.describe()


def test_bad_requests_name_the_field_and_health_keeps_answering(registry: Registry, tmp_path: Path) -> None:
    with _client(registry, tmp_path / "audit", max_body_bytes=64 * 1024) as client:
        bad = _record(registry, age_at_admission="eighty", zzz_unknown=1.0)
        del bad["los_days"]
        answer = client.post("/predict", json=bad)
        assert answer.status_code == 422
        problems = {tuple(p["loc"][1:]): p["type"] for p in answer.json()["detail"]}
        assert problems == {("age_at_admission",): "float_type", ("los_days",): "missing",
                            ("zzz_unknown",): "extra_forbidden"}  # fmt: skip
        assert "eighty" not in answer.text  # submitted values are never echoed
        assert client.post("/predict", json=_record(registry, los_days=True)).status_code == 422  # no bool coercion
        big = client.post("/predict", content=b"{" + b" " * 70_000 + b"}", headers={"content-type": "application/json"})
        assert big.status_code == 413
        streamed = client.post("/predict/fhir", content=iter([b"{", b" " * 40_000, b" " * 40_000, b"}"]))
        assert streamed.status_code == 413  # no Content-Length: counted while read
        assert (
            client.post("/predict/fhir", content=b"not json").json()["detail"] == "the request body is not valid JSON"
        )
        assert client.get("/health").status_code == 200
        assert client.get("/model-card").status_code == 404  # the test versions were never carded
        metrics = client.get("/metrics").text
        assert 'healthcare_errors_total{kind="422",route="/predict"}' in metrics


def test_bearer_token(registry: Registry, tmp_path: Path) -> None:
    with _client(registry, tmp_path / "audit", token="s3cret-token") as client:
        assert client.post("/predict", json=_record(registry)).status_code == 401
        wrong = client.post("/predict", json=_record(registry), headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        ok = client.post("/predict", json=_record(registry), headers={"Authorization": "Bearer s3cret-token"})
        assert ok.status_code == 200
        assert client.get("/health").status_code == 200 and client.get("/ready").status_code == 200


def test_shadow_challenger_is_audited_never_returned(registry: Registry, tmp_path: Path) -> None:
    audit = tmp_path / "audit"
    with _client(registry, audit, shadow=True) as client:
        body = client.post("/predict", json=_record(registry)).json()
        assert "shadow" not in json.dumps(body) and body["model_version"] == registry.versions[0]
        assert "healthcare_shadow_score_count" in client.get("/metrics").text
    record = next(prediction_ledger(audit).records())["details"]
    assert record["shadow"]["version"] == registry.versions[1]
    assert 0.0 < record["shadow"]["probability"] < 1.0 and record["shadow"]["probability"] != record["probability"]


def test_missing_champion_is_a_clear_error(tmp_path: Path) -> None:
    from healthcare_assets.modeling.tracking import Tracker

    tracker = Tracker.embedded(tmp_path / "mlflow", MODEL_NAME)
    with pytest.raises(NoServableModel, match="no champion model.*healthcare-assets promote"):
        load_served_model(tracker)
    with pytest.raises(NoServableModel, match="champion, challenger or a version number"):
        load_served_model(tracker, "latest")


def test_fhir_bundle_of_a_synthea_patient(
    registry: Registry, synthea_bundles: dict, tmp_path: Path, capfd, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)  # every log line the service writes, INFO included, is searched for PHI
    audit = _audit_copy(registry, tmp_path)
    patient_id, bundle = next(
        (pid, b) for pid, b in sorted(synthea_bundles.items())
        if sum(1 for e in b["entry"] if e["resource"]["resourceType"] == "Encounter"
               and e["resource"].get("class", {}).get("code") == "IMP") >= 2
    )  # fmt: skip
    patient = bundle["entry"][0]["resource"]
    phi = [patient["name"][0]["family"], patient["birthDate"], patient_id]
    with _client(registry, audit) as client:
        answer = client.post("/predict/fhir", json=bundle)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["index_stay"] == "latest finished inpatient stay" and body["eligible_stays"] >= 1
        # The same Bundle gives the same features (hash) and score: per-request pseudonyms and shifts do not leak in.
        again = client.post("/predict/fhir", json=bundle).json()
        assert again["probability"] == body["probability"]
        named = [e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Encounter"]
        unknown = client.post("/predict/fhir", json=bundle, params={"index_encounter": "no-such-encounter"})
        assert unknown.status_code == 422 and "index_encounter" in unknown.json()["detail"]
        del named
        two = {"resourceType": "Bundle", "entry": bundle["entry"] + [bundle["entry"][0]]}
        refused = client.post("/predict/fhir", json=two)
        assert refused.status_code == 422 and "exactly one Patient" in refused.json()["detail"]
    records = list(prediction_ledger(audit).records())
    assert records[0]["inputs"]["features_sha256"] == records[1]["inputs"]["features_sha256"]
    stored = (audit / "predictions" / "ledger.jsonl").read_text() + (audit / "ledger.jsonl").read_text()
    out, err = capfd.readouterr()
    logged = caplog.text
    assert f"prediction {body['prediction_id']} /predict/fhir" in logged  # the service did log the request
    for value in phi:
        assert value not in stored and value not in out and value not in err and value not in answer.text
        assert value not in logged


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_serve_command_runs_uvicorn_and_trace_prints_the_trail(registry: Registry, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "mlflow").symlink_to(registry.mlflow_dir)
    (home / "audit").mkdir()
    for name in ("ledger.jsonl", "HEAD"):
        (home / "audit" / name).write_bytes((registry.audit_dir / name).read_bytes())
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["HEALTHCARE_ASSETS_HOME"] = str(home)
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "healthcare_assets.cli", "serve", "--port", str(port), "--shadow", "none"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, server.stdout.read() if server.stdout else ""
            assert time.monotonic() < deadline, "the service did not become ready"
            time.sleep(0.5)
        answer = httpx.post(f"{base}/predict", json=_record(registry), timeout=10)
        assert answer.status_code == 200, answer.text
        prediction_id = answer.json()["prediction_id"]
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=60)
    assert f"serving readmission_30d version {registry.versions[0]} (champion)" in output
    assert f"prediction {prediction_id} /predict v{registry.versions[0]}" in output  # the service's own log line
    traced = subprocess.run(
        [sys.executable, "-m", "healthcare_assets.cli", "trace", prediction_id], env=env, capture_output=True, text=True
    )
    assert traced.returncode == 0, traced.stderr
    assert f"prediction {prediction_id}" in traced.stdout and "data training_set sha256" in traced.stdout
    verified = subprocess.run(
        [sys.executable, "-m", "healthcare_assets.cli", "audit", "verify"], env=env, capture_output=True, text=True
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "1 predictions, chain intact, 1 anchor(s)" in verified.stdout


def test_model_card_and_report_threshold(registry: Registry, tmp_path: Path) -> None:
    served = load_served_model(registry.tracker, registry.versions[1])
    assert served.alias is None and served.threshold == 0.3125 and "90% specificity" in served.threshold_source
    overridden = load_served_model(registry.tracker, registry.versions[1], threshold=0.2)
    assert overridden.threshold == 0.2 and overridden.threshold_source.startswith("operator")
    with TestClient(create_app(served, ServiceConfig(tmp_path / "audit"))) as client:
        card = client.get("/model-card").json()
        assert card["card"]["intended_use"] == "test" and card["served"]["version"] == registry.versions[1]
        assert client.get("/model-card", params={"format": "markdown"}).text.startswith("# Model card")
        answer = client.post("/predict", json=_record(registry)).json()
        assert answer["threshold"] == 0.3125 and answer["alert"] == (answer["probability"] >= 0.3125)
        expected_band = "high" if answer["alert"] else ("elevated" if answer["probability"] >= 0.15625 else "low")
        assert answer["risk_band"] == expected_band
