"""The hardened gate on the planted-PHI corpus: every planted value is replaced before publishing, the clean rows
are still published, the scan accepts the result, and the scan itself catches each planted value if it were
published as is (the dictionary is no longer weakened by vocabulary)."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from healthcare_assets.deid.normalize import normalized
from healthcare_assets.deid.scan import scan_tables
from healthcare_assets.deid.validation import ValidationSettings, scan_rules
from healthcare_assets_tests.deid.conftest import REFERENCE, Run
from healthcare_assets_tests.deid.planted_phi import GIVEN, LOCAL_SYSTEM, SURNAME, PlantedCorpus, write_planted

SETTINGS = ValidationSettings(local_code_systems=(LOCAL_SYSTEM,), min_patients=5)


def _run(corpus: PlantedCorpus, phi: Path, settings: ValidationSettings = SETTINGS) -> Run:
    from healthcare_assets.deid import Codebook, CodebookPseudonymizer, build_policy, deidentify_batch
    from healthcare_assets.fhir.landing import land_batch
    from healthcare_assets.fhir.profile import ProfileLimits, profile_batch
    from healthcare_assets.fhir.sources import NdjsonDirSource
    from healthcare_assets.fhir.views import catalog

    batch = land_batch(phi / "batches", "planted", NdjsonDirSource(corpus.folder))
    profiled = profile_batch(batch, ProfileLimits(max_quarantine_rate=0.5, max_dangling_rate=0.5))
    counts = {t.resource_type: {"accepted": t.accepted, "id_checksum": t.id_checksum} for t in profiled.types}
    views = catalog.project_views()
    policy = build_policy(views)
    codebook = Codebook(phi / "codebook.duckdb")
    result = deidentify_batch(
        batch, counts, views, policy, CodebookPseudonymizer(codebook), codebook, batch.batch_dir / "staging",
        REFERENCE, settings=settings,
    )  # fmt: skip
    return Run(batch, policy, result, result.scan, result.inventory, codebook)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, synthea_dir: Path) -> PlantedCorpus:
    return write_planted(tmp_path_factory.mktemp("planted") / "src", synthea_dir)


@pytest.fixture(scope="module")
def planted_run(corpus: PlantedCorpus, tmp_path_factory: pytest.TempPathFactory) -> Run:
    return _run(corpus, tmp_path_factory.mktemp("phi"))


def _cells(run: Run) -> dict[tuple[str, str], list]:
    con = duckdb.connect()
    out = {}
    for name, table in run.result.tables.items():
        for column, _ in table.columns:
            out[(name, column)] = [
                v for (v,) in con.execute(f"SELECT DISTINCT \"{column}\" FROM read_parquet('{table.path}')").fetchall()
            ]
    return out


def test_no_planted_value_is_published_and_every_row_is(planted_run: Run, corpus: PlantedCorpus) -> None:
    assert planted_run.scan.passed, planted_run.scan.summary()
    leaks = []
    for (table, column), values in _cells(planted_run).items():
        for value in values:
            if isinstance(value, str):
                leaks += [(table, column, label) for label, secret in corpus.planted.items()
                          if secret.lower() in value.lower() or normalized(secret) in normalized(value)]  # fmt: skip
            elif value == corpus.ssn_number:
                leaks.append((table, column, "ssn_number"))
    assert leaks == []
    for resource, view in [("Patient", "patient"), ("Encounter", "encounter"), ("Observation", "observation"),
                           ("Condition", "condition"), ("Procedure", "procedure")]:  # fmt: skip
        assert planted_run.result.tables[f"deidentified_{view}"].rows == corpus.written[resource], view


def test_each_class_becomes_what_the_policy_says(planted_run: Run) -> None:
    counts = planted_run.result.validation.counts
    assert counts["deidentified_patient"]["gender"]["not_in_value_set"] == 1
    assert counts["deidentified_patient"]["state"]["not_a_us_state"] == 2
    assert counts["deidentified_encounter"]["class_code"]["not_in_value_set"] == 1
    assert counts["deidentified_encounter"]["type_code"]["invalid_code"] == 1
    assert counts["deidentified_condition"]["snomed_code"]["invalid_code"] == 1
    assert counts["deidentified_procedure"]["code"]["invalid_code"] == 3
    assert counts["deidentified_observation"]["value_code"]["invalid_code"] == 1
    assert counts["deidentified_observation"]["value_unit"]["invalid_code"] == 1
    assert counts["deidentified_observation"]["value_quantity"]["number_matches_identifier"] == 1
    assert counts["deidentified_observation"]["code_system"]["unknown_system"] == 1
    # The declared local system: GLU-POC (6 patients) is kept, RARE-7 (1 patient) and the surname are not.
    observation = counts["deidentified_observation"]["code"]
    assert observation["rare_local_code"] == 1 and observation["matches_phi"] == 6
    assert observation["invalid_code"] == 2 and observation["unknown_system"] == 1  # surname, 400 kB text
    cells = _cells(planted_run)
    codes = cells[("deidentified_observation", "code")]
    assert "GLU-POC" in codes and sum(1 for c in codes if str(c).startswith("local-code-")) == 4
    assert [s for s in cells[("deidentified_observation", "code_system")] if s.startswith("local-system-")] == [
        "local-system-1"
    ]
    assert set(cells[("deidentified_patient", "gender")]) == {"male", "female", None}
    assert None in cells[("deidentified_encounter", "class_code")]


def test_the_three_character_id_equal_to_a_zip3_is_no_finding(planted_run: Run, corpus: PlantedCorpus) -> None:
    assert corpus.zip3_id in _cells(planted_run)[("deidentified_patient", "zip3")]
    assert planted_run.scan.passed  # the id "010" is in the dictionary, but only id columns match short terms


def test_local_codes_keep_their_number_across_batches(corpus: PlantedCorpus, tmp_path: Path) -> None:
    first = _run(corpus, tmp_path / "phi")
    again = _run(corpus, tmp_path / "phi")
    con = duckdb.connect()
    query = "SELECT DISTINCT code FROM read_parquet('{}') WHERE code LIKE 'local-code-%' ORDER BY 1"
    a = con.execute(query.format(first.result.tables["deidentified_observation"].path)).fetchall()
    assert a == con.execute(query.format(again.result.tables["deidentified_observation"].path)).fetchall()


def test_undeclared_local_system_is_never_published(corpus: PlantedCorpus, tmp_path: Path) -> None:
    run = _run(corpus, tmp_path / "phi", ValidationSettings())
    cells = _cells(run)
    assert "GLU-POC" not in cells[("deidentified_observation", "code")]
    assert LOCAL_SYSTEM not in cells[("deidentified_observation", "code_system")]
    assert run.scan.passed


@pytest.mark.parametrize(
    ("table", "column", "label"),
    [
        ("deidentified_observation", "code", "surname"),
        ("deidentified_observation", "value_code", "mrn"),
        ("deidentified_encounter", "type_code", "driver_licence"),
        ("deidentified_condition", "snomed_code", "phone_digits"),
        ("deidentified_encounter", "class_code", "surname"),
        ("deidentified_observation", "value_unit", "given"),
        ("deidentified_procedure", "code", "date_0"),
        ("deidentified_procedure", "code", "date_1"),
        ("deidentified_procedure", "code", "date_2"),
        ("deidentified_patient", "gender", "other_surname"),
        ("deidentified_patient", "state", "state_street"),
        ("deidentified_patient", "state", "state_city_zip"),
        ("deidentified_observation", "code_system", "mrn_uri"),
    ],
)
def test_the_scan_catches_each_planted_value_if_published(
    planted_run: Run, corpus: PlantedCorpus, tmp_path: Path, table: str, column: str, label: str
) -> None:
    """The gate behind the validation: written as is into its column, every planted value is a finding."""
    staged = _leak(planted_run, tmp_path, table, f'"{column}" = ?', [corpus.planted[label]])
    rules = scan_rules(planted_run.policy, SETTINGS)
    result = scan_tables(duckdb.connect(), staged, planted_run.inventory, rules=rules)
    assert {(f.table, f.column) for f in result.findings} == {(table, column)}, result.summary()
    assert corpus.planted[label].lower() not in result.summary().lower()


def test_the_scan_catches_an_ssn_as_a_number(planted_run: Run, corpus: PlantedCorpus, tmp_path: Path) -> None:
    staged = _leak(planted_run, tmp_path, "deidentified_observation", "value_quantity = ?", [corpus.ssn_number])
    result = scan_tables(
        duckdb.connect(), staged, planted_run.inventory, rules=scan_rules(planted_run.policy, SETTINGS)
    )
    assert [(f.column, f.detector) for f in result.findings] == [("value_quantity", "number:identifier")]


def _leak(run: Run, tmp_path: Path, table: str, assignment: str, params: list) -> dict[str, Path]:
    staged = {}
    for name, staged_table in run.result.tables.items():
        staged[name] = tmp_path / f"{name}.parquet"
        shutil.copy(staged_table.path, staged[name])
    con = duckdb.connect()
    con.execute(f"CREATE TABLE t AS SELECT * FROM read_parquet('{staged[table]}')")
    con.execute(f"UPDATE t SET {assignment} WHERE rowid = 2", params)
    con.execute(f"COPY t TO '{staged[table]}' (FORMAT parquet)")
    return staged


def test_free_text_is_a_finding_however_long(planted_run: Run, tmp_path: Path) -> None:
    rules = scan_rules(planted_run.policy, SETTINGS)
    staged = _leak(planted_run, tmp_path, "deidentified_procedure", "code = ?", ["x" * 5000])
    result = scan_tables(duckdb.connect(), staged, planted_run.inventory, rules=rules)
    assert [(f.column, f.detector) for f in result.findings] == [("code", "value:too_long")]


def test_names_match_inside_longer_values_but_codes_keep_their_domain(planted_run: Run, tmp_path: Path) -> None:
    """Surname inside a free string: found. A value-set code equal to a dictionary word: not a finding there."""
    rules = scan_rules(planted_run.policy, SETTINGS)
    staged = _leak(planted_run, tmp_path, "deidentified_procedure", "code = ?", [f"seen by {GIVEN} {SURNAME}"])
    result = scan_tables(duckdb.connect(), staged, planted_run.inventory, rules=rules)
    assert ("deidentified_procedure", "code", "dictionary:name") in {
        (f.table, f.column, f.detector) for f in result.findings
    }
