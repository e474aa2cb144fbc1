"""Full exports of the Synthea sample through the dev server: counts, byte identity, levels, parameters."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import orjson
import pytest

from healthcare_assets.fhir.bulk import BulkExportRequest
from healthcare_assets.fhir.bulk.devserver import Faults
from healthcare_assets_tests.fhir.bulk.helpers import read_lines

pytestmark = pytest.mark.timeout(60)

EXPECTED = {
    "AllergyIntolerance": 38,
    "CarePlan": 278,
    "CareTeam": 278,
    "Claim": 6083,
    "Condition": 639,
    "Device": 4,
    "DiagnosticReport": 897,
    "Encounter": 3697,
    "ExplanationOfBenefit": 3697,
    "ImagingStudy": 16,
    "Immunization": 1287,
    "MedicationRequest": 2386,
    "Observation": 16315,
    "Organization": 452,
    "Patient": 100,
    "Practitioner": 452,
    "Procedure": 2351,
}


def test_full_system_export_is_exact(serve, synthea_store, synthea_bytes, make_client, events, tmp_path: Path):
    server = serve(synthea_store)
    result = make_client().run(
        BulkExportRequest(server.base_url), tmp_path / "out", tmp_path / "state.json", on_progress=events
    )

    assert result.lines_by_type() == EXPECTED
    assert [f.path.name for f in result.files] == [f"{t}.ndjson" for t in sorted(EXPECTED)]
    for exported in result.files:
        data = exported.path.read_bytes()
        assert data == synthea_bytes[exported.type], f"{exported.type} differs from its source"
        assert exported.sha256 == hashlib.sha256(data).hexdigest()
        assert exported.bytes == len(data) and exported.lines == exported.count
        assert exported.path.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o700
    assert not list((tmp_path / "out").glob(".*.part"))
    assert result.error_files == () and result.deleted_files == () and result.skipped_types == ()
    assert result.transaction_time and result.request_url == f"{server.base_url}/$export"
    assert not result.resumed
    kinds = events.kinds()
    assert kinds[:4] == ["capabilities", "kickoff", "poll", "manifest"] and kinds[-1] == "complete"
    assert len(events.of("file_complete")) == len(EXPECTED)
    assert server.requests("status", "DELETE"), "the finished job is released with DELETE"


def test_several_files_per_type_are_numbered_in_manifest_order(
    serve, synthea_store, synthea_bytes, make_client, tmp_path: Path
):
    server = serve(synthea_store, faults=Faults(max_lines_per_file=5000, manifest_page_size=3))
    request = BulkExportRequest(server.base_url, types=("Observation", "Claim", "Patient"))
    result = make_client().run(request, tmp_path / "out", tmp_path / "state.json")

    names = [f.path.name for f in result.files]
    assert names == [
        "Observation.001.ndjson",
        "Observation.002.ndjson",
        "Observation.003.ndjson",
        "Observation.004.ndjson",
        "Claim.001.ndjson",
        "Claim.002.ndjson",
        "Patient.ndjson",
    ]
    assert [f.lines for f in result.files][:4] == [5000, 5000, 5000, 1315]
    for resource_type in ("Observation", "Claim", "Patient"):
        parts = [f.path for f in result.files if f.type == resource_type]
        assert b"".join(p.read_bytes() for p in parts) == synthea_bytes[resource_type]
    assert len(server.requests("status", "GET")) == 1 + 3  # one 202, then 3 manifest pages (3+3+1 entries)


def test_group_and_patient_level_exports(serve, synthea_store, make_client, tmp_path: Path):
    patients = synthea_store.patient_ids()[:3]
    server = serve(synthea_store, groups={"cohort": patients})
    client = make_client()

    everyone = client.run(BulkExportRequest(server.base_url, level="patient"), tmp_path / "a", tmp_path / "a.json")
    by_type = everyone.lines_by_type()
    assert by_type["Patient"] == 100 and by_type["Encounter"] == 3697
    assert "Organization" not in by_type and "Practitioner" not in by_type  # not in the patient compartment

    group = client.run(
        BulkExportRequest(server.base_url, level="group", group_id="cohort", types=("Patient", "Encounter")),
        tmp_path / "g",
        tmp_path / "g.json",
    )
    assert group.lines_by_type()["Patient"] == 3
    encounters = read_lines([f.path for f in group.files if f.type == "Encounter"])
    assert encounters and {orjson.loads(e)["subject"]["reference"] for e in encounters} <= {
        f"Patient/{p}" for p in patients
    }

    posted = client.run(
        BulkExportRequest(
            server.base_url,
            level="group",
            group_id="all",
            method="POST",
            types=("Patient", "Claim"),
            patients=(patients[0], "does-not-exist"),
        ),
        tmp_path / "p",
        tmp_path / "p.json",
    )
    assert posted.lines_by_type()["Patient"] == 1
    claims = read_lines([f.path for f in posted.files if f.type == "Claim"])
    assert claims and all(orjson.loads(c)["patient"]["reference"] == f"Patient/{patients[0]}" for c in claims)
    assert posted.method == "POST" and len(posted.error_files) == 1  # the unknown patient is reported
    (issue,) = [orjson.loads(line) for line in read_lines([posted.error_files[0].path])]
    assert "does-not-exist" in issue["issue"][0]["diagnostics"]
    assert posted.error_files[0].path.parent.name == "errors"


def test_type_filter_and_elements(serve, synthea_store, make_client, tmp_path: Path):
    server = serve(synthea_store)
    request = BulkExportRequest(
        server.base_url,
        types=("Encounter", "Patient"),
        type_filters=("Encounter?class=IMP",),
        elements=("Patient.gender",),
    )
    result = make_client().run(request, tmp_path / "out", tmp_path / "state.json")
    assert result.lines_by_type() == {"Encounter": 101, "Patient": 100}  # 101 inpatient stays in the sample
    patient = orjson.loads(read_lines([f.path for f in result.files if f.type == "Patient"])[0])
    assert set(patient) == {"resourceType", "id", "meta", "gender"}
    assert patient["meta"]["tag"][-1]["code"] == "SUBSETTED"
    assert "_typeFilter=Encounter%3Fclass%3DIMP" in result.request_url


def test_keep_gzip_stores_compressed_files(serve, synthea_store, synthea_bytes, make_client, tmp_path: Path):
    server = serve(synthea_store)
    request = BulkExportRequest(server.base_url, types=("Patient", "Encounter"))
    result = make_client(keep_gzip=True).run(request, tmp_path / "out", tmp_path / "state.json")
    for exported in result.files:
        assert exported.path.name.endswith(".ndjson.gz")
        raw = exported.path.read_bytes()
        assert exported.sha256 == hashlib.sha256(raw).hexdigest() and exported.bytes == len(raw)
        assert gzip.decompress(raw) == synthea_bytes[exported.type]
