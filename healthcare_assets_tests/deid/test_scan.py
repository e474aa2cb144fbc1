"""The residual-PHI scan finds nothing on clean output and catches deliberately leaked values, reporting
table, column and detector but never the value."""

from __future__ import annotations

import dataclasses
import gzip
import json
import shutil
from pathlib import Path

import duckdb
import pytest

from healthcare_assets.deid.scan import ScanResult, scan_tables
from healthcare_assets.deid.validation import ValidationSettings, scan_rules
from healthcare_assets_tests.deid.conftest import Run


@pytest.fixture(scope="module")
def scanner(synthea_run: Run):
    """Scan copies of the Synthea outputs against the batch's PHI dictionary (staged by the engine)."""
    con = duckdb.connect()

    rules = scan_rules(synthea_run.policy, ValidationSettings())

    def scan(staged: dict[str, Path], safe_harbor: bool = True) -> ScanResult:
        return scan_tables(con, staged, synthea_run.inventory, safe_harbor, rules=rules)

    yield scan
    con.close()


@pytest.fixture(scope="module")
def synthea_phi(synthea_dir: Path) -> dict[str, str]:
    """Real values of the first Synthea patient (synthetic PHI), read at test time."""
    with gzip.open(synthea_dir / "Patient.ndjson.gz", "rt") as handle:
        patient = next(p for p in map(json.loads, handle) if p["address"][0].get("postalCode"))
    mrn = next(
        i["value"] for i in patient["identifier"] if i.get("type", {}).get("coding", [{}])[0].get("code") == "MR"
    )
    return {
        "name": patient["name"][0]["family"],
        "mrn": mrn,
        "date": patient["birthDate"],
        "zip5": patient["address"][0]["postalCode"],
        "phone": patient["telecom"][0]["value"],
    }


def _leak(run: Run, tmp_path: Path, table: str, column: str, value: str) -> dict[str, Path]:
    """Copy the staged outputs and overwrite one column of one row with ``value``."""
    staged = {}
    for name, staged_table in run.result.tables.items():
        target = tmp_path / f"{name}.parquet"
        shutil.copy(staged_table.path, target)
        staged[name] = target
    con = duckdb.connect()
    con.execute(f"CREATE TABLE t AS SELECT * FROM read_parquet('{staged[table]}')")
    con.execute(f'UPDATE t SET "{column}" = ? WHERE rowid = 3', [value])
    con.execute(f"COPY t TO '{staged[table]}' (FORMAT parquet)")
    return staged


def test_clean_output_passes(synthea_run: Run) -> None:
    assert synthea_run.scan.passed, synthea_run.scan.summary()
    assert synthea_run.scan.string_columns > 30 and synthea_run.scan.values_scanned > 100_000
    kinds = synthea_run.scan.dictionary_terms
    assert kinds["name"] > 100 and kinds["date"] > 1000 and kinds["resource_id"] > 20_000 and kinds["zip"] > 10


@pytest.mark.parametrize(
    ("kind", "table", "column", "detector"),
    [
        ("name", "deidentified_encounter", "type_code", "dictionary:name"),
        ("mrn", "deidentified_patient", "patient_id", "dictionary:identifier_or_contact"),
        ("date", "deidentified_condition", "category_code", "dictionary:date"),
        ("zip5", "deidentified_patient", "zip3", "dictionary:zip"),
        ("phone", "deidentified_observation", "value_code", "pattern:phone"),
    ],
)
def test_leaked_values_are_caught(synthea_run, scanner, synthea_phi, tmp_path, kind, table, column, detector) -> None:
    value = synthea_phi[kind]
    staged = _leak(synthea_run, tmp_path, table, column, value)
    result = scanner(staged)
    assert not result.passed
    hits = {(f.table, f.column, f.detector) for f in result.findings}
    assert (table, column, detector) in hits, result.summary()
    assert all(f.table == table and f.column == column for f in result.findings)
    assert value.lower() not in result.summary().lower()  # counts and places, never the value


def test_name_inside_a_longer_value_is_caught(synthea_run, scanner, synthea_phi, tmp_path) -> None:
    staged = _leak(synthea_run, tmp_path, "deidentified_procedure", "code", f"seen by {synthea_phi['name']} today")
    result = scanner(staged)
    assert ("deidentified_procedure", "code", "dictionary:name") in {
        (f.table, f.column, f.detector) for f in result.findings
    }


@pytest.mark.parametrize(
    ("value", "detector"),
    [
        ("999-55-1234", "pattern:ssn"),
        ("call (617) 555-0199", "pattern:phone"),
        ("someone@hospital.example", "pattern:email"),
        ("https://patient-portal.example/me", "pattern:url"),
        ("10.20.30.40", "pattern:ipv4"),
        ("admitted 2019-03-14", "pattern:date_day"),
        ("2019-03", "pattern:date_month"),
        ("3/14/2019", "pattern:date_us"),
    ],
)
def test_patterns(synthea_run, scanner, tmp_path, value, detector) -> None:
    staged = _leak(synthea_run, tmp_path, "deidentified_observation", "value_code", value)
    result = scanner(staged)
    assert detector in {f.detector for f in result.findings}, result.summary()


def test_code_system_uris_are_not_urls(synthea_run) -> None:
    detectors = {f.detector for f in synthea_run.scan.findings}
    assert "pattern:url" not in detectors


def test_date_typed_column_fails_safe_harbor(synthea_run, scanner, tmp_path) -> None:
    staged = _leak(synthea_run, tmp_path, "deidentified_patient", "state", "x")
    con = duckdb.connect()
    con.execute(
        f"COPY (SELECT *, DATE '2020-01-01' AS admitted FROM read_parquet('{staged['deidentified_patient']}')) "
        f"TO '{tmp_path / 'p.parquet'}' (FORMAT parquet)"
    )
    staged["deidentified_patient"] = tmp_path / "p.parquet"
    result = scanner(staged)
    assert ("deidentified_patient", "admitted", "type:date_column") in {
        (f.table, f.column, f.detector) for f in result.findings
    }
    relaxed = scanner(staged, safe_harbor=False)
    assert relaxed.passed  # the date-shift profile publishes shifted dates on purpose


def test_state_names_are_allowed_in_the_state_column_only(synthea_run, scanner, tmp_path) -> None:
    staged = _leak(synthea_run, tmp_path, "deidentified_patient", "state", "Georgia")
    assert scanner(staged).passed  # a state in the state column, even though people are called Georgia
    city = duckdb.sql(f"SELECT term FROM read_parquet('{synthea_run.inventory.terms_path}') WHERE kind = 'place'")
    staged = _leak(synthea_run, tmp_path, "deidentified_patient", "state", city.fetchall()[0][0])
    result = scanner(staged)
    assert ("deidentified_patient", "state", "dictionary:place") in {
        (f.table, f.column, f.detector) for f in result.findings
    }


def test_a_surrogate_shaped_original_id_is_caught(synthea_run, tmp_path) -> None:
    """Source ids that look like surrogates (32 hex digits) still match the dictionary if left in place."""
    original = "0123456789abcdef0123456789abcdef"
    terms = tmp_path / "terms.parquet"
    duckdb.sql(
        f"COPY (SELECT * FROM read_parquet('{synthea_run.inventory.terms_path}') UNION ALL "
        f"SELECT 'resource_id', '{original}') TO '{terms}' (FORMAT parquet)"
    )
    inventory = dataclasses.replace(synthea_run.inventory, terms_path=terms)
    staged = _leak(synthea_run, tmp_path, "deidentified_encounter", "patient_id", original)
    result = scan_tables(duckdb.connect(), staged, inventory)
    assert [(f.column, f.detector, f.rows) for f in result.findings] == [("patient_id", "dictionary:resource_id", 1)]
