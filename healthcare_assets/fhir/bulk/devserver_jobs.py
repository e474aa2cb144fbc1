"""The development server's export logic: kick-off parameters in, a finished job's files out.

A job is computed at kick-off from a snapshot of the store (so it reflects exactly ``transactionTime``);
"slow" exports are simulated by the HTTP layer answering 202 a configured number of times. Supported
parameters: ``_type``, ``_since`` (see ``devserver_store`` for the rule on resources without lastUpdated),
``_outputFormat`` (NDJSON only), ``_elements``, ``patient`` (POST) and a small ``_typeFilter`` subset: equality
on top-level elements (strings, codes, Codings, CodeableConcepts, references) and ``_id``, values OR-ed by
comma, parameters AND-ed, several filters for one type OR-ed -- enough to test clients, not a search engine.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

import orjson

from healthcare_assets.fhir.bulk.devserver_store import Snapshot, StoredResource

OUTPUT_FORMATS = frozenset({"application/fhir+ndjson", "application/ndjson", "ndjson"})
SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}
_TYPE = re.compile(r"^[A-Z][A-Za-z]{1,63}$")
_FILTER_SPLIT = re.compile(r",(?=[A-Z][A-Za-z]+\?)")
_PARAM = re.compile(r"^(_id|[a-z][A-Za-z0-9]*)$")

Criteria = tuple[tuple[str, tuple[str, ...]], ...]  # AND of (element, OR-values)


class RequestProblem(Exception):
    """A kick-off the server refuses: HTTP status, OperationOutcome issue code and diagnostics."""

    def __init__(self, status: int, code: str, diagnostics: str):
        super().__init__(diagnostics)
        self.status, self.code, self.diagnostics = status, code, diagnostics


def parse_instant(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise RequestProblem(400, "invalid", f"_since is not a FHIR instant: {text!r}") from None
    if when.tzinfo is None:
        raise RequestProblem(400, "invalid", f"_since needs a time zone: {text!r}")
    return when


def format_instant(when: datetime) -> str:
    return when.isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class ExportParams:
    types: tuple[str, ...] | None
    since: datetime | None
    type_filters: Mapping[str, tuple[Criteria, ...]]
    elements: tuple[str, ...]
    patients: tuple[str, ...] | None
    warnings: tuple[str, ...] = ()


def read_params(
    method: str, query: Mapping[str, Sequence[str]], body: bytes, *, lenient: bool, supported_types: Iterable[str]
) -> ExportParams:
    """Kick-off parameters from the GET query or the POST ``Parameters`` body, validated."""
    values: dict[str, list[str]] = {}
    patients: list[str] | None = None
    if method == "POST":
        try:
            parameters = orjson.loads(body) if body else {}
        except orjson.JSONDecodeError:
            raise RequestProblem(400, "invalid", "the POST body is not JSON") from None
        if not isinstance(parameters, dict) or parameters.get("resourceType") != "Parameters":
            raise RequestProblem(400, "invalid", "the POST body must be a FHIR Parameters resource")
        for parameter in parameters.get("parameter") or []:
            name = parameter.get("name")
            if name == "patient":
                reference = (parameter.get("valueReference") or {}).get("reference")
                if not isinstance(reference, str) or not reference.startswith("Patient/"):
                    raise RequestProblem(400, "invalid", "patient must be a valueReference to Patient/<id>")
                patients = (patients or []) + [reference.removeprefix("Patient/")]
                continue
            value = next((v for k, v in parameter.items() if k.startswith("value")), None)
            if isinstance(name, str) and isinstance(value, str):
                values.setdefault(name, []).append(value)
    else:
        if "patient" in query:
            raise RequestProblem(400, "not-supported", "the patient parameter is only accepted in a POST body")
        values = {k: list(v) for k, v in query.items()}

    warnings: list[str] = []
    output_format = (values.get("_outputFormat") or ["application/fhir+ndjson"])[-1]
    if output_format not in OUTPUT_FORMATS:
        raise RequestProblem(
            400, "not-supported", f"_outputFormat {output_format!r} is not supported; use application/fhir+ndjson"
        )
    supported = set(supported_types)
    types: list[str] | None = None
    if values.get("_type"):
        types = []
        for name in ",".join(values["_type"]).split(","):
            name = name.strip()
            if not name:
                continue
            if name not in supported:
                if not lenient:
                    raise RequestProblem(400, "not-supported", f"resource type {name} is not supported by this server")
                warnings.append(f"resource type {name} is not supported by this server; ignored")
                continue
            if name not in types:
                types.append(name)
    since = parse_instant(values["_since"][-1]) if values.get("_since") else None
    filters: dict[str, list[Criteria]] = {}
    for raw in values.get("_typeFilter", []):
        for query_text in _FILTER_SPLIT.split(raw):
            try:
                resource_type, criteria = _parse_filter(query_text)
            except RequestProblem as problem:
                if not lenient:
                    raise
                warnings.append(f"_typeFilter {query_text!r} ignored: {problem.diagnostics}")
                continue
            filters.setdefault(resource_type, []).append(criteria)
    elements = tuple(e.strip() for e in ",".join(values.get("_elements", [])).split(",") if e.strip())
    return ExportParams(
        tuple(types) if types is not None else None,
        since,
        {k: tuple(v) for k, v in filters.items()},
        elements,
        tuple(patients) if patients is not None else None,
        tuple(warnings),
    )


def _parse_filter(text: str) -> tuple[str, Criteria]:
    resource_type, _, search = text.partition("?")
    if not _TYPE.match(resource_type) or not search:
        raise RequestProblem(400, "invalid", f"_typeFilter must look like Type?param=value, got {text!r}")
    criteria = []
    for name, value in parse_qsl(search, keep_blank_values=True):
        if not _PARAM.match(name):
            raise RequestProblem(
                400, "not-supported", f"_typeFilter parameter {name!r} is not supported (only element equality and _id)"
            )
        criteria.append((name, tuple(v for v in value.split(",") if v)))
    return resource_type, tuple(criteria)


def _value_matches(value: Any, wanted: str) -> bool:
    if isinstance(value, list):
        return any(_value_matches(item, wanted) for item in value)
    if isinstance(value, bool):
        return str(value).lower() == wanted
    if isinstance(value, (str, int, float)):
        return str(value) == wanted
    if isinstance(value, dict):
        if "coding" in value:
            return _value_matches(value["coding"], wanted)
        if "code" in value:
            system, bar, code = wanted.rpartition("|")
            return value.get("code") == code and (not bar or not system or value.get("system") == system)
        if "reference" in value:
            reference = str(value["reference"])
            return reference == wanted or reference.endswith(f"/{wanted}")
    return False


def matches(resource: dict[str, Any], criteria: Criteria) -> bool:
    for name, wanted in criteria:
        value = resource.get("id" if name == "_id" else name)
        if value is None or not any(_value_matches(value, w) for w in wanted):
            return False
    return True


def _subset(resource: dict[str, Any], elements: tuple[str, ...]) -> dict[str, Any]:
    keep = {"resourceType", "id", "meta"}
    for element in elements:
        owner, dot, name = element.rpartition(".")
        if not dot or owner == resource["resourceType"]:
            keep.add(name)
    subset = {k: v for k, v in resource.items() if k in keep}
    meta = dict(subset.get("meta") or {})
    meta["tag"] = [*(meta.get("tag") or []), SUBSETTED]
    subset["meta"] = meta
    return subset


@dataclass
class JobFile:
    name: str
    kind: str  # output | error | deleted
    type: str
    lines: list[bytes]


@dataclass
class ExportJob:
    id: str
    request_url: str
    transaction_time: datetime
    owner: str | None
    requires_token: bool
    files: list[JobFile]
    polls: int = 0
    completed_at: float | None = None
    expired: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def file(self, name: str) -> JobFile | None:
        return next((f for f in self.files if f.name == name), None)


def build_files(
    snapshot: Snapshot,
    params: ExportParams,
    *,
    patients: set[str] | None,
    max_lines_per_file: int | None,
    warnings: Sequence[str] = (),
    failed_types: Sequence[str] = (),
    reference_style: bool = False,
) -> list[JobFile]:
    """The job's output, error and deleted files. ``patients=None`` means a system-level export.

    ``failed_types`` produce no output, only an error OperationOutcome each (a partial success);
    ``reference_style`` adds, at Patient/Group level, the resources outside the compartment owned by a member
    (see ``owners``).
    """
    if params.types is not None:
        types = list(params.types)
    else:
        types = sorted(snapshot.resources)
        if patients is not None and not reference_style:  # patient-level: only types in the patient compartment
            types = [t for t in types if any(r.patient_id for r in snapshot.resources[t])]
    owned = owners(snapshot) if reference_style and patients is not None else {}

    def wanted(resource: StoredResource) -> bool:
        if patients is not None and resource.patient_id is None and owned:
            if owned.get((resource.type, resource.id)) not in patients:
                return False
        elif patients is not None and resource.patient_id not in patients:
            return False
        if params.since is not None and (resource.last_updated or snapshot.loaded_at) <= params.since:
            return False
        return True

    files: list[JobFile] = []
    failures: list[bytes] = []
    for resource_type in types:
        if resource_type in failed_types:
            failures.append(
                orjson.dumps(
                    {
                        "resourceType": "OperationOutcome",
                        "issue": [
                            {
                                "severity": "error",
                                "code": "exception",
                                "diagnostics": f"{resource_type} resources could not be exported (simulated failure)",
                            }
                        ],
                    }
                )
            )
            continue
        filters = params.type_filters.get(resource_type)
        lines: list[bytes] = []
        for resource in snapshot.resources.get(resource_type, ()):
            if not wanted(resource):
                continue
            if not filters and not params.elements:
                lines.append(resource.raw)
                continue
            parsed = orjson.loads(resource.raw)
            if filters and not any(matches(parsed, criteria) for criteria in filters):
                continue
            lines.append(orjson.dumps(_subset(parsed, params.elements)) if params.elements else resource.raw)
        size = max_lines_per_file or len(lines) or 1
        for index, start in enumerate(range(0, len(lines), size), start=1):
            files.append(
                JobFile(f"{resource_type}.{index}.ndjson", "output", resource_type, lines[start : start + size])
            )

    if params.since is not None:
        deleted = [
            orjson.dumps(
                {
                    "resourceType": "Bundle",
                    "type": "transaction",
                    "entry": [{"request": {"method": "DELETE", "url": f"{d.type}/{d.id}"}}],
                }
            )
            for d in snapshot.deletions
            if d.when > params.since
            and (params.types is None or d.type in params.types)
            and (patients is None or d.patient_id in patients)
        ]
        if deleted:
            files.append(JobFile("deleted.1.ndjson", "deleted", "Bundle", deleted))
    all_warnings = [*params.warnings, *warnings]
    if all_warnings or failures:
        files.append(
            JobFile(
                "error.1.ndjson",
                "error",
                "OperationOutcome",
                [
                    orjson.dumps(
                        {
                            "resourceType": "OperationOutcome",
                            "issue": [{"severity": "warning", "code": "informational", "diagnostics": text}],
                        }
                    )
                    for text in all_warnings
                ]
                + failures,
            )
        )
    return files


_REFERENCE = re.compile(rb'"reference"\s*:\s*"([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})"')


def owners(snapshot: Snapshot) -> dict[tuple[str, str], str]:
    """For each resource outside the patient compartment, the first patient whose resources reference it.

    The SMART reference server stores Synthea's per-patient bundles, so a shared Practitioner or Organization
    belongs to the patient whose bundle carried it; a group export includes it only with that patient.
    """
    outside = {(r.type, r.id) for items in snapshot.resources.values() for r in items if r.patient_id is None}
    found: dict[tuple[str, str], str] = {}
    for items in snapshot.resources.values():
        for resource in items:
            if resource.patient_id is None:
                continue
            for match in _REFERENCE.finditer(resource.raw):
                key = (match.group(1).decode(), match.group(2).decode())
                if key in outside:
                    found.setdefault(key, resource.patient_id)
    return found


def new_job_id() -> str:
    return secrets.token_hex(8)
