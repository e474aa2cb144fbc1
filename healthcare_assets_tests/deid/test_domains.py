"""Domains as data: every kept coded column has one, and the code shapes accept real codes and refuse PHI."""

from __future__ import annotations

import pytest

from healthcare_assets.deid.code_systems import ICD10CM, LOINC, RXNORM, SNOMED, UCUM, loinc_check_ok, valid_code
from healthcare_assets.deid.policy import build_policy
from healthcare_assets.deid.ucum import is_ucum
from healthcare_assets.deid.validation import ValidationSettings
from healthcare_assets.fhir.views import catalog


def test_every_kept_string_or_number_column_has_a_domain() -> None:
    policy = build_policy(catalog.project_views())
    missing = [
        (t.view, r.column)
        for t in policy.tables
        for r in t.rules
        if r.transform in ("keep", "state") and r.outputs[0].duckdb_type in ("VARCHAR", "DOUBLE") and r.domain is None
    ]
    assert missing == []


@pytest.mark.parametrize(
    ("system", "good", "bad"),
    [
        (LOINC, ["2160-0", "8867-4", "85354-9", "LA6576-8", "15074-8"], ["2160-1", "Quixley", "1965/01/13", "02139-4"]),
        (SNOMED, ["162673000", "138875005", "124171000119105", "44054006"], ["162673001", "5555321156", "S99914534"]),
        (ICD10CM, ["J18.9", "E78.5", "F32.A", "S93.409A", "U07.1", "I10"], ["Quixley", "999-18-8203", "S99914534"]),
        (RXNORM, ["197361", "1665021"], ["6c5d9ca9-54d7", "Rosamund"]),
        (UCUM, ["mg/dL", "10*3/uL", "mm[Hg]", "kg/m2", "{score}", "mL/min/{1.73_m2}", "[degF]", "Cel", "/min", "%"],
         ["Rosamund", "{Rosamund Quixleyford street 12}", "mg/dL Quixleyford", "", "("]),
    ],
)  # fmt: skip
def test_code_shapes(system: str, good: list[str], bad: list[str]) -> None:
    assert [c for c in good if not valid_code(system, c)] == []
    assert [c for c in bad if valid_code(system, c)] == []


def test_unknown_systems_validate_nothing() -> None:
    assert not valid_code("http://hosp.example/patients/MRN7781234/obs", "2160-0")
    assert loinc_check_ok("2160-0") and not loinc_check_ok("2160-3")
    assert is_ucum("/min") and not is_ucum("Springfield")


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        ValidationSettings(min_patients=0)
    with pytest.raises(ValueError, match="non-empty URI"):
        ValidationSettings(local_code_systems=(" http://x",))
