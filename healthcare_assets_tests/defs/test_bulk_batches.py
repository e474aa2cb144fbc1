"""Bulk exports as batches, against the development server: per-type _since, partial and empty exports,
automatic resume, deletions applied downstream, and group exports through the structural check."""

from __future__ import annotations

from pathlib import Path

import duckdb
import orjson
import pytest
from dagster import AssetCheckSeverity, DagsterInstance, materialize

from healthcare_assets.audit import AuditLedger, verify_ledger
from healthcare_assets.config import Paths
from healthcare_assets.defs.deidentification import deidentified_tables
from healthcare_assets.defs.extraction import fhir_profile, raw_fhir_ndjson
from healthcare_assets.defs.launcher import _RunWatcher
from healthcare_assets.defs.partitions import EXPORT_BATCH_PARTITIONS
from healthcare_assets.defs.resources import DataHome
from healthcare_assets.fhir.bulk.devserver import DevFhirServer, Faults
from healthcare_assets.fhir.bulk.devserver_store import ResourceStore
from healthcare_assets.warehouse import Warehouse
from healthcare_assets_tests.fhir.bulk.helpers import tiny_resources

pytestmark = pytest.mark.timeout(300)
FAST = {"max_attempts": 1, "retry_initial_s": 0.1}
NO_WAIT = Faults(pending_polls=0)
EXTRACT = (raw_fhir_ndjson, fhir_profile)
ALL = (raw_fhir_ndjson, fhir_profile, deidentified_tables)


@pytest.fixture(autouse=True)
def _loopback_without_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def tiny_store(tmp_path: Path) -> ResourceStore:
    """5 patients with 20 encounters and 10 observations, 2 organizations (a private, modifiable store)."""
    folder = tmp_path / "tiny"
    folder.mkdir()
    by_type: dict[str, list[bytes]] = {}
    for resource in tiny_resources():
        by_type.setdefault(resource["resourceType"], []).append(orjson.dumps(resource))
    for resource_type, lines in by_type.items():
        (folder / f"{resource_type}.ndjson").write_bytes(b"\n".join(lines) + b"\n")
    return ResourceStore.load(folder)


def _materialize(instance, home: Path, batch: str, bulk: dict, assets=EXTRACT):
    instance.add_dynamic_partitions(EXPORT_BATCH_PARTITIONS, [batch])
    return materialize(
        list(assets),
        partition_key=batch,
        instance=instance,
        resources={"home": DataHome(path=str(home))},
        run_config={"ops": {"raw_fhir_ndjson": {"config": {"source": "bulk", "bulk": bulk}}}},
        raise_on_error=False,
    )


def _raw(result) -> dict:
    return result.asset_materializations_for_node("raw_fhir_ndjson")[0].metadata


def _check(result, name: str):
    return next(c for c in result.get_asset_check_evaluations() if c.check_name == name)


def _records(home: Path, action: str) -> list[dict]:
    return [r for r in AuditLedger(home / "audit").records() if r["action"] == action]


def test_a_type_never_exported_is_exported_in_full(tiny_store, tmp_path: Path) -> None:
    home = tmp_path / "home"
    with DevFhirServer(store=tiny_store, faults=NO_WAIT) as server, DagsterInstance.ephemeral() as instance:
        first = _materialize(instance, home, "p1", {"url": server.base_url, "types": ["Patient"]})
        assert first.success
        # The default types after a Patient-only export: Encounters were never exported, so no _since at all.
        second = _materialize(instance, home, "all1", {"url": server.base_url})
        assert second.success and "_since" not in server.requests("kickoff")[-1].query
        third = _materialize(instance, home, "all2", {"url": server.base_url})
        assert third.success and "_since=" in server.requests("kickoff")[-1].query
    landed = orjson.loads((home / "phi" / "batches" / "all1" / "manifest.json").read_bytes())
    assert {f["type"]: f["lines"] for f in landed["files"]} == {
        "Encounter": 20, "Observation": 10, "Organization": 2, "Patient": 5,
    }  # fmt: skip
    metadata = _raw(second)
    assert metadata["since"].value == "(full export)"
    assert "never exported from this server before: Encounter" in metadata["since_reason"].value
    assert f"| Patient | {_raw(first)['transaction_time'].value} | yes |" in metadata["since_by_type"].value
    assert "| Encounter | never | yes |" in metadata["since_by_type"].value
    # Now every type was covered by all1: the next export asks for changes since then.
    assert _raw(third)["since"].value == metadata["transaction_time"].value


def test_a_partial_export_lands_its_good_files_and_warns(tiny_store, tmp_path: Path) -> None:
    home = tmp_path / "home"
    faults = Faults(pending_polls=0, failed_types=("Encounter",), error_count_offset=2)
    bulk = {"types": ["Patient", "Encounter", "Observation"]}
    with DevFhirServer(store=tiny_store, faults=faults) as server, DagsterInstance.ephemeral() as instance:
        result = _materialize(instance, home, "part", {"url": server.base_url, **bulk})
        assert result.success  # the default policy lets a partial export go downstream, with a warning
        check = _check(result, "export_completeness")
        assert not check.passed and check.severity == AssetCheckSeverity.WARN
        assert "partial export" in check.description and "error/exception Encounter: 1" in check.description
        assert result.asset_materializations_for_node("fhir_profile")
        # The run summary (what `healthcare-assets run` prints) says it: a warning, not a failure.
        lines: list[str] = []
        watcher = _RunWatcher(instance, "unused", lines.append)
        for entry in instance.all_logs(result.run_id):
            watcher._show(entry)
        assert watcher.failed_checks == [] and len(watcher.warnings) == 1
        assert any(
            line.startswith("  ⚠ check raw_fhir_ndjson:export_completeness warning: partial export") for line in lines
        )
        blocked = _materialize(instance, home, "part2", {"url": server.base_url, **bulk, "partial_export": "block"})
        assert _check(blocked, "export_completeness").severity == AssetCheckSeverity.ERROR
        assert not blocked.asset_materializations_for_node("fhir_profile")
    metadata = _raw(result)
    assert metadata["bulk_partial"].value is True and metadata["dagster/row_count"].value == 15
    assert "| error | exception | Encounter | 1 |" in metadata["bulk_error_issues"].value
    (record,) = [r for r in _records(home, "land_export_batch") if r["partition"] == "part"]
    assert record["details"]["partial"] is True
    assert record["details"]["error_issues"] == [
        {"severity": "error", "code": "exception", "type": "Encounter", "count": 1}
    ]
    assert [c["type"] for c in record["details"]["coverage"]] == ["Patient", "Observation"]  # Encounter failed


def test_an_empty_group_export_fails_with_the_group_named(tiny_store, tmp_path: Path) -> None:
    home = tmp_path / "home"
    faults = Faults(pending_polls=0, unknown_group_empty=True)  # some servers answer a mistyped id with 202
    with DevFhirServer(store=tiny_store, faults=faults) as server, DagsterInstance.ephemeral() as instance:
        result = _materialize(instance, home, "g", {"url": server.base_url, "level": "group", "group_id": "pilott"})
    assert not result.success
    check = _check(result, "export_completeness")
    assert not check.passed and check.severity == AssetCheckSeverity.ERROR
    assert "group-level export of Group/pilott" in check.description and "returned no resources" in check.description
    assert not result.asset_materializations_for_node("fhir_profile")  # blocked


def test_an_incremental_deletion_removes_the_rows_downstream(tiny_store, tmp_path: Path) -> None:
    home = tmp_path / "home"
    with DevFhirServer(store=tiny_store, faults=NO_WAIT) as server, DagsterInstance.ephemeral() as instance:
        assert _materialize(instance, home, "full", {"url": server.base_url}, ALL).success
        warehouse = Warehouse(home / "warehouse.duckdb")
        assert warehouse.query("SELECT count(*) FROM deidentified_encounter") == [(20,)]
        server.store.delete("Encounter", "p2-e3")
        server.store.delete("Patient", "p4")
        result = _materialize(instance, home, "delta", {"url": server.base_url}, ALL)
        assert result.success and "_since=" in server.requests("kickoff")[-1].query
    assert warehouse.query("SELECT count(*) FROM deidentified_encounter") == [(19,)]
    assert warehouse.query("SELECT count(*) FROM deidentified_patient") == [(4,)]
    tombstones = warehouse.query("SELECT batch_id, resource_type FROM deidentified_tombstones ORDER BY 2")
    assert tombstones == [("delta", "Encounter"), ("delta", "Patient")]
    # The tombstones carry the surrogates the codebook gave the deleted resources, never the original ids.
    keys = set(warehouse.query("SELECT resource_type, resource_key FROM deidentified_tombstones"))
    with duckdb.connect(str(home / "phi" / "codebook.duckdb"), read_only=True) as codebook:
        expected = codebook.execute(
            """SELECT namespace, surrogate FROM pseudonyms
               WHERE (namespace, original) IN (('Encounter', 'p2-e3'), ('Patient', 'p4'))"""
        ).fetchall()
    assert keys == set(expected) and len(keys) == 2
    metadata = {
        m.asset_key.to_user_string(): m.metadata for m in result.asset_materializations_for_node("deidentified_tables")
    }
    assert metadata["deidentified_encounter"]["tombstoned_rows_removed"].value == 1
    assert metadata["deidentified_tombstones"]["rows_removed_from_earlier_batches"].value == 2
    (record,) = [r for r in _records(home, "deidentify_export_batch") if r["partition"] == "delta"]
    assert record["counts"]["tombstones"] == 2 and record["counts"]["rows_removed_from_earlier_batches"] == 2
    assert "p2-e3" not in orjson.dumps(record).decode() and verify_ledger(AuditLedger(home / "audit")).ok
    raw = _raw(result)
    assert raw["bulk_deleted_resources"].value == 2 and _check(result, "export_completeness").passed


def test_a_reference_style_group_export_passes_the_structural_check(tmp_path: Path, synthea_dir: Path) -> None:
    store = ResourceStore.load(synthea_dir)
    groups = {"pilot": store.patient_ids()[40:50]}
    faults = Faults(pending_polls=0, reference_style_groups=True)
    with DevFhirServer(store=store, groups=groups, faults=faults) as server, DagsterInstance.ephemeral() as instance:
        bulk = {"url": server.base_url, "level": "group", "group_id": "pilot"}
        result = _materialize(instance, tmp_path / "home", "g1", bulk)
    assert result.success
    assert _check(result, "structural_integrity").passed
    profile = result.asset_materializations_for_node("fhir_profile")[0].metadata
    assert profile["dangling_references"].value == 0 and profile["outside_compartment_references"].value > 100


def test_a_plain_rerun_resumes_and_fresh_abandons(tiny_store, tmp_path: Path) -> None:
    home = tmp_path / "home"
    bulk = {"types": ["Patient", "Encounter"], "since": "none", **FAST}
    with DevFhirServer(store=tiny_store, faults=NO_WAIT) as server, DagsterInstance.ephemeral() as instance:
        server.set_faults(Faults(pending_polls=0, file_failures=1))
        assert not _materialize(instance, home, "r1", {"url": server.base_url, **bulk}).success
        server.set_faults(NO_WAIT)
        resumed = _materialize(instance, home, "r2", {"url": server.base_url, **bulk})  # e.g. the next nightly run
        assert resumed.success and len(server.requests("kickoff")) == 1
        assert _raw(resumed)["bulk_adopted_from"].value == "r1" and _raw(resumed)["bulk_resumed"].value is True

        server.set_faults(Faults(pending_polls=0, file_failures=1))
        assert not _materialize(instance, home, "r3", {"url": server.base_url, **bulk}).success
        server.set_faults(NO_WAIT)
        fresh = _materialize(instance, home, "r4", {"url": server.base_url, **bulk, "fresh": True})
        assert fresh.success and len(server.requests("kickoff")) == 3
    batches = Paths(home).batches
    assert sorted(p.name for p in batches.iterdir()) == ["r2", "r4"]  # no staging left behind
    adopt = _records(home, "bulk_export_adopt")
    abandon = _records(home, "bulk_export_abandon")
    assert [(r["partition"], r["details"]["from_batch"]) for r in adopt] == [("r2", "r1")]
    assert [(r["partition"], r["details"]["batch"]) for r in abandon] == [("r4", "r3")]
    kickoffs = _records(home, "bulk_export_kickoff")
    assert [r["partition"] for r in kickoffs] == ["r1", "r3", "r4"]  # r2 resumed r1's export
