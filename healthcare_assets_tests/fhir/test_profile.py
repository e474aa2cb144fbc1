"""Profiling and quarantine: exact counts on Synthea, and every kind of bad line named with file and line."""

from __future__ import annotations

import gzip
from pathlib import Path

import duckdb
import orjson
import pytest

from healthcare_assets.fhir import profile as profile_module
from healthcare_assets.fhir.landing import land_batch
from healthcare_assets.fhir.profile import EXCLUDED_FILE, QUARANTINE_DIR, ProfileLimits, load_profile, profile_batch
from healthcare_assets.fhir.sources import NdjsonDirSource


@pytest.fixture(scope="module")
def synthea_profile(tmp_path_factory: pytest.TempPathFactory, synthea_dir: Path):
    landed = land_batch(tmp_path_factory.mktemp("phi") / "batches", "synthea", NdjsonDirSource(synthea_dir))
    return landed, profile_batch(landed)


def test_synthea_profiles_cleanly(synthea_profile) -> None:
    landed, result = synthea_profile
    assert result.quarantined == 0 and result.quarantine_reasons == {}
    counts = {t.resource_type: t.accepted for t in result.types}
    assert counts["Patient"] == 100 and counts["Encounter"] == 3697 and counts["Observation"] == 16315
    # Synthea repeats shared Organization/Practitioner resources: superseded, not quarantined.
    assert counts["Organization"] == 203 and result.duplicates == {"Organization": 249, "Practitioner": 249}
    assert result.references_total > 100_000 and result.references_dangling == 0
    assert result.passed
    assert (landed.batch_dir / QUARANTINE_DIR / "quarantine.ndjson").read_bytes() == b""


def test_synthea_profile_content(synthea_profile) -> None:
    landed, result = synthea_profile
    presence = {(r["resource_type"], r["element"]): r["rate"] for r in result.element_presence}
    assert presence[("Patient", "birthDate")] == 1.0 and presence[("Encounter", "period")] == 1.0
    systems = {(r["resource_type"], r["system"]) for r in result.code_systems}
    assert ("Observation", "http://loinc.org") in systems and ("Condition", "http://snomed.info/sct") in systems
    ranges = {(r["resource_type"], r["element"]): r for r in result.time_ranges}
    assert ranges[("Patient", "birthDate")]["present"] == 100
    assert ranges[("Encounter", "period.start")]["min_year"] <= ranges[("Encounter", "period.start")]["max_year"]
    saved = load_profile(landed.batch_dir)
    assert saved["accepted"] == result.accepted and saved["passed"] is True


def _write(path: Path, lines: list[str]) -> None:
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def messy_batch(tmp_path: Path):
    src = tmp_path / "src"
    src.mkdir()
    p1 = '{"resourceType":"Patient","id":"p1","gender":"female"}'
    _write(
        src / "Patient.ndjson",
        [
            p1,  # 1: kept? no: superseded by its identical copy on line 7
            "",  # 2: blank, skipped
            '{"resourceType":"Patient","id":"p2"',  # 3: malformed
            "[1, 2]",  # 4: not an object
            '{"resourceType":"Observation","id":"o9"}',  # 5: wrong type for the file
            '{"resourceType":"Patient","gender":"male"}',  # 6: no id
            p1,  # 7: identical copy, kept (last wins)
            '{"resourceType":"Patient","id":"p3","gender":"male"}',  # 8: superseded by line 9
            '{"resourceType":"Patient","id":"p3","gender":"female"}',  # 9: conflicting copy, kept
        ],
    )
    _write(
        src / "Encounter.ndjson",
        [
            '{"resourceType":"Encounter","id":"e1","subject":{"reference":"Patient/p1"}}',
            '{"resourceType":"Encounter","id":"e2","subject":{"reference":"Patient/nobody"}}',
            '{"resourceType":"Encounter","id":"e3","subject":{"reference":"#contained"}}',
            '{"resourceType":"Encounter","id":"e4","subject":{"reference":"urn:uuid:p3"}}',
            '{"resourceType":"Encounter","id":"e5","subject":{"reference":"https://ehr.example/fhir/Patient/p3"}}',
            # Practitioner is not in the batch at all: "type not in batch", not dangling.
            '{"resourceType":"Encounter","id":"e6","subject":{"reference":"Patient/p1"},'
            '"participant":[{"individual":{"reference":"Practitioner/dr1"}}]}',
        ],
    )
    return land_batch(tmp_path / "batches", "messy", NdjsonDirSource(src))


def test_quarantine_names_file_line_and_reason(messy_batch) -> None:
    result = profile_batch(messy_batch, ProfileLimits(max_quarantine_rate=0.5, max_dangling_rate=0.5))
    lines = (messy_batch.batch_dir / QUARANTINE_DIR / "quarantine.ndjson").read_text().splitlines()
    entries = [orjson.loads(line) for line in lines]
    found = [(Path(e["file"]).name, e["line"], e["reason_kind"]) for e in entries]
    assert found == [
        ("Patient.ndjson", 3, "malformed_json"),
        ("Patient.ndjson", 4, "not_an_object"),
        ("Patient.ndjson", 5, "type_mismatch"),
        ("Patient.ndjson", 6, "missing_id"),
    ]
    assert entries[2]["reason"] == "resourceType Observation in a Patient file"
    assert entries[0]["text"].startswith('{"resourceType":"Patient","id":"p2"')  # kept for inspection, in the PHI zone
    counts = {t.resource_type: t for t in result.types}
    assert counts["Patient"].lines == 8 and counts["Patient"].accepted == 2
    assert counts["Patient"].quarantined == 4 and counts["Patient"].superseded == 2
    assert counts["Patient"].superseded_conflicting == 1
    # References: e2 dangles; the contained one is not counted; urn:uuid and absolute URLs resolve; the
    # practitioner reference cannot resolve in a batch without Practitioner resources.
    assert result.references_total == 6 and result.references_dangling == 1 and result.references_unexported == 1
    assert result.dangling_rate == 1 / 5
    assert result.passed
    excluded = duckdb.sql(
        f"SELECT line, record_no, why FROM '{messy_batch.batch_dir / QUARANTINE_DIR / EXCLUDED_FILE}'"
    ).fetchall()
    # record_no skips the blank line 2: it is the row number read_json gives each line.
    assert sorted(excluded) == [
        (1, 1, "superseded"),
        (3, 2, "malformed_json"),
        (4, 3, "not_an_object"),
        (5, 4, "type_mismatch"),
        (6, 5, "missing_id"),
        (8, 7, "superseded"),
    ]
    patient = messy_batch.batch_dir / "ndjson" / "Patient.ndjson"
    kept = duckdb.sql(
        f"""SELECT list(id ORDER BY n) FROM (
              SELECT row_number() OVER () AS n, id FROM read_json('{patient}', format='newline_delimited',
                  records=true, ignore_errors=true, columns={{'id': 'VARCHAR'}}))
            WHERE n NOT IN (SELECT record_no FROM '{messy_batch.batch_dir / QUARANTINE_DIR / EXCLUDED_FILE}'
                            WHERE file LIKE '%Patient.ndjson')"""
    ).fetchall()[0][0]
    assert kept == ["p1", "p3"]  # exactly the accepted resources, read the fast way
    expected = duckdb.sql("SELECT bit_xor(hash(x)) FROM (VALUES ('p1'), ('p3')) t(x)").fetchall()[0][0]
    assert counts["Patient"].id_checksum == str(expected)


@pytest.mark.parametrize("synthea", [False, True], ids=["messy", "synthea"])
def test_testing_validity_first_gives_the_same_profile(
    tmp_path: Path, messy_batch, synthea_dir: Path, synthea: bool, monkeypatch
) -> None:
    """Malformed lines are skipped either by ``try`` or by ``json_valid`` first (chosen per file from the screen's
    hint, for speed only): both give the same profile, quarantine and exclusion list."""
    batch = land_batch(tmp_path / "batches", "both", NdjsonDirSource(synthea_dir)) if synthea else messy_batch
    chosen = profile_module._line_facts

    def outputs(threshold: float) -> tuple[set[bool], dict, bytes, list]:
        seen = set()

        def recording(*args) -> None:
            seen.add(args[-1])
            chosen(*args)

        monkeypatch.setattr(profile_module, "_line_facts", recording)
        monkeypatch.setattr(profile_module, "TEST_VALIDITY_FIRST_ABOVE", threshold)
        result = profile_batch(batch, ProfileLimits(max_quarantine_rate=0.5, max_dangling_rate=0.5))
        described = {k: v for k, v in vars(result).items() if k != "seconds"}
        quarantine = (batch.batch_dir / QUARANTINE_DIR / "quarantine.ndjson").read_bytes()
        excluded = duckdb.sql(f"SELECT * FROM '{batch.batch_dir / QUARANTINE_DIR / EXCLUDED_FILE}' ORDER BY ALL")
        return seen, described, quarantine, excluded.fetchall()

    by_hint, *hinted = outputs(profile_module.TEST_VALIDITY_FIRST_ABOVE)
    always, *first = outputs(-1.0)
    never, *tried = outputs(float("inf"))
    assert always == {True} and never == {False}
    assert first == tried == hinted
    # The hint: the messy Patient file (a malformed and a blank line in nine) tests validity first; clean
    # Synthea files (and the messy Encounter file) do not.
    assert by_hint == ({False} if synthea else {True, False})


def test_gate_fails_above_limits(messy_batch) -> None:
    result = profile_batch(messy_batch)  # defaults: 1 % quarantine, 1 % dangling
    assert not result.passed
    assert any("quarantine rate" in failure for failure in result.failures)
    assert any("dangling reference rate" in failure and "Encounter->Patient" in failure for failure in result.failures)


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError, match="max_dangling_rate"):
        ProfileLimits(max_dangling_rate=2.0)


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gzip"])
def test_aggregates_describe_exactly_the_lines_pass_one_accepts(tmp_path: Path, compressed: bool) -> None:
    """The aggregates pass pairs the file's lines by position with the line facts of pass 1 (which lines count):
    around blank, malformed, foreign, id-less and screened (non-UTF-8, replaced) lines, every count, time and
    reference must come from exactly the well-formed lines of the file's type with an id, and from their text."""
    src = tmp_path / "src"
    src.mkdir()

    def obs(i: int) -> bytes:
        return orjson.dumps(
            {
                "resourceType": "Observation",
                "id": f"o{i}",
                "effectiveDateTime": f"20{i:02d}-01-01",
                "code": {"coding": [{"system": f"urn:sys:{i % 3}"}]},
                "subject": {"reference": f"Patient/p{i}"},
                **({"issued": f"19{i:02d}-06-01"} if i % 2 else {}),
            }
        )

    noise = [
        b"",  # blank
        b"   ",  # blank (whitespace only)
        b'{"resourceType":"Observation","id":"bad","effectiveDateTime":"1800-01-01"',  # malformed
        b'[{"effectiveDateTime":"1801-01-01"}]',  # not an object
        b'{"resourceType":"Patient","id":"x","effectiveDateTime":"2999-01-01","subject":{"reference":"Patient/x"}}',
        b'{"resourceType":"Observation","effectiveDateTime":"1802-01-01","extra":{"reference":"Patient/y"}}',  # no id
        b'{"resourceType":"Observation","id":"z","issued":"\xff\xfe","subject":{"reference":"Patient/z"}}',  # not UTF-8
    ]
    lines, good = [], []
    for i in range(1, 40):
        lines.append(obs(i))
        good.append(i)
        lines.append(noise[i % len(noise)])
    data = b"\n".join(lines) + b"\n"
    name = "Observation.ndjson" + (".gz" if compressed else "")
    (src / name).write_bytes(gzip.compress(data) if compressed else data)
    landed = land_batch(tmp_path / "batches", "pairing", NdjsonDirSource(src))
    result = profile_batch(landed, ProfileLimits(max_quarantine_rate=1.0, max_dangling_rate=1.0))

    assert {t.resource_type: t.accepted for t in result.types} == {"Observation": len(good)}
    presence = {r["element"]: r["present"] for r in result.element_presence}
    assert presence == {
        "resourceType": len(good),
        "id": len(good),
        "effectiveDateTime": len(good),
        "code": len(good),
        "subject": len(good),
        "issued": sum(1 for i in good if i % 2),
    }
    ranges = {r["element"]: (r["present"], r["min"], r["max"]) for r in result.time_ranges}
    odd = [i for i in good if i % 2]
    assert ranges == {
        "effectiveDateTime": (len(good), f"20{min(good):02d}-01-01", f"20{max(good):02d}-01-01"),
        "issued": (len(odd), f"19{min(odd):02d}-06-01", f"19{max(odd):02d}-06-01"),
    }
    systems = {r["system"]: r["occurrences"] for r in result.code_systems}
    assert systems == {f"urn:sys:{k}": sum(1 for i in good if i % 3 == k) for k in range(3)}
    assert result.references_total == len(good)
    assert [(r["source_type"], r["target_type"], r["total"]) for r in result.references] == [
        ("Observation", "Patient", len(good))
    ]
