"""The read schema comes from the view's paths and the FHIR model: partial values stay text, arrays are lists,
unknown shapes fall back to JSON, and every kind of source (NDJSON, .gz, table, relation) reads the same."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import duckdb
import pytest

from healthcare_assets.fhir.views import TableSource, compile_view, load_view, plan_view, run_view
from healthcare_assets.fhir.views.fhir_model import r4_model

from .conftest import write_ndjson

UUID_ID = "0b6c1b1e-1f0a-4c2e-9d7e-3c1f2b9a8e01"
PATIENTS = [
    {
        "resourceType": "Patient",
        "id": UUID_ID,
        "birthDate": "2019-03",
        "gender": "female",
        "name": [{"family": "A", "given": ["x", "y"]}],
        "deceasedDateTime": "2020-01-02T03:04:05Z",
    },
    {
        "resourceType": "Patient",
        "id": "not-a-uuid",
        "birthDate": "1970",
        "name": [{"family": "B"}],
        "deceasedBoolean": True,
        "foo": {"bar": [1, 2]},
    },
]
VIEW = {
    "resource": "Patient",
    "select": [
        {
            "column": [
                {"name": "id", "path": "getResourceKey()"},
                {"name": "birth_date", "path": "birthDate"},
                {"name": "given", "path": "name.given", "collection": True},
                {"name": "died", "path": "deceased.ofType(dateTime)"},
            ]
        }
    ],
}


def test_uuid_like_id_and_partial_date_are_read_as_text(tmp_path: Path) -> None:
    path = write_ndjson(tmp_path / "Patient.ndjson", PATIENTS)
    plan = plan_view(load_view(VIEW))
    assert plan.read_columns["id"] == "VARCHAR" and plan.read_columns["birthDate"] == "VARCHAR"
    assert plan.read_columns["name"] == 'STRUCT("given" VARCHAR[])[]'
    rows = run_view(VIEW, path).fetchall()
    assert rows == [(UUID_ID, "2019-03", ["x", "y"], "2020-01-02T03:04:05Z"), ("not-a-uuid", "1970", [], None)]
    types = run_view(VIEW, path).types
    assert [str(t) for t in types] == ["VARCHAR", "VARCHAR", "VARCHAR[]", "VARCHAR"]


def test_duckdb_guessing_would_not_keep_them_as_text(tmp_path: Path) -> None:
    """Why the schema is derived: DuckDB's own detection types these columns as UUID and DATE."""
    path = write_ndjson(tmp_path / "p.ndjson", [{"id": UUID_ID, "birthDate": "2019-03-01"}])
    types = duckdb.sql(f"SELECT * FROM read_json('{path}', format='newline_delimited')").types
    assert [str(t) for t in types] == ["UUID", "DATE"]


def test_gzipped_ndjson_and_folder_sources(tmp_path: Path) -> None:
    with gzip.open(tmp_path / "Patient.000.ndjson.gz", "wt") as out:
        out.write("".join(json.dumps(r) + "\n" for r in PATIENTS))
    write_ndjson(tmp_path / "PatientX.ndjson", [{"resourceType": "Patient", "id": "not-picked"}])
    assert len(run_view(VIEW, tmp_path / "Patient.000.ndjson.gz").fetchall()) == 2
    assert len(run_view(VIEW, tmp_path).fetchall()) == 2  # a folder: only files whose name token is Patient


def test_table_and_relation_sources(tmp_path: Path) -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE raw (resource JSON)")
    con.executemany("INSERT INTO raw VALUES (?)", [[json.dumps(r)] for r in PATIENTS])
    expected = run_view(VIEW, write_ndjson(tmp_path / "Patient.ndjson", PATIENTS)).fetchall()
    assert run_view(VIEW, "raw", con=con).fetchall() == expected
    assert run_view(VIEW, TableSource("raw", "resource"), con=con).fetchall() == expected
    assert run_view(VIEW, con.table("raw"), con=con).fetchall() == expected
    assert "json_transform" in compile_view(load_view(VIEW), TableSource("raw"))


def test_unknown_elements_fall_back_to_json(tmp_path: Path) -> None:
    path = write_ndjson(tmp_path / "Patient.ndjson", PATIENTS)
    view = {
        "resource": "Patient",
        "select": [
            {
                "column": [
                    {"name": "bar", "path": "foo.bar", "collection": True, "type": "integer"},
                    {"name": "family", "path": "name.family.first()"},
                    {"name": "nick", "path": "name.nickname.first()"},
                ]
            }
        ],
    }
    plan = plan_view(load_view(view))
    assert plan.read_columns["foo"] == "JSON" and plan.read_columns["name"] == "JSON[]"
    assert run_view(view, path).fetchall() == [([], "A", None), ([1, 2], "B", None)]


def test_row_semantics(tmp_path: Path) -> None:
    path = write_ndjson(tmp_path / "Patient.ndjson", PATIENTS)
    view = {
        "resource": "Patient",
        "where": [{"path": "name.exists()"}],
        "select": [
            {"column": [{"name": "id", "path": "id"}]},
            {
                "forEachOrNull": "name.given",
                "column": [{"name": "i", "path": "%rowIndex"}, {"name": "g", "path": "$this"}],
            },
        ],
    }
    rows = sorted(run_view(view, path).fetchall(), key=str)
    assert rows == [(UUID_ID, 0, "x"), (UUID_ID, 1, "y"), ("not-a-uuid", 0, None)]
    many = {"resource": "Patient", "select": [{"column": [{"name": "g", "path": "name.given"}]}]}
    with pytest.raises(duckdb.Error, match="several values found"):
        run_view(many, path).fetchall()


def test_model_knows_r4_structure() -> None:
    model = r4_model()
    assert model.version == "4.0.1"
    name = model.element("Patient", "name")
    assert name is not None and name.type == "HumanName" and name.many
    choice = model.element("Observation", "value")
    assert choice is not None and choice.is_choice and "Quantity" in choice.types
    concrete = model.element("Observation", "valueQuantity")
    assert concrete is not None and (concrete.key, concrete.type, concrete.many) == ("valueQuantity", "Quantity", False)
    item = model.element("QuestionnaireResponse.item", "item")
    assert item is not None and item.type == "QuestionnaireResponse.item"  # contentReference
    assert model.is_subtype("code", "string") and not model.is_subtype("string", "code")
    assert model.element("Patient", "nonsense") is None
