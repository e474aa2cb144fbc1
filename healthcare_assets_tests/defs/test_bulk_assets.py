"""A FHIR Bulk $export, against the real development server on 127.0.0.1, lands as a raw_fhir_ndjson partition
and flows through the downstream assets exactly like the other sources."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from dagster import DagsterInstance, build_sensor_context, materialize

from healthcare_assets.audit import AuditLedger, verify_ledger
from healthcare_assets.config import Paths
from healthcare_assets.defs.automation import register_bulk_export, scheduled_export_sensor
from healthcare_assets.defs.deidentification import deidentified_tables
from healthcare_assets.defs.extraction import BulkConfig, build_bulk_source, fhir_profile, raw_fhir_ndjson
from healthcare_assets.defs.partitions import EXPORT_BATCH_PARTITIONS
from healthcare_assets.defs.resources import DataHome
from healthcare_assets.fhir.bulk import DownloadError, generate_private_jwk, public_jwks
from healthcare_assets.fhir.bulk.devserver import DevFhirServer, Faults
from healthcare_assets.fhir.bulk.devserver_auth import DevAuthConfig
from healthcare_assets.fhir.bulk.devserver_store import ResourceStore
from healthcare_assets.fhir.landing import land_batch
from healthcare_assets.warehouse import Warehouse

pytestmark = pytest.mark.timeout(300)
FAST = {"max_attempts": 1, "retry_initial_s": 0.1}


@pytest.fixture(scope="module")
def store(synthea_dir: Path) -> ResourceStore:
    return ResourceStore.load(synthea_dir)


@pytest.fixture(autouse=True)
def _loopback_without_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


def _materialize(instance, home: Path, batch: str, bulk: dict, assets=(raw_fhir_ndjson, fhir_profile)):
    instance.add_dynamic_partitions(EXPORT_BATCH_PARTITIONS, [batch])
    return materialize(
        list(assets),
        partition_key=batch,
        instance=instance,
        resources={"home": DataHome(path=str(home))},
        run_config={"ops": {"raw_fhir_ndjson": {"config": {"source": "bulk", "bulk": bulk}}}},
        raise_on_error=False,
    )


def _raw_metadata(result) -> dict:
    return result.asset_materializations_for_node("raw_fhir_ndjson")[0].metadata


def test_full_export_flows_downstream(store, tmp_path: Path) -> None:
    home = tmp_path / "home"
    with DevFhirServer(store=store) as server, DagsterInstance.ephemeral() as instance:
        result = _materialize(
            instance, home, "b1", {"url": server.base_url}, (raw_fhir_ndjson, fhir_profile, deidentified_tables)
        )
    assert result.success
    metadata = _raw_metadata(result)
    assert metadata["source"].value == "bulk" and metadata["since"].value == "(full export)"
    manifest = orjson.loads((home / "phi" / "batches" / "b1" / "manifest.json").read_bytes())
    lines = {f["type"]: f["lines"] for f in manifest["files"]}
    assert lines["Patient"] == 100 and lines["Encounter"] == 3697 and lines["Observation"] == 16315
    assert manifest["transaction_time"] and manifest["source"]["kind"] == "bulk"
    assert all(c.passed for c in result.get_asset_check_evaluations())
    warehouse = Warehouse(home / "warehouse.duckdb")
    assert warehouse.query("SELECT count(*) FROM deidentified_observation WHERE batch_id = 'b1'") == [(16315,)]
    actions = [r["action"] for r in AuditLedger(home / "audit").records()]
    assert actions[:3] == ["bulk_export_kickoff", "bulk_export_complete", "land_export_batch"]
    assert verify_ledger(AuditLedger(home / "audit")).ok


@pytest.mark.parametrize("algorithm", ["RS384", "ES384"])
def test_authenticated_export_never_records_the_key(store, tmp_path, monkeypatch, algorithm) -> None:
    private = generate_private_jwk(algorithm, kid=f"kid-{algorithm}")
    monkeypatch.setenv("HEALTHCARE_ASSETS_BULK_PRIVATE_KEY", orjson.dumps(private).decode())
    auth = DevAuthConfig(clients={"ha-client": public_jwks(private)})
    home = tmp_path / "home"
    with DevFhirServer(store=store, auth=auth) as server, DagsterInstance.ephemeral() as instance:
        bulk = {"url": server.base_url, "client_id": "ha-client", "kid": f"kid-{algorithm}", "types": ["Patient"]}
        result = _materialize(instance, home, "auth", bulk)
        assert result.success
        assert server.requests("token") and all(r.bearer for r in server.requests("file"))
        denied = _materialize(instance, home, "anon", {"url": server.base_url, "types": ["Patient"], **FAST})
        assert not denied.success  # the server requires the signed-JWT token
        secret = private["d"]
        for event in instance.all_logs(result.run_id):
            assert secret not in (event.user_message or "")
    for path in (home / "audit" / "ledger.jsonl", home / "phi" / "batches" / "auth" / "manifest.json"):
        assert secret not in path.read_text()


def test_interrupted_export_resumes_without_a_second_kickoff(store, tmp_path: Path) -> None:
    home = tmp_path / "home"
    bulk_request = {"types": ["Patient", "Encounter", "Condition"], **FAST}
    with DevFhirServer(store=store, faults=Faults(file_failures=1)) as server, DagsterInstance.ephemeral() as instance:
        failed = _materialize(instance, home, "r1", {"url": server.base_url, **bulk_request})
        assert not failed.success  # a file download failed and retries were exhausted
        assert (home / "phi" / "batches" / ".staging-r1" / "side" / "bulk_state.json").exists()
        server.set_faults(Faults())
        resumed = _materialize(instance, home, "r1", {"url": server.base_url, **bulk_request})
        assert resumed.success
        assert len(server.requests("kickoff")) == 1  # the saved status URL was polled again
    assert _raw_metadata(resumed)["bulk_resumed"].value is True
    manifest = orjson.loads((home / "phi" / "batches" / "r1" / "manifest.json").read_bytes())
    assert {f["type"]: f["lines"] for f in manifest["files"]}["Encounter"] == 3697


def test_throttling_and_transient_errors_are_ridden_out(store, tmp_path: Path) -> None:
    faults = Faults(throttle_polls=2, throttle_retry_after="1", kickoff_failures=1, status_failures=1, file_failures=1)
    with DevFhirServer(store=store, faults=faults) as server, DagsterInstance.ephemeral() as instance:
        result = _materialize(
            instance, tmp_path / "home", "t1", {"url": server.base_url, "types": ["Patient"], "retry_initial_s": 0.2}
        )
        assert result.success
        statuses = [r.status for r in server.requests("status")]
        assert 429 in statuses and 503 in statuses


def test_incremental_export_asks_for_changes_since_the_last_one(store, tmp_path: Path) -> None:
    home = tmp_path / "home"
    with DevFhirServer(store=store) as server, DagsterInstance.ephemeral() as instance:
        first = _materialize(instance, home, "i1", {"url": server.base_url, "types": ["Patient"]})
        assert first.success
        first_time = _raw_metadata(first)["transaction_time"].value
        patient = server.store.get("Patient", server.store.patient_ids()[0])
        server.store.upsert({**patient, "gender": "other"})
        second = _materialize(instance, home, "i2", {"url": server.base_url, "types": ["Patient"]})
        assert second.success
        assert "_since=" in server.requests("kickoff")[-1].query
    assert _raw_metadata(second)["since"].value == first_time
    manifest = orjson.loads((home / "phi" / "batches" / "i2" / "manifest.json").read_bytes())
    assert [(f["type"], f["lines"]) for f in manifest["files"]] == [("Patient", 1)]


def test_schedule_job_registers_and_sensor_launches_once(tmp_path: Path) -> None:
    with DagsterInstance.ephemeral() as instance:
        assert scheduled_export_sensor(build_sensor_context(instance=instance)).skip_message
        register_bulk_export.execute_in_process(instance=instance)
        (batch,) = instance.get_dynamic_partitions(EXPORT_BATCH_PARTITIONS)
        assert "-scheduled-bulk-" in batch
        result = scheduled_export_sensor(build_sensor_context(instance=instance))
        (request,) = result.run_requests
        assert request.partition_key == batch and request.run_key == batch
        assert request.run_config["ops"]["raw_fhir_ndjson"]["config"]["source"] == "bulk"


def test_cli_bulk_source_resumes_an_interrupted_export(store, tmp_path: Path) -> None:
    home = tmp_path / "home"
    batches = Paths(home).batches
    env = {**os.environ, "HEALTHCARE_ASSETS_HOME": str(home), "DAGSTER_HOME": str(tmp_path / "dagster")}
    with DevFhirServer(store=store, faults=Faults(file_failures=1)) as server:
        # A first attempt dies mid-download (as after a kill -9, or with its retry budget spent).
        bulk = BulkConfig(url=server.base_url, types=["Patient", "Encounter"], **FAST)
        with pytest.raises(DownloadError):
            land_batch(batches, "20260101T000000Z-bulk-abcdef", build_bulk_source(bulk, batches))
        server.set_faults(Faults())
        done = subprocess.run(
            [sys.executable, "-m", "healthcare_assets.cli", "run", "--source", "bulk", "--url", server.base_url,
             "--types", "Patient,Encounter"],
            env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert len(server.requests("kickoff")) == 1  # the plain re-run resumed: no second kick-off
    assert done.returncode == 0, done.stdout + done.stderr
    assert "resuming the interrupted export of batch 20260101T000000Z-bulk-abcdef" in done.stdout
    # Only Patient and Encounter were asked for: references to practitioners are "type not in batch", not dangling.
    assert "resume" in done.stdout and "✔ check fhir_profile:structural_integrity passed" in done.stdout
    assert [p.name for p in batches.iterdir()] == ["20260101T000000Z-bulk-abcdef"]  # no staging left behind
