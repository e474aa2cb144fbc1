"""A batch of dirty input lands, is profiled with every bad line quarantined by file, line and reason, and is
de-identified with exactly the accepted resources and none of the bad lines' content."""

from __future__ import annotations

import gzip
from pathlib import Path

import duckdb
import orjson
import pytest

from healthcare_assets.deid import Codebook, CodebookPseudonymizer, build_policy, deidentify_batch
from healthcare_assets.fhir.landing import land_batch
from healthcare_assets.fhir.profile import (
    EXCLUDED_FILE,
    QUARANTINE_DIR,
    ProfileLimits,
    profile_batch,
    readable_files,
)
from healthcare_assets.fhir.sources import NdjsonDirSource
from healthcare_assets.fhir.views import catalog
from healthcare_assets_tests.deid.conftest import REFERENCE
from healthcare_assets_tests.dirty_input import NEEDLES, binary_blob, dirty_lines, long_line

LIMIT = 2048


def _encounter(resource_id: str, patient: str) -> bytes:
    return orjson.dumps(
        {
            "resourceType": "Encounter",
            "id": resource_id,
            "status": "finished",
            "subject": {"reference": f"Patient/{patient}"},
            "period": {"start": "2020-01-01T10:00:00Z", "end": "2020-01-03T10:00:00Z"},
        }
    )


@pytest.fixture
def dirty_batch(tmp_path: Path):
    src = tmp_path / "src"
    src.mkdir()
    bad = dirty_lines("p")
    patients = [
        b'{"resourceType":"Patient","id":"p1","gender":"male"}',  # 1
        bad["invalid_utf8"],  # 2
        long_line(3000, resource_id="p-too-long"),  # 3: over the 2 KiB limit used here
        bad["stray_carriage_return"],  # 4
        b"",  # 5: blank
        b'{"resourceType":"Patient","id":"p2","gender":"female"}',  # 6
        bad["malformed_json"],  # 7
        long_line(1500, resource_id="p-long"),  # 8: long but under the limit: accepted
    ]
    # CRLF endings throughout: line numbers must still be the file's.
    (src / "Patient.ndjson").write_bytes(b"\r\n".join(patients) + b"\r\n")
    encounters = [_encounter("e1", "p1"), bad["invalid_utf8"], _encounter("e2", "p2"), _encounter("e3", "p-long")]
    (src / "Encounter.ndjson.gz").write_bytes(gzip.compress(b"\n".join(encounters) + b"\n"))
    (src / "attachments.ndjson").write_bytes(binary_blob(3000))  # no type in the name or the content
    packed = gzip.compress(b'{"resourceType":"Condition","id":"c1"}\n' * 2000)
    (src / "Condition.ndjson.gz").write_bytes(packed[: len(packed) // 2])  # truncated download
    return land_batch(tmp_path / "phi" / "batches", "dirty", NdjsonDirSource(src))


def test_landing_sets_unusable_files_aside(dirty_batch) -> None:
    manifest = dirty_batch.manifest
    assert {f["type"] for f in manifest["files"]} == {"Patient", "Encounter"}
    rejected = {Path(f["path"]).name: (f["type"], f["reason"]) for f in manifest["rejected_files"]}
    assert rejected == {
        "attachments.ndjson": (None, "unknown_type"),
        "Condition.ndjson.gz": ("Condition", "corrupt_compression"),
    }
    assert manifest["totals"]["rejected_files"] == 2


def test_every_bad_line_is_quarantined_by_file_line_and_reason(dirty_batch) -> None:
    result = profile_batch(dirty_batch, ProfileLimits(0.9, 0.9), max_line_bytes=LIMIT)
    quarantine = dirty_batch.batch_dir / QUARANTINE_DIR
    entries = [orjson.loads(line) for line in (quarantine / "quarantine.ndjson").read_text().splitlines()]
    found = [(Path(e["file"]).name, e["line"], e["reason_kind"]) for e in entries]
    typed = [f for f in found if f[0] in ("Patient.ndjson", "Encounter.ndjson.gz")]
    assert typed == [
        ("Encounter.ndjson.gz", 2, "invalid_utf8"),
        ("Patient.ndjson", 2, "invalid_utf8"),
        ("Patient.ndjson", 3, "line_too_long"),
        ("Patient.ndjson", 4, "stray_carriage_return"),
        ("Patient.ndjson", 7, "malformed_json"),
    ]
    too_long = next(e for e in entries if e["reason_kind"] == "line_too_long")
    size = len(long_line(3000, resource_id="p-too-long"))
    assert too_long["reason"] == f"line of {size:,} bytes exceeds the limit of 2,048 bytes"
    assert "Zwetschge" in next(e for e in entries if e["reason_kind"] == "invalid_utf8")["text"]  # PHI zone only
    unknown = [f for f in found if f[0] == "attachments.ndjson"]
    assert unknown and {f[2] for f in unknown} == {"unknown_type"}
    condition = [f for f in found if f[0] == "Condition.ndjson.gz"]
    assert condition[-1][2] == "corrupt_compression" and len(condition) > 100
    counts = {t.resource_type: t for t in result.types}
    assert counts["Patient"].accepted == 3 and counts["Patient"].quarantined == 4
    assert counts["Encounter"].accepted == 3 and counts["(unknown)"].quarantined == len(unknown)
    assert result.quarantine_reasons["invalid_utf8"] == 2
    assert [(Path(r["path"]).name, r["reason"]) for r in result.rejected_files] == [
        ("Condition.ndjson.gz", "corrupt_compression"),
        ("attachments.ndjson", "unknown_type"),
    ]
    assert result.dangling_rate == 0.0  # encounters of the accepted patients resolve
    # The quarantine sample names lines, never content.
    assert all(set(s) == {"file", "line", "reason_kind"} for s in result.quarantine_sample)


def test_readers_downstream_see_only_the_accepted_lines(dirty_batch) -> None:
    profile_batch(dirty_batch, ProfileLimits(0.9, 0.9), max_line_bytes=LIMIT)
    readable = readable_files(dirty_batch)
    patient = readable["ndjson/Patient.ndjson"]
    assert patient.path.parent.name == "readable" and not patient.compressed
    excluded = dirty_batch.batch_dir / QUARANTINE_DIR / EXCLUDED_FILE
    kept = duckdb.sql(
        f"""SELECT list(id ORDER BY n) FROM (
              SELECT row_number() OVER () AS n, id FROM read_json('{patient.path}', format='newline_delimited',
                  records=true, ignore_errors=true, columns={{'id': 'VARCHAR'}}))
            WHERE n NOT IN (SELECT record_no FROM '{excluded}' WHERE file = 'ndjson/Patient.ndjson')"""
    ).fetchall()[0][0]
    assert kept == ["p1", "p2", "p-long"]


def test_deidentification_of_a_dirty_batch_is_exact_and_clean(dirty_batch, tmp_path: Path) -> None:
    profiled = profile_batch(dirty_batch, ProfileLimits(0.9, 0.9), max_line_bytes=LIMIT)
    counts = {t.resource_type: {"accepted": t.accepted, "id_checksum": t.id_checksum} for t in profiled.types}
    views = catalog.project_views()
    policy = build_policy(views)
    codebook = Codebook(tmp_path / "phi" / "codebook.duckdb")
    result = deidentify_batch(
        dirty_batch, counts, views, policy, CodebookPseudonymizer(codebook), codebook,
        dirty_batch.batch_dir / "deid_staging", REFERENCE,
    )  # fmt: skip
    assert result.tables["deidentified_patient"].rows == 3
    assert result.tables["deidentified_encounter"].rows == 3
    assert result.scan.passed, result.scan.summary()
    for table in result.tables.values():
        data = duckdb.sql(f"SELECT * FROM read_parquet('{table.path}')").fetchall()
        text = repr(data).encode()
        assert not [n for n in NEEDLES if n in text], table.table


def test_excluded_lines_are_left_out_of_the_right_file(tmp_path: Path) -> None:
    """Two files of one type, each with excluded lines (malformed, and an older copy of a resource whose newer copy
    is in the other file): de-identification keeps exactly the profile's resources, in its chosen versions."""

    def encounter(resource_id: str, status: str, updated: str = "2020-01-01T00:00:00Z") -> bytes:
        return orjson.dumps(
            {
                "resourceType": "Encounter",
                "id": resource_id,
                "meta": {"lastUpdated": updated},
                "status": status,
                "subject": {"reference": "Patient/p1"},
                "period": {"start": "2020-01-01T10:00:00Z", "end": "2020-01-03T10:00:00Z"},
            }
        )

    src = tmp_path / "src"
    src.mkdir()
    (src / "Patient.ndjson").write_bytes(b'{"resourceType":"Patient","id":"p1","gender":"male"}\n')
    old_copy = encounter("e2", "cancelled", "2019-01-01T00:00:00Z")
    truncated = b'{"resourceType": "Encounter", "id": '
    first = [encounter("e1", "finished"), truncated, old_copy, encounter("e3", "finished")]
    second = [encounter("e4", "finished"), encounter("e2", "finished"), b"{not json", encounter("e5", "finished")]
    (src / "Encounter.000.ndjson").write_bytes(b"\n".join(first) + b"\n")
    (src / "Encounter.001.ndjson").write_bytes(b"\n\n".join(second) + b"\n")  # blank lines: records != lines
    batch = land_batch(tmp_path / "phi" / "batches", "two-files", NdjsonDirSource(src))
    profiled = profile_batch(batch, ProfileLimits(0.9, 0.9, 0.9))
    counts = {t.resource_type: {"accepted": t.accepted, "id_checksum": t.id_checksum} for t in profiled.types}
    assert counts["Encounter"]["accepted"] == 5 and profiled.superseded == 1 and profiled.quarantined == 2
    views = catalog.project_views()
    codebook = Codebook(tmp_path / "phi" / "codebook.duckdb")
    result = deidentify_batch(
        batch, counts, views, build_policy(views), CodebookPseudonymizer(codebook), codebook,
        batch.batch_dir / "deid_staging", REFERENCE,
    )  # fmt: skip
    table = result.tables["deidentified_encounter"]
    statuses = duckdb.sql(f"SELECT status, count(*) FROM read_parquet('{table.path}') GROUP BY 1").fetchall()
    assert statuses == [("finished", 5)]  # e2's newer copy, from the second file
