"""What the server says it can do (``/metadata``), so unsupported types are dropped before the kick-off.

Asking a server for a type it does not have makes strict servers refuse the whole export; dropping the type
with a warning keeps the rest of the export going. A server whose CapabilityStatement cannot be read or lists
no resources is not second-guessed: the request goes out unchanged (with a warning).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from healthcare_assets.fhir.bulk.request import BulkExportRequest, ExportLevel

_LEVEL_OPERATIONS = {
    ExportLevel.SYSTEM: ("export",),
    ExportLevel.PATIENT: ("patient-export", "export"),
    ExportLevel.GROUP: ("group-export", "export"),
}


@dataclass(frozen=True)
class Capabilities:
    types: frozenset[str] | None  # None: the statement lists no resources (do not filter)
    operations: frozenset[str]  # operation names at system level and on Patient/Group
    fhir_version: str | None

    @classmethod
    def from_statement(cls, statement: Any) -> Capabilities:
        if not isinstance(statement, dict) or statement.get("resourceType") != "CapabilityStatement":
            return cls(None, frozenset(), None)
        types: set[str] = set()
        operations: set[str] = set()
        for rest in statement.get("rest") or []:
            if not isinstance(rest, dict) or rest.get("mode", "server") != "server":
                continue
            operations.update(_names(rest.get("operation")))
            for resource in rest.get("resource") or []:
                if isinstance(resource, dict) and isinstance(resource.get("type"), str):
                    types.add(resource["type"])
                    if resource["type"] in ("Patient", "Group"):
                        operations.update(_names(resource.get("operation")))
        version = statement.get("fhirVersion")
        return cls(frozenset(types) or None, frozenset(operations), version if isinstance(version, str) else None)

    def split_types(self, requested: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(supported, unsupported) among ``requested``, keeping the caller's order."""
        if self.types is None:
            return requested, ()
        return (tuple(t for t in requested if t in self.types), tuple(t for t in requested if t not in self.types))

    def supports_level(self, request: BulkExportRequest) -> bool | None:
        """Whether the export operation for the request's level is declared (None when nothing is declared)."""
        if not self.operations:
            return None
        return any(name in self.operations for name in _LEVEL_OPERATIONS[ExportLevel(request.level)])


def _names(operations: Any) -> set[str]:
    names = set()
    for operation in operations or []:
        if isinstance(operation, dict) and isinstance(operation.get("name"), str):
            names.add(operation["name"].lstrip("$"))
    return names
