"""The policy is declarative and complete: every view column has a transform and a readable statement."""

from __future__ import annotations

import re

import pytest

from healthcare_assets.deid.geography import RESTRICTED_ZIP3, zip3
from healthcare_assets.deid.policy import Profile, build_policy
from healthcare_assets.fhir.views import catalog, load_view


def test_every_column_has_a_transform_and_statement() -> None:
    policy = build_policy(catalog.project_views())
    assert {t.table for t in policy.tables} >= {
        "deidentified_patient",
        "deidentified_encounter",
        "deidentified_condition",
        "deidentified_observation",
        "deidentified_medication_request",
        "deidentified_procedure",
    }
    for table in policy.tables:
        for rule in table.rules:
            assert rule.statement and rule.outputs, (table.table, rule.column)
        names = [c.name for c in table.output_columns]
        assert names[0] == "batch_id" and names[-1] == "deid_policy" and len(names) == len(set(names))
    description = policy.describe()
    assert policy.version in description and "| patient_id | pseudonym |" in description


FORBIDDEN_STEPS = {
    "name",
    "identifier",
    "telecom",
    "line",
    "city",
    "district",
    "display",
    "text",
    "note",
    "photo",
    "contact",
    "valueString",
    "div",
    "comment",
    "description",
    "dosageInstruction",
    "patientInstruction",
    "attachment",
}
ALLOWED_EXTENSIONS = {
    "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race",
    "http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity",
    "ombCategory",  # coded sub-extensions only: the free-text "text" sub-extension is not allowed
    "detailed",
}


def test_no_view_selects_identifying_elements() -> None:
    """The allow-list never reaches names, identifiers, telecom, address lines, free text or displays."""
    for view in catalog.project_views().values():
        for column in view.columns:
            steps = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", re.sub(r"'[^']*'", "", column.path)))
            assert not steps & FORBIDDEN_STEPS, (view.name, column.name, column.path)
            for url in re.findall(r"extension\('([^']+)'\)", column.path):
                assert url in ALLOWED_EXTENSIONS, (view.name, column.name, url)


def test_profiles_have_distinct_versions_and_date_shift_is_marked() -> None:
    views = catalog.project_views()
    harbor, shifted = build_policy(views, "safe_harbor"), build_policy(views, Profile.DATE_SHIFT)
    assert harbor.version != shifted.version and harbor.version.startswith("safe_harbor-r")
    assert "NOT Safe Harbor" in shifted.describe() and "NOT Safe Harbor" not in harbor.describe()
    encounter = {c.name for c in shifted.table("encounter").output_columns}
    assert {"period_start_offset_h", "period_start_shifted"} <= encounter
    assert "period_start_shifted" not in {c.name for c in harbor.table("encounter").output_columns}


def test_untyped_reference_pseudonym_is_rejected() -> None:
    view = load_view(
        {
            "resourceType": "ViewDefinition",
            "resource": "Observation",
            "name": "bad",
            "status": "active",
            "select": [
                {
                    "column": [
                        {
                            "name": "who",
                            "path": "subject.getReferenceKey()",
                            "tag": [{"name": "deid", "value": "pseudonym"}],
                        }
                    ]
                }
            ],
        }
    )
    with pytest.raises(ValueError, match="typed getReferenceKey"):
        build_policy({"bad": view})


def test_missing_transform_is_rejected() -> None:
    view = load_view(
        {
            "resourceType": "ViewDefinition",
            "resource": "Patient",
            "name": "p",
            "status": "active",
            "select": [{"column": [{"name": "gender", "path": "gender"}]}],
        }
    )
    with pytest.raises(ValueError, match="unknown or missing deid transform"):
        build_policy({"p": view})


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("02139", "021"),
        ("02139-4307", "021"),
        ("021394307", "021"),
        ("03601", "000"),
        ("20500", "000"),
        ("36901", "000"),
        ("89301", "000"),
        ("K1A 0B1", None),
        ("1234", None),
        ("", None),
        (None, None),
    ],
)
def test_zip3(code, expected) -> None:
    assert zip3(code) == expected


def test_restricted_list_is_the_union() -> None:
    assert len(RESTRICTED_ZIP3) == 19 and {"205", "369", "036", "893"} <= RESTRICTED_ZIP3
