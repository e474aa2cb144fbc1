"""What to export: a validated, serialisable description of one ``$export`` kick-off.

The same request object drives the GET query string, the POST ``Parameters`` body, the state file (resume
refuses a state written for a different request) and the audit record, so it is frozen and normalised once.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from urllib.parse import quote, urlsplit

NDJSON = "application/fhir+ndjson"
OUTPUT_FORMATS = frozenset({NDJSON, "application/ndjson", "ndjson"})
_TYPE = re.compile(r"^[A-Z][A-Za-z]{1,63}$")
_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_TYPE_FILTER = re.compile(r"^[A-Z][A-Za-z]{1,63}\?\S+$")
_ELEMENT = re.compile(r"^([A-Z][A-Za-z]{1,63}\.)?[a-z][A-Za-z0-9]*(\[x\])?$")


class ExportLevel(StrEnum):
    SYSTEM = "system"
    PATIENT = "patient"
    GROUP = "group"


def format_instant(when: datetime) -> str:
    """A FHIR ``instant`` in UTC with microseconds (``2026-01-02T03:04:05.000006Z``); naive datetimes refused."""
    if when.tzinfo is None:
        raise ValueError("a FHIR instant needs a time zone; pass an aware datetime")
    return when.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_instant(text: str) -> datetime:
    """Parse a FHIR ``instant``; the time zone is mandatory (a ``_since`` without one is ambiguous)."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"not a FHIR instant: {text!r}") from None
    if when.tzinfo is None:
        raise ValueError(f"instant without a time zone: {text!r}")
    return when


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_secure_url(url: str, what: str) -> str:
    """Require https, except for loopback development servers (bearer tokens and PHI never go over plain http)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and is_loopback(parts.hostname):
        return url
    raise ValueError(f"{what} must be an https URL (plain http only for 127.0.0.1/localhost): {url!r}")


def _tuple(values: Iterable[str] | str | None) -> tuple[str, ...]:
    if values is None:
        return ()
    if isinstance(values, str):
        values = values.split(",")
    return tuple(v.strip() for v in values if v and v.strip())


@dataclass(frozen=True)
class BulkExportRequest:
    """One Bulk Data kick-off (FHIR Bulk Data Access IG v2.0.0).

    ``types`` empty means every type the server has. ``since`` is a FHIR instant (string or aware datetime;
    pass the previous result's ``transaction_time`` for an incremental export). ``patients`` (ids or
    ``Patient/<id>``) need ``method="POST"`` at patient or group level, as the IG only allows them in a body.
    """

    base_url: str
    level: ExportLevel | str = ExportLevel.SYSTEM
    group_id: str | None = None
    types: tuple[str, ...] = ()
    since: str | datetime | None = None
    type_filters: tuple[str, ...] = ()
    elements: tuple[str, ...] = ()
    output_format: str | None = None
    patients: tuple[str, ...] = ()
    method: str = "GET"

    def __post_init__(self) -> None:
        put = object.__setattr__
        put(self, "base_url", check_secure_url(self.base_url.rstrip("/"), "base_url"))
        put(self, "level", ExportLevel(str(self.level).lower()))
        put(self, "method", self.method.upper())
        put(self, "types", _tuple(self.types))
        put(
            self,
            "type_filters",
            tuple(self.type_filters) if not isinstance(self.type_filters, str) else (self.type_filters,),
        )
        put(self, "elements", _tuple(self.elements))
        put(self, "patients", tuple(_patient_ref(p) for p in _tuple(self.patients)))
        if isinstance(self.since, datetime):
            put(self, "since", format_instant(self.since))
        elif self.since is not None:
            parse_instant(self.since)
        if self.method not in ("GET", "POST"):
            raise ValueError(f"method must be GET or POST, not {self.method!r}")
        if self.level is ExportLevel.GROUP:
            if not self.group_id or not _ID.match(self.group_id):
                raise ValueError(f"a group export needs a valid group_id, got {self.group_id!r}")
        elif self.group_id is not None:
            raise ValueError("group_id is only valid with level='group'")
        for name in self.types:
            if not _TYPE.match(name):
                raise ValueError(f"not a FHIR resource type name: {name!r}")
        for query in self.type_filters:
            if not _TYPE_FILTER.match(query):
                raise ValueError(f"a _typeFilter is 'Type?search-params', got {query!r}")
        for element in self.elements:
            if not _ELEMENT.match(element):
                raise ValueError(f"not an element name for _elements: {element!r}")
        if self.output_format is not None and self.output_format not in OUTPUT_FORMATS:
            raise ValueError(f"unsupported _outputFormat {self.output_format!r}; use one of {sorted(OUTPUT_FORMATS)}")
        if self.patients:
            if self.method != "POST":
                raise ValueError("the 'patient' parameter is only allowed in a POST kick-off (method='POST')")
            if self.level is ExportLevel.SYSTEM:
                raise ValueError("the 'patient' parameter is only allowed at patient or group level")

    @property
    def kickoff_url(self) -> str:
        if self.level is ExportLevel.SYSTEM:
            return f"{self.base_url}/$export"
        if self.level is ExportLevel.PATIENT:
            return f"{self.base_url}/Patient/$export"
        return f"{self.base_url}/Group/{quote(str(self.group_id), safe='')}/$export"

    def query_params(self) -> list[tuple[str, str]]:
        """GET parameters; each ``_typeFilter`` is sent as its own parameter (its queries may contain commas)."""
        params: list[tuple[str, str]] = []
        if self.output_format:
            params.append(("_outputFormat", self.output_format))
        if self.types:
            params.append(("_type", ",".join(self.types)))
        if self.since:
            params.append(("_since", str(self.since)))
        params.extend(("_typeFilter", query) for query in self.type_filters)
        if self.elements:
            params.append(("_elements", ",".join(self.elements)))
        return params

    def parameters_resource(self) -> dict[str, Any]:
        """The POST body: a FHIR ``Parameters`` resource with the IG's value types."""
        parameter: list[dict[str, Any]] = []
        for name, value in self.query_params():
            key = "valueInstant" if name == "_since" else "valueString"
            parameter.append({"name": name, key: value})
        parameter.extend({"name": "patient", "valueReference": {"reference": ref}} for ref in self.patients)
        return {"resourceType": "Parameters", "parameter": parameter}

    def with_types(self, types: Iterable[str]) -> BulkExportRequest:
        """The same request limited to ``types`` (filters and elements of dropped types go too)."""
        kept = tuple(types)
        return replace(
            self,
            types=kept,
            type_filters=tuple(q for q in self.type_filters if q.split("?", 1)[0] in kept),
            elements=tuple(e for e in self.elements if "." not in e or e.split(".", 1)[0] in kept),
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["level"] = self.level.value
        for key in ("types", "type_filters", "elements", "patients"):
            data[key] = list(data[key])
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BulkExportRequest:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


def _patient_ref(value: str) -> str:
    ref = value if value.startswith("Patient/") else f"Patient/{value}"
    if not _ID.match(ref.removeprefix("Patient/")):
        raise ValueError(f"not a patient reference: {value!r}")
    return ref
