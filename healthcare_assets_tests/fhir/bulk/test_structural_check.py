"""The structural check on Bulk exports: references outside the patient compartment, and resources sent again."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from healthcare_assets.defs.extraction import DEFAULT_BULK_TYPES
from healthcare_assets.fhir.bulk import BulkExportRequest
from healthcare_assets.fhir.bulk.devserver import Faults
from healthcare_assets.fhir.landing import land_batch
from healthcare_assets.fhir.profile import ProfileLimits, profile_batch
from healthcare_assets.fhir.sources import BulkExportSource
from healthcare_assets_tests.fhir.bulk.helpers import fast_settings, tiny_resources

pytestmark = pytest.mark.timeout(120)
NO_WAIT = Faults(pending_polls=0)


def test_group_export_references_outside_the_compartment_are_not_dangling(serve, synthea_store, tmp_path: Path):
    # Like the SMART reference server: a group's Practitioners and Organizations are only those that came with
    # its members' data, so encounters reference some the export does not hold.
    members = synthea_store.patient_ids()[40:50]
    server = serve(
        synthea_store, groups={"pilot": members}, faults=Faults(pending_polls=0, reference_style_groups=True)
    )
    request = BulkExportRequest(server.base_url, level="group", group_id="pilot", types=tuple(DEFAULT_BULK_TYPES))
    landed = land_batch(tmp_path / "batches", "g1", BulkExportSource(request, None, fast_settings()))
    assert {f["type"]: f["lines"] for f in landed.manifest["files"]}["Practitioner"] > 0  # some, not all

    result = profile_batch(landed)
    assert result.passed, result.failures
    assert result.level == "group" and result.references_dangling == 0
    outside = {(r["source_type"], r["target_type"]): r["outside_compartment"] for r in result.references}
    assert outside[("Encounter", "Practitioner")] > 0 and outside[("Encounter", "Organization")] > 0
    assert outside[("Encounter", "Patient")] == 0  # the compartment itself must resolve
    assert result.to_json()["references_outside_compartment"] == result.references_outside_compartment > 100

    # The same lines judged as a system-level export: those references dangle and the gate closes.
    landed.manifest["source"]["level"] = "system"
    system = profile_batch(landed)
    assert not system.passed and system.references_outside_compartment == 0
    assert system.references_dangling == result.references_outside_compartment
    assert "Encounter->Practitioner" in system.failures[0]


def test_resources_sent_ten_times_fail_the_superseded_limit(serve, tmp_path: Path):
    source = tmp_path / "source"
    source.mkdir()
    lines = b"".join(orjson.dumps(r) + b"\n" for r in tiny_resources() if r["resourceType"] == "Patient")
    (source / "Patient.ndjson").write_bytes(lines * 10)  # the same five patients, ten times over
    (source / "Organization.ndjson").write_bytes(b'{"resourceType":"Organization","id":"o1"}\n')
    server = serve(source, faults=NO_WAIT)
    request = BulkExportRequest(server.base_url, types=("Patient", "Organization"))
    landed = land_batch(tmp_path / "batches", "dup", BulkExportSource(request, None, fast_settings()))

    result = profile_batch(landed)
    assert result.superseded == 45 and result.quarantined == 0
    assert not result.passed
    (failure,) = result.failures
    assert failure.startswith("superseded line rate 88.2353% exceeds 50.0000%")
    assert "Patient: 45 of 50 lines" in failure and "Organization" not in failure
    assert profile_batch(landed, ProfileLimits(max_superseded_rate=0.9)).passed
