"""Partial successes: error files with wrong counts never fail the export, and are summarised without their text."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
import pytest

from healthcare_assets.fhir.bulk import BulkExportRequest
from healthcare_assets.fhir.bulk.devserver import Faults
from healthcare_assets.fhir.bulk.outcomes import summarize_error_files

pytestmark = pytest.mark.timeout(60)


def test_partial_export_lands_the_generated_files(serve, tiny_dir, make_client, tmp_path: Path):
    # The server fails Encounter, lists the error file with a count that does not match, and exports the rest.
    server = serve(tiny_dir, faults=Faults(failed_types=("Encounter",), error_count_offset=3))
    result = make_client().run(
        BulkExportRequest(server.base_url, types=("Patient", "Encounter", "Observation")),
        tmp_path / "out",
        tmp_path / "state.json",
    )
    assert result.lines_by_type() == {"Patient": 5, "Observation": 10}
    (error_file,) = result.error_files
    assert error_file.count == error_file.lines + 3  # accepted as it is: error files are reports, not data
    assert len(server.requests("file")) == 3  # nothing downloaded twice
    summary = summarize_error_files([error_file.path], ("Patient", "Encounter", "Observation"))
    assert summary.partial and summary.failed_types == {"Encounter"} and not summary.unattributed_failures
    assert summary.rows() == [{"severity": "error", "code": "exception", "type": "Encounter", "count": 1}]


def test_warnings_alone_are_not_a_partial_export(serve, tiny_dir, make_client, tmp_path: Path):
    server = serve(tiny_dir)
    request = BulkExportRequest(
        server.base_url, level="patient", types=("Patient",), method="POST", patients=("p1", "p9")
    )
    result = make_client().run(request, tmp_path / "out", tmp_path / "state.json")
    summary = summarize_error_files([f.path for f in result.error_files], ("Patient",))
    assert summary.rows() == [{"severity": "warning", "code": "informational", "type": "Patient", "count": 1}]
    assert not summary.partial


def test_summary_keeps_no_text_and_survives_hostile_lines(tmp_path: Path):
    phi = "Jane Q. Doe, SSN 123-45-6789, Patient/abc-123"
    lines = [
        orjson.dumps(
            {
                "resourceType": "OperationOutcome",
                "issue": [
                    {"severity": "error", "code": "processing", "diagnostics": f"Encounter for {phi} failed"},
                    {"severity": phi, "code": phi, "expression": ["Observation.subject"]},
                    {"severity": "fatal", "code": "exception"},
                ],
            }
        ),
        b"\xff\xfe not UTF-8 " + phi.encode(),
        b'{"resourceType": "Patient", "id": "' + phi.encode() + b'"}',
        b"[1, 2, 3]",
        b"",
        b'{"resourceType": "OperationOutcome", "issue": "' + b"x" * (2 << 20) + b'"}',  # over the line limit
    ]
    path = tmp_path / "OperationOutcome.ndjson.gz"
    path.write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))
    summary = summarize_error_files([path], ("Encounter", "Observation"))
    assert summary.unreadable_lines == 4 and summary.outcomes == 1
    assert summary.rows() == [
        {"severity": "error", "code": "processing", "type": "Encounter", "count": 1},
        {"severity": "error", "code": "unknown", "type": "Observation", "count": 1},
        {"severity": "fatal", "code": "exception", "type": "(unknown)", "count": 1},
    ]
    assert summary.partial and summary.unattributed_failures
    for text in (repr(summary), summary.describe()):
        assert "Doe" not in text and "123-45" not in text and "abc-123" not in text
