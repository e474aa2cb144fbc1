"""Per-type ``_since``: a type gets the transactionTime of the last export that covered it, or none at all."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import orjson

from healthcare_assets.fhir.bulk import BulkExportRequest
from healthcare_assets.fhir.export_coverage import coverage_entries, last_covered, plan_since
from healthcare_assets.fhir.sources import BulkExportSource

BASE = "https://ehr.example.org/fhir"
T1, T2, T3 = "2026-01-01T00:00:00.000000Z", "2026-02-01T00:00:00.000000Z", "2026-03-01T00:00:00.000000Z"


def _land(batches: Path, name: str, request: BulkExportRequest, when: str, coverage: list | None) -> None:
    """A landed batch's manifest as the Bulk source writes it (``coverage=None``: a batch from before coverage)."""
    folder = batches / name
    folder.mkdir(parents=True)
    details = {} if coverage is None else {"coverage": coverage}
    manifest = {"source": BulkExportSource(request).describe(), "transaction_time": when, "details": details}
    (folder / "manifest.json").write_bytes(orjson.dumps(manifest))


def _plan(batches: Path, request: BulkExportRequest):
    return plan_since(batches, BulkExportSource(request).describe(), request)


def test_a_type_never_exported_gets_no_since(tmp_path: Path) -> None:
    patients_only = BulkExportRequest(BASE, types=("Patient",))
    _land(tmp_path, "b1", patients_only, T1, coverage_entries(patients_only, T1, previous={}))
    assert _plan(tmp_path, patients_only).since == T1
    everything = BulkExportRequest(BASE, types=("Patient", "Encounter", "Condition"))
    plan = _plan(tmp_path, everything)
    assert plan.since is None and plan.last_covered == {"Patient": T1, "Encounter": None, "Condition": None}
    assert "Encounter, Condition" in plan.reason
    # Once all were exported, the earliest of their last exports is the _since of the request.
    _land(tmp_path, "b2", everything, T2, coverage_entries(everything, T2, previous={}))
    _land(tmp_path, "b3", patients_only, T3, coverage_entries(patients_only, T3, previous={"Patient": T2}))
    plan = _plan(tmp_path, everything)
    assert plan.since == T2 and plan.last_covered == {"Patient": T3, "Encounter": T2, "Condition": T2}


def test_filters_and_elements_narrow_what_an_export_covered(tmp_path: Path) -> None:
    filtered = BulkExportRequest(BASE, types=("Encounter",), type_filters=("Encounter?class=IMP",))
    _land(tmp_path, "b1", filtered, T1, coverage_entries(filtered, T1, previous={}))
    assert _plan(tmp_path, filtered).since == T1
    assert _plan(tmp_path, BulkExportRequest(BASE, types=("Encounter",))).since is None  # the filter saw less
    other = BulkExportRequest(BASE, types=("Encounter",), type_filters=("Encounter?class=EMER",))
    assert _plan(tmp_path, other).since is None
    subset = BulkExportRequest(BASE, types=("Encounter",), elements=("status",))
    _land(tmp_path, "b2", subset, T2, coverage_entries(subset, T2, previous={}))
    assert _plan(tmp_path, BulkExportRequest(BASE, types=("Encounter",))).since is None
    # An unfiltered, complete export covers any narrower request later on.
    full = BulkExportRequest(BASE, types=("Encounter",))
    _land(tmp_path, "b3", full, T3, coverage_entries(full, T3, previous={}))
    assert _plan(tmp_path, filtered).since == T3 and _plan(tmp_path, subset).since == T3


def test_failures_skips_and_gaps_cover_nothing(tmp_path: Path) -> None:
    request = BulkExportRequest(BASE, types=("Patient", "Encounter"))
    entries = coverage_entries(request, T1, previous={}, failed_types={"Encounter"})
    assert [e["type"] for e in entries] == ["Patient"]
    assert [e["type"] for e in coverage_entries(request, T1, previous={}, skipped_types={"Patient"})] == ["Encounter"]
    assert coverage_entries(request, T1, previous={}, incomplete=True) == []  # failures nobody can be blamed for
    narrowed = BulkExportRequest(BASE, level="patient", types=("Patient",), method="POST", patients=("p1",))
    assert coverage_entries(narrowed, T1, previous={}) == []
    # An explicit _since after a type's last coverage leaves a gap: that type is not covered by this export.
    incremental = BulkExportRequest(BASE, types=("Patient", "Encounter"), since=T2)
    entries = coverage_entries(incremental, T3, previous={"Patient": T2, "Encounter": T1})
    assert [(e["type"], e["transaction_time"]) for e in entries] == [("Patient", T3)]


def test_other_servers_levels_and_old_manifests_do_not_count(tmp_path: Path) -> None:
    request = BulkExportRequest(BASE, types=("Patient",))
    elsewhere = BulkExportRequest("https://other.example.org/fhir", types=("Patient",))
    _land(tmp_path, "b1", elsewhere, T1, coverage_entries(elsewhere, T1, previous={}))
    group = BulkExportRequest(BASE, level="group", group_id="g1", types=("Patient",))
    _land(tmp_path, "b2", group, T2, coverage_entries(group, T2, previous={}))
    _land(tmp_path, "b3", request, T3, None)  # landed before per-type coverage was recorded: unknown
    (tmp_path / "b4").mkdir()
    (tmp_path / "b4" / "manifest.json").write_bytes(b"\xff not json")
    _land(tmp_path, "b5", request, T3, [{"type": "Patient", "transaction_time": "yesterday"}, "junk"])
    assert last_covered(tmp_path, BulkExportSource(request).describe(), request) == {"Patient": None}
    assert _plan(tmp_path, group).since == T2


def test_an_all_types_export_covers_every_type(tmp_path: Path) -> None:
    everything = BulkExportRequest(BASE)
    _land(tmp_path, "b1", everything, T1, coverage_entries(everything, T1, previous={}))
    assert _plan(tmp_path, BulkExportRequest(BASE, types=("Observation",))).since == T1
    assert _plan(tmp_path, everything).since == T1
    assert coverage_entries(everything, T2, previous={}, failed_types={"Observation"}) == []


def _land_skipping(batches: Path, name: str, request: BulkExportRequest, when: str, skipped: list, previous=None):
    folder = batches / name
    folder.mkdir(parents=True)
    coverage = coverage_entries(request, when, previous=previous or {}, skipped_types=skipped)
    details = {"coverage": coverage, "skipped_types": skipped}
    manifest = {"source": BulkExportSource(request).describe(), "transaction_time": when, "details": details}
    (folder / "manifest.json").write_bytes(orjson.dumps(manifest))


def test_a_default_type_the_server_lacks_does_not_force_full_exports(tmp_path: Path) -> None:
    defaults = BulkExportRequest(BASE, types=("Patient", "Procedure"))
    _land_skipping(tmp_path, "b1", defaults, T1, ["Procedure"])  # dropped: not in the CapabilityStatement
    plan = _plan(tmp_path, defaults)
    assert plan.since == T1 and plan.unsupported == ("Procedure",) and "not supported" in plan.reason
    # Once the server lists it, it is exported with that _since but not recorded as covered: the next is full.
    previous = {"Patient": T1, "Procedure": None}
    _land_skipping(tmp_path, "b2", dataclasses.replace(defaults, since=T1), T2, [], previous)
    plan = _plan(tmp_path, defaults)
    assert plan.since is None and plan.last_covered == {"Patient": T2, "Procedure": None}
