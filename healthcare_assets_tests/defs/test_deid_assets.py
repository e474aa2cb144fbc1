"""The deidentified_* assets: published only when the residual-PHI scan is clean, and blocking downstream when not."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from dagster import DagsterInstance, asset, materialize

from healthcare_assets.audit import AuditLedger, verify_ledger
from healthcare_assets.defs.deidentification import deidentified_tables
from healthcare_assets.defs.extraction import fhir_profile, raw_fhir_ndjson
from healthcare_assets.defs.partitions import EXPORT_BATCH_PARTITIONS, export_batches
from healthcare_assets.defs.resources import DataHome
from healthcare_assets.fhir.views import catalog, load_view
from healthcare_assets.warehouse import Warehouse

TABLES = [
    "deidentified_condition",
    "deidentified_encounter",
    "deidentified_medication_request",
    "deidentified_observation",
    "deidentified_observation_component",
    "deidentified_patient",
    "deidentified_procedure",
    "deidentified_tombstones",
]


def _run(home: Path, batch: str, source: Path, extra=(), deid_config=None):
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(EXPORT_BATCH_PARTITIONS, [batch])
    ops = {"raw_fhir_ndjson": {"config": {"source": "ndjson_dir", "path": str(source)}}}
    if deid_config:
        ops["deidentified_tables"] = {"config": deid_config}
    return materialize(
        [raw_fhir_ndjson, fhir_profile, deidentified_tables, *extra],
        partition_key=batch,
        instance=instance,
        resources={"home": DataHome(path=str(home))},
        run_config={"ops": ops},
        raise_on_error=False,
    )


@asset(deps=["deidentified_patient"], partitions_def=export_batches, group_name="features")
def uses_deidentified_patient() -> None:
    """Stands in for the feature stage: must not run after a failed blocking scan."""


def test_synthea_batch_is_deidentified_and_published(tmp_path: Path, synthea_dir: Path) -> None:
    home = tmp_path / "home"
    result = _run(home, "s1", synthea_dir, [uses_deidentified_patient])
    assert result.success
    checks = {
        c.asset_key.to_user_string(): c.passed
        for c in result.get_asset_check_evaluations()
        if c.check_name == "residual_phi_scan"
    }
    assert checks == {t: True for t in [*TABLES, "synthetic_ground_truth"]}
    warehouse = Warehouse(home / "warehouse.duckdb")
    assert warehouse.query("SELECT count(*) FROM deidentified_encounter WHERE batch_id = 's1'") == [(3697,)]
    assert warehouse.query("SELECT count(*) FROM synthetic_ground_truth") == [(0,)]  # no known truth in Synthea
    patient = result.asset_materializations_for_node("deidentified_tables")
    metadata = {m.asset_key.to_user_string(): m.metadata for m in patient}
    assert metadata["deidentified_patient"]["published"].value is True
    assert metadata["deidentified_patient"]["deid_policy_version"].value.startswith("safe_harbor-r")
    assert "social_security_numbers" in metadata["deidentified_patient"]["safe_harbor_categories"].value
    records = list(AuditLedger(home / "audit").records())
    deid = next(r for r in records if r["action"] == "deidentify_export_batch")
    assert deid["details"]["published"] is True and deid["details"]["safe_harbor"] is True
    assert set(deid["details"]["safe_harbor_categories"]) >= {"names", "dates", "web_urls", "full_face_photographs"}
    assert verify_ledger(AuditLedger(home / "audit")).ok
    # The codebook stays in the PHI zone; no staging is left behind.
    assert (home / "phi" / "codebook.duckdb").exists()
    assert not (home / "phi" / "batches" / "s1" / "deid_staging").exists()


def test_declared_schema_and_view_are_visible_before_materializing() -> None:
    spec = next(s for s in deidentified_tables.specs if s.key.to_user_string() == "deidentified_patient")
    columns = [c.name for c in spec.metadata["dagster/column_schema"].columns]
    assert columns[:3] == ["batch_id", "patient_id", "gender"] and "zip3" in columns and "birth_year" in columns
    assert spec.metadata["view_definition"].data["resource"] == "Patient"


def test_a_leaking_policy_publishes_nothing_and_blocks_downstream(tmp_path, synthea_dir, monkeypatch) -> None:
    home = tmp_path / "home"
    assert _run(home, "clean", synthea_dir).success  # an earlier, clean batch stays published
    views = dict(catalog.project_views())
    leaky = copy.deepcopy(views["patient"].raw)
    leaky["select"][0]["column"].append(
        {"name": "family", "path": "name.family.first()", "tag": [{"name": "deid", "value": "keep"}]}
    )
    views["patient"] = load_view(leaky)
    monkeypatch.setattr(catalog, "project_views", lambda: views)

    result = _run(home, "leaky", synthea_dir, [uses_deidentified_patient])
    failed = [c for c in result.get_asset_check_evaluations() if not c.passed]
    assert [c.asset_key.to_user_string() for c in failed] == ["deidentified_patient"]
    assert "deidentified_patient.family: dictionary:name" in failed[0].description
    assert not result.asset_materializations_for_node("uses_deidentified_patient")
    warehouse = Warehouse(home / "warehouse.duckdb")
    for table in TABLES:  # fail closed: nothing of the leaky batch, the clean batch untouched
        assert warehouse.query(f"SELECT count(*) FROM {table} WHERE batch_id = 'leaky'") == [(0,)]
    assert warehouse.query("SELECT count(*) FROM deidentified_patient WHERE batch_id = 'clean'") == [(100,)]
    record = [r for r in AuditLedger(home / "audit").records() if r["action"] == "deidentify_export_batch"][-1]
    assert record["details"]["published"] is False and record["outputs"] == {}


def test_date_shift_profile_is_marked_not_safe_harbor(tmp_path: Path, synthea_dir: Path) -> None:
    home = tmp_path / "home"
    result = _run(home, "ds", synthea_dir, deid_config={"profile": "date_shift"})
    assert result.success
    metadata = {
        m.asset_key.to_user_string(): m.metadata for m in result.asset_materializations_for_node("deidentified_tables")
    }
    assert "NOT Safe Harbor" in metadata["deidentified_encounter"]["deid_profile"].value
    record = [r for r in AuditLedger(home / "audit").records() if r["action"] == "deidentify_export_batch"][-1]
    assert record["details"]["safe_harbor"] is False and record["details"]["profile"] == "date_shift"
    columns = [c[0] for c in Warehouse(home / "warehouse.duckdb").query("DESCRIBE deidentified_encounter")]
    assert "period_start_shifted" in columns


def test_hmac_mode_needs_its_key(tmp_path: Path, synthea_dir: Path, monkeypatch) -> None:
    monkeypatch.delenv("HEALTHCARE_ASSETS_PSEUDONYM_KEY", raising=False)
    result = _run(tmp_path / "home", "h", synthea_dir, deid_config={"pseudonym_mode": "hmac"})
    assert not result.success
    monkeypatch.setenv("HEALTHCARE_ASSETS_PSEUDONYM_KEY", "x" * 48)
    assert _run(tmp_path / "home2", "h", synthea_dir, deid_config={"pseudonym_mode": "hmac"}).success


@pytest.mark.parametrize("profile", ["bogus"])
def test_unknown_profile_fails_clearly(tmp_path: Path, synthea_dir: Path, profile: str) -> None:
    result = _run(tmp_path / "home", "u", synthea_dir, deid_config={"profile": profile})
    assert not result.success
