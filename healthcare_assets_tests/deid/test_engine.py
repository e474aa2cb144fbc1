"""De-identified tables: exactly the accepted resources, surrogates that keep linkage, intervals that survive,
Safe Harbor dates and ages, every category of identifier gone."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import duckdb
import pytest

from healthcare_assets.deid import HmacPseudonymizer
from healthcare_assets.deid.attestation import SAFE_HARBOR_CATEGORIES, batch_totals, category_report
from healthcare_assets_tests.deid.conftest import Run, run_deid
from healthcare_assets_tests.deid.phi_cases import ENC1, ENC2, OLD, PHI_VALUES, YOUNG, write_cases


def rows(run: Run, table: str, sql: str = "SELECT * FROM t") -> list[tuple]:
    con = duckdb.connect()
    con.execute(f"CREATE VIEW t AS SELECT * FROM read_parquet('{run.table(table)}')")
    return con.execute(sql).fetchall()


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> Run:
    base = tmp_path_factory.mktemp("cases")
    return run_deid(write_cases(base / "src"), base / "phi")


def test_synthea_row_counts_match_the_source(synthea_run: Run) -> None:
    expected = {
        "deidentified_patient": 100,
        "deidentified_encounter": 3697,
        "deidentified_observation": 16315,
        "deidentified_condition": 639,
        "deidentified_medication_request": 2386,
        "deidentified_procedure": 2351,
    }
    for table, count in expected.items():
        assert synthea_run.result.tables[table].rows == count, table
    assert synthea_run.scan.passed, synthea_run.scan.summary()
    assert sum(synthea_run.result.validation.replaced(t) for t in synthea_run.result.tables) == 0


def test_linkage_survives_pseudonymization(synthea_run: Run) -> None:
    con = duckdb.connect()
    for name in ("patient", "encounter", "observation"):
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{synthea_run.table('deidentified_' + name)}')")
    orphans = con.execute(
        "SELECT count(*) FROM encounter e LEFT JOIN patient p USING (patient_id) WHERE p.patient_id IS NULL"
    ).fetchall()[0][0]
    assert orphans == 0
    linked = con.execute(
        "SELECT count(*) FROM observation o JOIN encounter e ON o.encounter_id = e.encounter_id"
    ).fetchall()[0][0]
    assert linked == con.execute("SELECT count(*) FROM observation WHERE encounter_id IS NOT NULL").fetchall()[0][0]
    assert con.execute("SELECT min(length(patient_id)), max(length(patient_id)) FROM patient").fetchall() == [(32, 32)]


def test_every_category_is_gone_from_the_output(cases: Run) -> None:
    con = duckdb.connect()
    found = []
    for name, table in cases.result.tables.items():
        columns = [c for c, kind in table.columns if kind == "VARCHAR"]
        for column in columns:
            values = [
                v
                for (v,) in con.execute(f"SELECT DISTINCT \"{column}\" FROM read_parquet('{table.path}')").fetchall()
                if v
            ]
            for category, secrets in PHI_VALUES.items():
                for secret in secrets:
                    for value in values:
                        if secret.lower() in value.lower():
                            found.append((category, name, column))
    assert found == []
    assert cases.scan.passed, cases.scan.summary()
    assert set(PHI_VALUES) == set(SAFE_HARBOR_CATEGORIES)  # the fixture covers all 18 categories


def test_dates_become_offsets_and_intervals_survive(cases: Run) -> None:
    encounters = rows(
        cases,
        "deidentified_encounter",
        "SELECT period_start_offset_h, period_end_offset_h, age_years FROM t ORDER BY period_start_offset_h",
    )
    old = [e for e in encounters if e[2] is not None and e[2] >= 89]
    # The anchor is the patient's earliest event: the date-only condition onset 2020-03-01 (midnight UTC), so
    # ENC1 (2020-03-01 10:00 -05:00 .. 2020-03-04 16:30 -05:00) starts at 15 h and lasts 78.5 h.
    assert old[0][0] == 15.0 and old[0][1] - old[0][0] == 78.5
    # ENC2 starts 2020-03-20 09:00 -04:00: 18 days 22 h after ENC1 started (DST-aware, via UTC).
    assert old[1][0] - old[0][0] == 18 * 24 + 22
    # Ages: 89 at ENC1 (birthday in May), 91 at ENC3 -> capped at 90.
    assert [e[2] for e in old] == [89, 89, 90]
    for table in cases.result.tables.values():
        assert not [c for c, kind in table.columns if "DATE" in kind or "TIME" in kind], table.table


def test_birth_years_over_89_are_withheld(cases: Run) -> None:
    result = rows(
        cases, "deidentified_patient", "SELECT birth_year, age_90_or_older, zip3, deceased FROM t ORDER BY birth_year"
    )
    assert (1990, False, "021", False) in result
    assert (None, True, "000", True) in result  # born 1930: year withheld; ZIP 036 is restricted


def test_condition_and_death_offsets(cases: Run) -> None:
    death = rows(cases, "deidentified_patient", "SELECT deceased_datetime_offset_h FROM t WHERE age_90_or_older")
    assert death[0][0] > 0  # after the anchor, no calendar date
    onset = rows(cases, "deidentified_condition", "SELECT onset_datetime_offset_h, recorded_date_offset_h FROM t")
    assert onset == [(0.0, 16.0)]  # the date-only onset is the anchor; recorded 2020-03-01 11:00 -05:00


def test_same_codebook_same_output_and_linkage_across_batches(tmp_path: Path) -> None:
    src = write_cases(tmp_path / "src")
    first = run_deid(src, tmp_path / "phi", batch_id="b1")
    again = run_deid(src, tmp_path / "phi", batch_id="b1")
    later = run_deid(src, tmp_path / "phi", batch_id="b2")
    for name in first.result.tables:
        a = rows(first, name, "SELECT * EXCLUDE (batch_id) FROM t ORDER BY ALL")
        assert a == rows(again, name, "SELECT * EXCLUDE (batch_id) FROM t ORDER BY ALL"), name
        assert a == rows(later, name, "SELECT * EXCLUDE (batch_id) FROM t ORDER BY ALL"), name
    assert again.result.new_pseudonyms == 0 and later.result.new_pseudonyms == 0


def test_codebook_surrogates_are_random_not_derived(tmp_path: Path) -> None:
    src = write_cases(tmp_path / "src")
    one = rows(run_deid(src, tmp_path / "phi1"), "deidentified_patient", "SELECT patient_id FROM t ORDER BY 1")
    two = rows(run_deid(src, tmp_path / "phi2"), "deidentified_patient", "SELECT patient_id FROM t ORDER BY 1")
    assert set(one).isdisjoint(two)  # same ids, separate codebooks: unrelated surrogates


def test_hmac_mode_matches_the_standard_hmac(tmp_path: Path) -> None:
    key = b"k" * 40
    run = run_deid(write_cases(tmp_path / "src"), tmp_path / "phi", pseudonymizer=HmacPseudonymizer(key))
    expected = hmac.new(key, f"Patient:{YOUNG}".encode(), hashlib.sha256).hexdigest()[:32]
    assert (expected,) in rows(run, "deidentified_patient", "SELECT patient_id FROM t")
    assert "k" * 40 not in repr(HmacPseudonymizer(key))
    with pytest.raises(ValueError, match="at least 32 bytes"):
        HmacPseudonymizer(b"short")


def test_date_shift_profile_keeps_shifted_dates_and_intervals(tmp_path: Path) -> None:
    run = run_deid(write_cases(tmp_path / "src"), tmp_path / "phi", profile="date_shift")
    shifted = rows(
        run,
        "deidentified_encounter",
        "SELECT period_start_shifted, period_end_shifted, period_start_offset_h FROM t "
        "WHERE age_years >= 89 ORDER BY period_start_offset_h",
    )
    assert (shifted[0][1] - shifted[0][0]).total_seconds() / 3600 == 78.5
    assert (shifted[1][0] - shifted[0][0]).total_seconds() / 3600 == 18 * 24 + 22
    from datetime import datetime

    shift = shifted[0][0] - datetime(2020, 3, 1, 15, 0)
    assert shift.days != 0 and abs(shift.days) <= 365 and shift.seconds == 0
    assert run.scan.passed and not run.policy.profile.is_safe_harbor


def test_category_report_counts(cases: Run) -> None:
    report = category_report(cases.policy, cases.result, cases.inventory)
    patient = report["deidentified_patient"]
    assert patient["names"]["present"] >= 2 and patient["names"]["transformed"] == 0
    assert patient["social_security_numbers"]["removed"] == 1
    assert patient["geographic_subdivisions"]["transformed"] == 2  # two postal codes -> ZIP3
    totals = batch_totals(report, cases.inventory)
    assert set(totals) == set(SAFE_HARBOR_CATEGORIES)
    assert totals["device_identifiers"]["present"] >= 2 and totals["telephone_numbers"]["present"] == 2
    assert totals["other_unique_identifiers"]["transformed"] > 0


def test_resources_not_accepted_by_the_profile_are_skipped(tmp_path: Path) -> None:
    src = write_cases(tmp_path / "src")
    with open(src / "Encounter.ndjson", "a") as handle:
        handle.write('{"resourceType":"Encounter","id":"broken"\n')  # quarantined by the profile
        handle.write(open(src / "Encounter.ndjson").readline())  # a repeat of ENC1: superseded
    run = run_deid(src, tmp_path / "phi")
    assert run.result.tables["deidentified_encounter"].rows == 4
    assert ENC1 and ENC2 and OLD  # ids used by the fixture


@pytest.fixture(scope="module")
def synthetic_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    from healthcare_assets.synthetic import SyntheticConfig, generate_cohort

    base = tmp_path_factory.mktemp("synthetic")
    summary = generate_cohort(base / "src", SyntheticConfig(patients=2000), base / "truth.parquet")
    run = run_deid(base / "src", base / "phi")
    run.generated = summary.resource_counts  # valid resources per type, duplicates and broken lines excluded
    return run


def test_synthetic_cohort_is_clean_and_complete(synthetic_run: Run) -> None:
    """The default cohort (people over 89, restricted ZIP3s, PHI in notes, states that are names) scans clean."""
    assert synthetic_run.scan.passed, synthetic_run.scan.summary()
    patients = rows(
        synthetic_run,
        "deidentified_patient",
        "SELECT count(*), count(*) FILTER (age_90_or_older), count(*) FILTER (zip3 = '000') FROM t",
    )[0]
    assert patients[0] == 2000 and patients[1] > 20 and patients[2] > 20
    ages = rows(synthetic_run, "deidentified_encounter", "SELECT max(age_years) FROM t")
    assert ages == [(90,)]
    # Nothing of the clean cohort is outside its domain, and the ambiguity between the surname Long and the
    # disposition code long is resolved by the column's value set, with the surname still in the dictionary.
    assert sum(synthetic_run.result.validation.replaced(t) for t in synthetic_run.result.tables) == 0
    long_stays = "SELECT count(*) FROM t WHERE discharge_disposition_code = 'long'"
    assert rows(synthetic_run, "deidentified_encounter", long_stays)[0][0] > 0
    terms = duckdb.sql(f"SELECT count(*) FROM read_parquet('{synthetic_run.inventory.terms_path}') WHERE term='long'")
    assert terms.fetchall()[0][0] >= 1


def test_views_give_one_row_per_generated_resource(synthetic_run: Run) -> None:
    """The project's views over the synthetic cohort: as many rows as the generator wrote valid resources."""
    for resource, view in [("Patient", "patient"), ("Encounter", "encounter"), ("Condition", "condition"),
                           ("Observation", "observation"), ("MedicationRequest", "medication_request"),
                           ("Procedure", "procedure")]:  # fmt: skip
        assert synthetic_run.result.tables[f"deidentified_{view}"].rows == synthetic_run.generated[resource], view
