"""Batches: check results tied to their partition, listing from every place a batch lives, and deletion from
all of them with a ledger record (the chain still verifies)."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import DagsterInstance, materialize

from healthcare_assets.audit import AuditLedger, verify_ledger
from healthcare_assets.config import Paths
from healthcare_assets.defs.batches import delete_batch, list_batches
from healthcare_assets.defs.extraction import fhir_profile, raw_fhir_ndjson
from healthcare_assets.defs.partitions import EXPORT_BATCH_PARTITIONS
from healthcare_assets.defs.resources import DataHome
from healthcare_assets.errors import ConfigError
from healthcare_assets.fhir.landing import land_batch
from healthcare_assets.fhir.sources import FetchResult
from healthcare_assets.warehouse import Warehouse


def _land(instance: DagsterInstance, home: Path, batch: str, src: Path):
    instance.add_dynamic_partitions(EXPORT_BATCH_PARTITIONS, [batch])
    return materialize(
        [raw_fhir_ndjson, fhir_profile],
        partition_key=batch,
        instance=instance,
        resources={"home": DataHome(path=str(home))},
        run_config={"ops": {"raw_fhir_ndjson": {"config": {"source": "ndjson_dir", "path": str(src)}}}},
        raise_on_error=False,
    )


@pytest.fixture
def two_batches(tmp_path: Path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "Patient.ndjson").write_text('{"resourceType":"Patient","id":"p1"}\n{"resourceType":"Patient","id":"p2"}\n')
    home = tmp_path / "home"
    instance = DagsterInstance.ephemeral()
    results = {batch: _land(instance, home, batch, src) for batch in ("b1", "b2")}
    yield instance, Paths(home), results
    instance.dispose()


def test_check_results_belong_to_their_batch(two_batches) -> None:
    _, _, results = two_batches
    for batch, result in results.items():
        assert result.success
        evaluations = result.get_asset_check_evaluations()
        assert {e.check_name for e in evaluations} == {"export_completeness", "structural_integrity"}
        assert {e.partition for e in evaluations} == {batch}  # the UI shows the batch, not "Partition -"


def test_list_and_delete_a_batch_everywhere(two_batches) -> None:
    instance, paths, _ = two_batches
    (paths.batches / ".staging-b1").mkdir()  # a landing of b1 that failed earlier
    listed = {b.batch_id: b for b in list_batches(instance, paths)}
    assert set(listed) == {"b1", "b2"}
    assert listed["b1"].registered and listed["b1"].landed and listed["b1"].staging
    assert listed["b1"].last_run == "SUCCESS" and listed["b1"].lines == 2 and listed["b1"].quarantined == 0
    assert listed["b1"].warehouse_rows > 0  # the profile's count tables

    warehouse = Warehouse(paths.warehouse)
    report = delete_batch(instance, paths, "b1")
    assert report.partition_removed and sorted(report.folders_removed) == [".staging-b1", "b1"]
    assert sum(report.rows_deleted.values()) == listed["b1"].warehouse_rows
    assert instance.get_dynamic_partitions(EXPORT_BATCH_PARTITIONS) == ["b2"]
    assert not (paths.batches / "b1").exists() and not (paths.batches / ".staging-b1").exists()
    assert warehouse.query("SELECT count(*) FROM fhir_profile_types WHERE batch_id = 'b1'") == [(0,)]
    assert warehouse.query("SELECT count(*) FROM fhir_profile_types WHERE batch_id = 'b2'")[0][0] > 0
    assert [b.batch_id for b in list_batches(instance, paths)] == ["b2"]

    ledger = AuditLedger(paths.audit)
    last = list(ledger.records())[-1]
    assert last["action"] == "delete_export_batch" and last["partition"] == "b1"
    assert last["counts"]["warehouse_rows_deleted"] == sum(report.rows_deleted.values())
    assert verify_ledger(ledger).ok
    with pytest.raises(ConfigError, match="no batch 'b1'"):
        delete_batch(instance, paths, "b1")


class _Failing:
    kind = "failing"

    def __init__(self, resumable: bool):
        self.resumable = resumable

    def describe(self) -> dict:
        return {"kind": self.kind}

    def can_resume(self, staging: Path) -> bool:  # a Bulk source asks its state file; this one always could
        return True

    def fetch(self, ndjson_dir: Path, side_dir: Path, progress) -> FetchResult:
        (ndjson_dir / "Patient.ndjson").write_text('{"resourceType":"Patient","id":"half"}\n')
        raise RuntimeError("connection lost")


def test_a_failed_landing_leaves_no_staging_unless_it_can_resume(tmp_path: Path) -> None:
    batches = tmp_path / "batches"
    with pytest.raises(RuntimeError):
        land_batch(batches, "once", _Failing(resumable=False))
    assert list(batches.iterdir()) == []
    with pytest.raises(RuntimeError):
        land_batch(batches, "bulk", _Failing(resumable=True))
    assert [p.name for p in batches.iterdir()] == [".staging-bulk"]  # kept for the next attempt to resume
