"""The extraction group materializes in a temp directory, audits itself, and its gate blocks downstream."""

from __future__ import annotations

from pathlib import Path

from dagster import AssetKey, DagsterInstance, asset, materialize

from healthcare_assets.audit import AuditLedger, verify_ledger
from healthcare_assets.defs.extraction import fhir_profile, raw_fhir_ndjson
from healthcare_assets.defs.partitions import EXPORT_BATCH_PARTITIONS, export_batches
from healthcare_assets.defs.resources import DataHome
from healthcare_assets.warehouse import Warehouse


def _materialize(home: Path, batch: str, source_config: dict, extra_assets=(), profile_config=None):
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(EXPORT_BATCH_PARTITIONS, [batch])
    run_config = {"ops": {"raw_fhir_ndjson": {"config": source_config}}}
    if profile_config:
        run_config["ops"]["fhir_profile"] = {"config": profile_config}
    return materialize(
        [raw_fhir_ndjson, fhir_profile, *extra_assets],
        partition_key=batch,
        instance=instance,
        resources={"home": DataHome(path=str(home))},
        run_config=run_config,
        raise_on_error=False,
    )


def test_synthea_batch_materializes_with_metadata_and_audit(tmp_path: Path, synthea_dir: Path) -> None:
    home = tmp_path / "home"
    result = _materialize(home, "synthea-1", {"source": "ndjson_dir", "path": str(synthea_dir)})
    assert result.success
    raw = result.asset_materializations_for_node("raw_fhir_ndjson")[0].metadata
    assert raw["dagster/row_count"].value == 38970 and raw["source"].value == "ndjson_dir"
    profile = result.asset_materializations_for_node("fhir_profile")[0].metadata
    assert profile["quarantined"].value == 0 and profile["dangling_references"].value == 0
    assert "| Patient | 1 | 100 | 100 | 0 | 0 |" in profile["types"].value
    checks = result.get_asset_check_evaluations()
    assert sorted((c.check_name, c.passed) for c in checks) == [
        ("export_completeness", True),
        ("structural_integrity", True),
    ]
    ledger = AuditLedger(home / "audit")
    records = list(ledger.records())
    assert [r["action"] for r in records] == ["land_export_batch", "profile_export_batch"]
    assert records[0]["partition"] == "synthea-1" and records[0]["run_id"] == result.run_id
    assert records[0]["code_version"].startswith("raw_fhir_ndjson-3")
    assert raw["audit_record"].value == records[0]["hash"]
    assert verify_ledger(ledger).ok
    # Profile counts (no values) land in the warehouse for trends across batches.
    rows = Warehouse(home / "warehouse.duckdb").query(
        "SELECT accepted FROM fhir_profile_types WHERE batch_id = 'synthea-1' AND resource_type = 'Encounter'"
    )
    assert rows == [(3697,)]


def test_synthetic_batch_materializes(tmp_path: Path) -> None:
    result = _materialize(tmp_path / "home", "syn-1", {"source": "synthetic", "patients": 150, "seed": 7})
    assert result.success
    raw = result.asset_materializations_for_node("raw_fhir_ndjson")[0].metadata
    assert raw["source"].value == "synthetic" and raw["dagster/row_count"].value > 1000
    assert 0.0 < raw["synthetic_readmission_rate"].value < 1.0
    assert result.get_asset_check_evaluations()[0].passed
    side = tmp_path / "home" / "phi" / "batches" / "syn-1" / "side"
    assert (side / "ground_truth.parquet").exists()  # the oracle stays outside the FHIR data


def test_failed_structural_check_blocks_downstream(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "Patient.ndjson").write_text('{"resourceType":"Patient","id":"p1"}\n{"broken\n')

    @asset(deps=["fhir_profile"], partitions_def=export_batches, group_name="extraction")
    def downstream_of_profile() -> None:
        raise AssertionError("must not run after a failed blocking check")

    result = _materialize(tmp_path / "home", "bad", {"source": "ndjson_dir", "path": str(src)}, [downstream_of_profile])
    checks = [c for c in result.get_asset_check_evaluations() if c.check_name == "structural_integrity"]
    assert len(checks) == 1 and not checks[0].passed
    assert "quarantine rate" in checks[0].description
    assert not result.success
    assert not result.asset_materializations_for_node("downstream_of_profile")
    # The profile itself is recorded (so the failure can be inspected); only what depends on it is blocked.
    assert AssetKey("fhir_profile") in {e.asset_key for e in result.get_asset_materialization_events()}


def test_unknown_source_is_a_clear_error(tmp_path: Path) -> None:
    result = _materialize(tmp_path / "home", "x", {"source": "ftp"})
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    error = failure.step_failure_data.error
    messages = []
    while error is not None:
        messages.append(error.message)
        error = error.cause
    assert any("unknown source 'ftp'" in message for message in messages), messages
