"""The project's views: well-formed de-identification allow-list, and correct rows on real Synthea data."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
import pytest

from healthcare_assets.fhir.views import fhirpath as fp
from healthcare_assets.fhir.views import run_view
from healthcare_assets.fhir.views.catalog import DEID_TRANSFORMS, deid_policy, project_view, project_views, view_names

EXPECTED_ROWS = {
    "patient": 100,
    "encounter": 3697,
    "condition": 639,
    "observation": 16315,
    "medication_request": 2386,
    "procedure": 2351,
}
# Elements that carry free text, names, identifiers or display strings: never selected.
FORBIDDEN = {
    "text",
    "note",
    "display",
    "valueString",
    "identifier",
    "name",
    "telecom",
    "line",
    "city",
    "div",
    "family",
    "given",
    "contact",
    "photo",
    "comment",
    "description",
    "value[x]",
}


def _members(node: fp.Node) -> set[str]:
    found: set[str] = set()
    if isinstance(node, fp.Member):
        found.add(node.name)
    for child in vars(node).values() if hasattr(node, "__dict__") else ():
        if isinstance(child, tuple):
            for item in child:
                if isinstance(item, fp.Node.__args__):
                    found |= _members(item)
        elif isinstance(child, fp.Node.__args__):
            found |= _members(child)
    return found


def test_views_ship_and_load() -> None:
    assert set(EXPECTED_ROWS) | {"observation_component"} <= set(view_names())
    for name, view in project_views().items():
        assert view.name == name and view.description


def test_every_column_is_described_and_tagged() -> None:
    for name, columns in deid_policy().items():
        for column, transform in columns.items():
            assert transform in DEID_TRANSFORMS, f"{name}.{column}: deid tag {transform!r}"
        for column in project_view(name).columns:
            assert column.description and column.type, f"{name}.{column.name} needs a description and a type"


def test_views_select_no_free_text_names_or_identifiers() -> None:
    for name, view in project_views().items():
        for column in view.columns:
            assert column.expression is not None
            bad = _members(column.expression) & FORBIDDEN
            assert not bad, f"{name}.{column.name} reads {bad}"


def _count_components(path: Path) -> int:
    with gzip.open(path, "rb") as lines:
        return sum(len(orjson.loads(line).get("component", [])) for line in lines)


@pytest.mark.parametrize("name", sorted(EXPECTED_ROWS))
def test_one_row_per_resource_on_synthea(synthea: Path, name: str) -> None:
    relation = run_view(project_view(name), synthea)
    rows = relation.fetchall()
    assert len(rows) == EXPECTED_ROWS[name]
    key = relation.columns.index(f"{name}_id")
    assert len({r[key] for r in rows}) == len(rows)
    assert relation.columns == [c.name for c in project_view(name).columns]


def test_observation_components_on_synthea(synthea: Path) -> None:
    relation = run_view(project_view("observation_component"), synthea)
    rows = [dict(zip(relation.columns, r, strict=True)) for r in relation.fetchall()]
    assert len(rows) == _count_components(synthea / "Observation.ndjson.gz") == 1970
    systolic = [r for r in rows if r["code"] == "8480-6"]
    assert systolic and all(r["value_unit"] == "mm[Hg]" and r["value_quantity"] > 0 for r in systolic)
    assert {r["component_index"] for r in rows} == {0, 1}


def test_values_on_synthea(synthea: Path) -> None:
    def table(name: str) -> list[dict]:
        relation = run_view(project_view(name), synthea)
        return [dict(zip(relation.columns, r, strict=True)) for r in relation.fetchall()]

    patients = {r["patient_id"] for r in table("patient")}
    encounters = table("encounter")
    assert {e["patient_id"] for e in encounters} <= patients
    assert sum(e["class_code"] == "IMP" for e in encounters) == 101
    assert sum(e["class_code"] == "EMER" for e in encounters) == 138
    assert all(e["period_start"] for e in encounters)
    observations = table("observation")
    assert sum(o["value_quantity"] is not None for o in observations) == 14251
    assert {c["snomed_code"] is not None for c in table("condition")} == {True}
    assert {m["status"] for m in table("medication_request")} == {"active", "stopped"}
