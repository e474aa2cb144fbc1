"""FHIR R4 structure knowledge: which elements exist, their types, which repeat, and how each maps to DuckDB.

Backed by ``r4_elements.json`` (generated from HL7's StructureDefinitions by ``generate_r4_elements.py``). The view
compiler needs it to read NDJSON with an explicit schema (arrays as lists, partial dates as text) instead of letting
DuckDB guess, and to type-check FHIRPath (a view ``where`` must be boolean).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

# FHIR primitive -> DuckDB type. Everything not listed (string, code, id, uri, date, dateTime, instant, time, ...)
# is VARCHAR: FHIR allows partial dates ("2019-03") and ids that merely look like UUIDs, which typed reads reject.
_SQL_TYPES = {
    "boolean": "BOOLEAN",
    "integer": "BIGINT",
    "positiveInt": "BIGINT",
    "unsignedInt": "BIGINT",
    "integer64": "BIGINT",
    "decimal": "DOUBLE",
}
# FHIRPath System types (and FHIR's own spelling of the same) -> the FHIR type the compiler reasons with.
SYSTEM_TYPES = {
    "System.String": "string",
    "System.Boolean": "boolean",
    "System.Integer": "integer",
    "System.Decimal": "decimal",
    "System.Date": "date",
    "System.DateTime": "dateTime",
    "System.Time": "time",
}


def sql_type(fhir_type: str | None) -> str:
    """DuckDB type holding values of a FHIR primitive type (VARCHAR when unknown)."""
    return _SQL_TYPES.get(fhir_type or "", "VARCHAR")


@dataclass(frozen=True)
class Element:
    """One element of a type. ``key`` is the JSON property (``valueQuantity`` for a resolved choice)."""

    key: str
    types: tuple[str, ...]
    many: bool

    @property
    def is_choice(self) -> bool:
        return self.key.endswith("[x]")

    @property
    def type(self) -> str:
        return self.types[0]

    def choice_key(self, type_name: str) -> str:
        """JSON property of one choice alternative: ``value[x]`` + ``Quantity`` -> ``valueQuantity``."""
        return self.key[:-3] + type_name[0].upper() + type_name[1:]


class FhirModel:
    """Lookups over the compact element model; type names include backbone paths such as ``Patient.contact``."""

    def __init__(self, types: dict[str, dict], version: str | None = None):
        self.types = types
        self.version = version

    def kind(self, type_name: str | None) -> str | None:
        """``primitive``, ``complex``, ``backbone``, ``resource`` or None for names the model does not know."""
        info = self.types.get(type_name or "")
        return info["kind"] if info else None

    def is_primitive(self, type_name: str | None) -> bool:
        return self.kind(type_name) == "primitive"

    def is_resource(self, type_name: str | None) -> bool:
        return self.kind(type_name) == "resource"

    def is_subtype(self, type_name: str | None, ancestor: str) -> bool:
        """True when ``type_name`` is ``ancestor`` or derives from it (``code`` from ``string``)."""
        while type_name:
            if type_name == ancestor:
                return True
            type_name = (self.types.get(type_name) or {}).get("base")
        return False

    def element(self, type_name: str | None, name: str) -> Element | None:
        """The element ``name`` of ``type_name``: a plain element, a choice base (``value``) or a concrete choice
        alternative (``valueQuantity``); None when the model does not know the type or the element."""
        elements = (self.types.get(type_name or "") or {}).get("elements")
        if not elements:
            return None
        spec = elements.get(name)
        if spec is not None:
            return _element(name, spec)
        spec = elements.get(name + "[x]")
        if spec is not None:
            return _element(name + "[x]", spec)
        for key, spec in elements.items():
            if key.endswith("[x]") and name.startswith(key[:-3]):
                choice = _element(key, spec)
                for option in choice.types:
                    if choice.choice_key(option) == name:
                        return Element(name, (option,), choice.many)
        return None


def _element(key: str, spec: str) -> Element:
    many = spec.endswith("*")
    return Element(key, tuple(spec.rstrip("*").split("|")), many)


@cache
def r4_model() -> FhirModel:
    """The FHIR R4 (4.0.1) model shipped as package data."""
    text = resources.files(__package__).joinpath("r4_elements.json").read_text(encoding="utf-8")
    data = json.loads(text)
    return FhirModel(data["types"], data.get("fhirVersion"))
