"""ViewDefinition as typed, immutable Python objects, parsed from JSON with structural validation.

Structure problems (missing ``resource``, a ``forEach`` that is not a string, duplicate column names, union branches
with different columns, malformed constants, FHIRPath syntax) are reported here with the path of the offending
element; problems of meaning (unknown function, non-boolean ``where``) are found by the compiler, which
``load_view`` runs once so that a loaded view is known to compile.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from healthcare_assets.fhir.views import fhirpath
from healthcare_assets.fhir.views.errors import FhirPathSyntaxError, ViewDefinitionError

_COLUMN_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_RESOURCE_NAME = re.compile(r"^[A-Z][A-Za-z0-9]*$")
# Constant value[x] types the specification allows (primitives only).
CONSTANT_TYPES = (
    "base64Binary", "boolean", "canonical", "code", "date", "dateTime", "decimal", "id", "instant", "integer",
    "integer64", "oid", "positiveInt", "string", "time", "unsignedInt", "uri", "url", "uuid",
)  # fmt: skip


@dataclass(frozen=True)
class Tag:
    name: str
    value: str


@dataclass(frozen=True)
class Column:
    """One output column; ``tags`` carry extra meaning such as ``{"name": "deid", "value": "pseudonym"}``."""

    name: str
    path: str
    location: str
    type: str | None = None
    collection: bool | None = None
    description: str | None = None
    tags: tuple[Tag, ...] = ()
    expression: fhirpath.Node | None = field(default=None, compare=False, repr=False)

    def tag(self, name: str) -> str | None:
        """Value of the first tag called ``name`` (None when absent)."""
        return next((t.value for t in self.tags if t.name == name), None)


@dataclass(frozen=True)
class Select:
    """A selection structure: columns, nested selects and a union, optionally iterated over a collection."""

    location: str
    column: tuple[Column, ...] = ()
    select: tuple[Select, ...] = ()
    union_all: tuple[Select, ...] = ()
    for_each: fhirpath.Node | None = None
    for_each_or_null: fhirpath.Node | None = None
    repeat: tuple[fhirpath.Node, ...] = ()

    def columns(self) -> list[Column]:
        """Columns this structure produces, in output order (own, nested selects, then the first union branch)."""
        out = list(self.column)
        for child in self.select:
            out.extend(child.columns())
        if self.union_all:
            out.extend(self.union_all[0].columns())
        return out


@dataclass(frozen=True)
class Constant:
    name: str
    type: str
    value: Any


@dataclass(frozen=True)
class Where:
    path: str
    location: str
    expression: fhirpath.Node = field(compare=False, repr=False)


@dataclass(frozen=True)
class ViewDefinition:
    """A parsed, validated SQL on FHIR v2 ViewDefinition."""

    resource: str
    select: tuple[Select, ...]
    where: tuple[Where, ...] = ()
    constant: tuple[Constant, ...] = ()
    name: str | None = None
    title: str | None = None
    description: str | None = None
    status: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def columns(self) -> list[Column]:
        """Output columns in order."""
        out: list[Column] = []
        for sel in self.select:
            out.extend(sel.columns())
        return out

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


def _expr(value: Any, location: str) -> fhirpath.Node:
    if not isinstance(value, str):
        raise ViewDefinitionError(location, f"expected a FHIRPath string, got {json.dumps(value)}")
    try:
        return fhirpath.parse(value)
    except FhirPathSyntaxError as exc:
        raise ViewDefinitionError(location, f"invalid FHIRPath {value!r}: {exc}") from None


def _list(raw: dict[str, Any], key: str, location: str) -> list[Any]:
    value = raw.get(key, [])
    if not isinstance(value, list):
        raise ViewDefinitionError(f"{location}{key}", "expected a list")
    return value


def _obj(value: Any, location: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ViewDefinitionError(location, f"expected an object, got {json.dumps(value)}")
    return value


def _opt_str(raw: dict[str, Any], key: str, location: str) -> str | None:
    value = raw.get(key)
    if value is not None and not isinstance(value, str):
        raise ViewDefinitionError(f"{location}.{key}", "expected a string")
    return value


def _column(raw: Any, location: str) -> Column:
    raw = _obj(raw, location)
    name = raw.get("name")
    if not isinstance(name, str) or not _COLUMN_NAME.match(name):
        raise ViewDefinitionError(f"{location}.name", f"column name {name!r} must match {_COLUMN_NAME.pattern}")
    collection = raw.get("collection")
    if collection is not None and not isinstance(collection, bool):
        raise ViewDefinitionError(f"{location}.collection", "expected true or false")
    tags = []
    for i, tag in enumerate(_list(raw, "tag" if "tag" in raw else "tags", f"{location}.")):
        tag = _obj(tag, f"{location}.tags[{i}]")
        if not isinstance(tag.get("name"), str) or not isinstance(tag.get("value"), str):
            raise ViewDefinitionError(f"{location}.tags[{i}]", "a tag needs a string name and value")
        tags.append(Tag(tag["name"], tag["value"]))
    return Column(
        name=name,
        path=raw.get("path", ""),
        location=location,
        type=_opt_str(raw, "type", location),
        collection=collection,
        description=_opt_str(raw, "description", location),
        tags=tuple(tags),
        expression=_expr(raw.get("path"), f"{location}.path"),
    )


def _select(raw: Any, location: str) -> Select:
    raw = _obj(raw, location)
    iterators = [k for k in ("forEach", "forEachOrNull", "repeat") if k in raw]
    if len(iterators) > 1:
        raise ViewDefinitionError(location, f"only one of {', '.join(iterators)} may be given")
    repeat = raw.get("repeat", [])
    if not isinstance(repeat, list) or ("repeat" in raw and not repeat):
        raise ViewDefinitionError(f"{location}.repeat", "expected a non-empty list of FHIRPath strings")
    sel = Select(
        location=location,
        column=tuple(_column(c, f"{location}.column[{i}]") for i, c in enumerate(_list(raw, "column", location + "."))),
        select=tuple(_select(s, f"{location}.select[{i}]") for i, s in enumerate(_list(raw, "select", location + "."))),
        union_all=tuple(
            _select(s, f"{location}.unionAll[{i}]") for i, s in enumerate(_list(raw, "unionAll", location + "."))
        ),
        for_each=_expr(raw["forEach"], f"{location}.forEach") if "forEach" in raw else None,
        for_each_or_null=_expr(raw["forEachOrNull"], f"{location}.forEachOrNull") if "forEachOrNull" in raw else None,
        repeat=tuple(_expr(p, f"{location}.repeat[{i}]") for i, p in enumerate(repeat)),
    )
    if not (sel.column or sel.select or sel.union_all):
        raise ViewDefinitionError(location, "a select needs at least one of column, select or unionAll")
    return sel


def _constant(raw: Any, location: str) -> Constant:
    raw = _obj(raw, location)
    name = raw.get("name")
    if not isinstance(name, str) or not _COLUMN_NAME.match(name):
        raise ViewDefinitionError(f"{location}.name", f"constant name {name!r} must match {_COLUMN_NAME.pattern}")
    values = [k for k in raw if k.startswith("value")]
    if len(values) != 1:
        raise ViewDefinitionError(location, f"constant {name!r} needs exactly one value[x], found {len(values)}")
    key = values[0]
    fhir_type = key[5:6].lower() + key[6:]
    if fhir_type not in CONSTANT_TYPES:
        raise ViewDefinitionError(f"{location}.{key}", f"unsupported constant type {key[5:]!r}")
    value = raw[key]
    expected = {"boolean": bool, "integer": int, "positiveInt": int, "unsignedInt": int, "integer64": (int, str)}
    ok = isinstance(value, expected.get(fhir_type, str)) or (fhir_type == "decimal" and isinstance(value, int | float))
    if not ok or (isinstance(value, bool) and fhir_type != "boolean"):
        raise ViewDefinitionError(f"{location}.{key}", f"value {json.dumps(value)} is not a {fhir_type}")
    return Constant(name, fhir_type, value)


def _check_columns(sel: Select, seen: list[str]) -> list[str]:
    """The spec's ValidateColumns: names unique across the view, union branches with identical name lists."""
    out = list(seen)

    def add(name: str, location: str) -> None:
        if name in out:
            raise ViewDefinitionError(location, f"column {name!r} is already defined")
        out.append(name)

    for col in sel.column:
        add(col.name, f"{col.location}.name")
    for child in sel.select:
        for name in _check_columns(child, out)[len(out) :]:
            add(name, child.location)
    if sel.union_all:
        first = _check_columns(sel.union_all[0], out)[len(out) :]
        for branch in sel.union_all[1:]:
            names = _check_columns(branch, out)[len(out) :]
            if names != first:
                raise ViewDefinitionError(
                    branch.location, f"union branch columns {names} differ from the first branch's {first}"
                )
        for name in first:
            add(name, sel.union_all[0].location)
    return out


def parse_view(raw: Any) -> ViewDefinition:
    """Parse and structurally validate a ViewDefinition given as a JSON object (no compilation)."""
    raw = _obj(raw, "ViewDefinition")
    resource = raw.get("resource")
    if not isinstance(resource, str) or not _RESOURCE_NAME.match(resource):
        raise ViewDefinitionError("resource", f"expected a FHIR resource type name, got {json.dumps(resource)}")
    selects = _list(raw, "select", "")
    if not selects:
        raise ViewDefinitionError("select", "a ViewDefinition needs at least one select")
    wheres = []
    for i, w in enumerate(_list(raw, "where", "")):
        w = _obj(w, f"where[{i}]")
        wheres.append(Where(w.get("path", ""), f"where[{i}].path", _expr(w.get("path"), f"where[{i}].path")))
    constants = tuple(_constant(c, f"constant[{i}]") for i, c in enumerate(_list(raw, "constant", "")))
    names = [c.name for c in constants]
    if len(set(names)) != len(names):
        raise ViewDefinitionError("constant", "constant names must be unique")
    view = ViewDefinition(
        resource=resource,
        select=tuple(_select(s, f"select[{i}]") for i, s in enumerate(selects)),
        where=tuple(wheres),
        constant=constants,
        name=_opt_str(raw, "name", "ViewDefinition"),
        title=_opt_str(raw, "title", "ViewDefinition"),
        description=_opt_str(raw, "description", "ViewDefinition"),
        status=_opt_str(raw, "status", "ViewDefinition"),
        raw=raw,
    )
    seen: list[str] = []
    for sel in view.select:
        seen = _check_columns(sel, seen)
    return view


def load_view(source: str | Path | dict[str, Any] | ViewDefinition) -> ViewDefinition:
    """Load a ViewDefinition from a JSON file path, a JSON string or a dict; validate it and check it compiles."""
    if isinstance(source, ViewDefinition):
        return source
    if isinstance(source, Path) or (isinstance(source, str) and not source.lstrip().startswith("{")):
        raw = json.loads(Path(source).read_text(encoding="utf-8"))
    elif isinstance(source, str):
        raw = json.loads(source)
    else:
        raw = source
    view = parse_view(raw)
    from healthcare_assets.fhir.views.compiler import check_view  # compiler imports this module

    check_view(view)
    return view
