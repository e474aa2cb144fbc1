"""The kick-off request: validation, GET parameters, the POST Parameters body, serialisation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from healthcare_assets.fhir.bulk import BulkExportRequest, ExportLevel

pytestmark = pytest.mark.timeout(30)

BASE = "https://ehr.example.org/fhir/R4/"


def test_levels_and_urls() -> None:
    assert BulkExportRequest(BASE).kickoff_url == "https://ehr.example.org/fhir/R4/$export"
    assert BulkExportRequest(BASE, level="patient").kickoff_url.endswith("/fhir/R4/Patient/$export")
    group = BulkExportRequest(BASE, level=ExportLevel.GROUP, group_id="cohort-1")
    assert group.kickoff_url.endswith("/fhir/R4/Group/cohort-1/$export")


def test_query_parameters() -> None:
    request = BulkExportRequest(
        BASE,
        types=["Patient", "Encounter"],
        since="2026-01-01T00:00:00Z",
        type_filters=("Encounter?class=IMP,EMER", "Patient?gender=female"),
        elements="id,Patient.gender",
        output_format="application/fhir+ndjson",
    )
    assert request.query_params() == [
        ("_outputFormat", "application/fhir+ndjson"),
        ("_type", "Patient,Encounter"),
        ("_since", "2026-01-01T00:00:00Z"),
        ("_typeFilter", "Encounter?class=IMP,EMER"),  # one parameter per filter: its commas stay intact
        ("_typeFilter", "Patient?gender=female"),
        ("_elements", "id,Patient.gender"),
    ]


def test_post_parameters_body() -> None:
    since = datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=2)))
    request = BulkExportRequest(
        BASE,
        level="group",
        group_id="g1",
        types=("Patient",),
        since=since,
        patients=("p1", "Patient/p2"),
        method="post",
    )
    assert request.since == "2026-01-01T10:00:00.000000Z"
    assert request.parameters_resource() == {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "_type", "valueString": "Patient"},
            {"name": "_since", "valueInstant": "2026-01-01T10:00:00.000000Z"},
            {"name": "patient", "valueReference": {"reference": "Patient/p1"}},
            {"name": "patient", "valueReference": {"reference": "Patient/p2"}},
        ],
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"level": "group"}, "group_id"),
        ({"group_id": "g"}, "only valid"),
        ({"types": ("patient",)}, "resource type"),
        ({"since": "2026-01-01"}, "time zone"),
        ({"since": "yesterday"}, "instant"),
        ({"since": datetime(2026, 1, 1)}, "time zone"),
        ({"type_filters": ("class=IMP",)}, "_typeFilter"),
        ({"output_format": "text/csv"}, "_outputFormat"),
        ({"level": "patient", "patients": ("p1",)}, "POST"),
        ({"method": "POST", "patients": ("p1",)}, "patient or group level"),
        ({"method": "PUT"}, "GET or POST"),
    ],
)
def test_invalid_requests(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BulkExportRequest(BASE, **kwargs)


def test_plain_http_only_for_loopback() -> None:
    BulkExportRequest("http://127.0.0.1:8089/fhir")
    BulkExportRequest("http://localhost/fhir")
    with pytest.raises(ValueError, match="https"):
        BulkExportRequest("http://ehr.example.org/fhir")


def test_with_types_drops_filters_and_elements_of_dropped_types() -> None:
    request = BulkExportRequest(
        BASE,
        types=("Patient", "Specimen"),
        type_filters=("Specimen?status=available",),
        elements=("id", "Specimen.type", "Patient.gender"),
    )
    narrowed = request.with_types(["Patient"])
    assert narrowed.types == ("Patient",)
    assert narrowed.type_filters == ()
    assert narrowed.elements == ("id", "Patient.gender")


def test_round_trip_through_dict() -> None:
    request = BulkExportRequest(
        BASE, level="patient", types=("Patient",), since=datetime.now(UTC), patients=("a",), method="POST"
    )
    assert BulkExportRequest.from_dict(request.to_dict()) == request
