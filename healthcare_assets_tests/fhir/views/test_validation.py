"""Invalid views fail at load time with a message that starts with the path of the bad element."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from healthcare_assets.fhir.views import ViewDefinitionError, load_view


def view(*columns: dict, **extra) -> dict:
    return {
        "resource": "Patient",
        "select": [{"column": [{"name": "id", "path": "id"}]}, {"column": list(columns)}],
        **extra,
    }


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (view({"name": "x", "path": "name.foo()"}), "select[1].column[0].path: unknown function 'foo()'"),
        (view({"name": "x", "path": "name.family +"}), "select[1].column[0].path: invalid FHIRPath"),
        (
            view({"name": "x", "path": "name.where(use = %nope).family"}),
            "select[1].column[0].path: undefined constant '%nope'",
        ),
        (view({"name": "x", "path": "value"}) | {"resource": "Observation"}, "choice element 'value' needs .ofType(T)"),
        (view({"name": "id", "path": "id"}), "select[1].column[0].name: column 'id' is already defined"),
        (view({"name": "1x", "path": "id"}), "select[1].column[0].name: column name '1x'"),
        (view({"name": "x", "path": "first(1)"}), "first() takes 0 argument(s)"),
        (
            {"resource": "Patient", "select": [{"forEach": 1, "column": [{"name": "a", "path": "id"}]}]},
            "select[0].forEach: expected a FHIRPath string",
        ),
        (
            {
                "resource": "Patient",
                "select": [{"column": [{"name": "a", "path": "id"}]}],
                "where": [{"path": "name.family"}],
            },
            "where[0].path: where path 'name.family' must be boolean, not string",
        ),
        (
            {"resource": "patient", "select": [{"column": [{"name": "a", "path": "id"}]}]},
            "resource: expected a FHIR resource type name",
        ),
        ({"resource": "Patient", "select": []}, "select: a ViewDefinition needs at least one select"),
        (
            {
                "resource": "Patient",
                "constant": [{"name": "c", "valueString": 3}],
                "select": [{"column": [{"name": "a", "path": "id"}]}],
            },
            "constant[0].valueString: value 3 is not a string",
        ),
        (
            {
                "resource": "Patient",
                "select": [
                    {"unionAll": [{"column": [{"name": "a", "path": "id"}]}, {"column": [{"name": "b", "path": "id"}]}]}
                ],
            },
            "select[0].unionAll[1]: union branch columns ['b'] differ",
        ),
        (
            {
                "resource": "Patient",
                "select": [{"forEach": "name", "forEachOrNull": "name", "column": [{"name": "a", "path": "family"}]}],
            },
            "select[0]: only one of forEach, forEachOrNull may be given",
        ),
    ],
)
def test_errors_name_the_bad_path(raw: dict, message: str) -> None:
    with pytest.raises(ViewDefinitionError) as caught:
        load_view(raw)
    assert message in str(caught.value)
    assert str(caught.value).startswith(caught.value.location)


def test_load_from_file_string_and_dict(tmp_path: Path) -> None:
    raw = {
        "resource": "Patient",
        "select": [
            {
                "column": [
                    {
                        "name": "id",
                        "path": "getResourceKey()",
                        "description": "key",
                        "tag": [{"name": "deid", "value": "pseudonym"}],
                    }
                ]
            }
        ],
    }
    path = tmp_path / "v.json"
    path.write_text(json.dumps(raw))
    for source in (raw, path, str(path), json.dumps(raw)):
        loaded = load_view(source)
        column = loaded.columns[0]
        assert (column.name, column.description, column.tag("deid")) == ("id", "key", "pseudonym")
        assert column.type is None and column.tag("other") is None
