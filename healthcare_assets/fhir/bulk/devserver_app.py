"""The development server's HTTP behaviour, independent of sockets: routes, discovery, export, faults.

``BulkDataApp.handle(method, target, headers, body)`` returns a ``Reply``; ``devserver`` puts it on the wire.
Keeping it socket-free keeps the protocol logic readable and testable on its own.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import zlib
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qs, parse_qsl, unquote, urlsplit

import orjson

from healthcare_assets.fhir.bulk.devserver_auth import DevAuthConfig, Grant, TokenIssuer, TokenRequestError
from healthcare_assets.fhir.bulk.devserver_jobs import (
    ExportJob,
    ExportParams,
    JobFile,
    RequestProblem,
    build_files,
    format_instant,
    new_job_id,
    read_params,
)
from healthcare_assets.fhir.bulk.devserver_store import ResourceStore

logger = logging.getLogger("healthcare_assets.fhir.bulk.devserver")

BASE_PATH = "/fhir"
TOKEN_PATH = "/auth/token"
FHIR_JSON = "application/fhir+json"
NDJSON = "application/fhir+ndjson"
_FILE_CHUNK = 256 * 1024


@dataclass(frozen=True)
class Faults:
    """What to do wrong, for tests. Counters ("first N") are per server and reset by ``set_faults``."""

    pending_polls: int = 1  # 202 answers before the manifest (a slow export)
    poll_retry_after: str | None = "1"  # Retry-After on those 202s (None: omit, client backs off)
    throttle_polls: int = 0  # first N status polls answer 429
    throttle_retry_after: str | None = "2"  # Retry-After on 429s; "date:N": an HTTP-date N s ahead; None: omit
    kickoff_failures: int = 0  # first N kick-offs answer failure_status (transient)
    status_failures: int = 0  # first N status polls answer failure_status (transient)
    file_failures: int = 0  # first N file requests answer failure_status (transient)
    failure_status: int = 503
    drop_connections: int = 0  # first N status polls: connection closed without an answer
    truncate_files: int = 0  # first N file responses stop half-way
    file_ttl: float | None = None  # seconds after completion before files answer 410
    manifest_page_size: int | None = None  # output entries per manifest page (link "next")
    max_lines_per_file: int | None = None  # split a type over several files
    count_offset: int = 0  # add this to every manifest count (a lying server)
    fail_export: bool = False  # the job fails: status answers 500 OperationOutcome "exception"
    # Behaviours of real servers (the SMART reference server among them) that clients must cope with:
    capability_omits: tuple[str, ...] = ()  # served types the CapabilityStatement leaves out (a wrong statement)
    unknown_group_empty: bool = False  # an unknown Group id gets 202 and an empty manifest instead of 404
    failed_types: tuple[str, ...] = ()  # these types fail on the server: no output, an error OperationOutcome each
    error_count_offset: int = 0  # add this to every error file's manifest count (partial exports lie about it)
    # Patient/Group level: also serve each resource outside the patient compartment (Practitioner, Organization)
    # with the first member patient that references it, as the reference server's per-patient data does; the
    # ones only non-members reference are left out (the IG allows it).
    reference_style_groups: bool = False


@dataclass(frozen=True)
class RequestRecord:
    """One request as the server saw it (tests assert on these). Never holds the token itself."""

    method: str
    route: str  # metadata | smart-config | token | kickoff | status | file | group | unknown
    path: str
    query: str
    status: int  # 0 when the connection was dropped on purpose
    bearer: bool


@dataclass
class Reply:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | Iterable[bytes] = b""
    drop: bool = False


def outcome(
    status: int, code: str, diagnostics: str, severity: str = "error", headers: Mapping[str, str] | None = None
) -> Reply:
    body = orjson.dumps(
        {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": severity, "code": code, "diagnostics": diagnostics}],
        }
    )
    return Reply(status, {"Content-Type": FHIR_JSON, **(headers or {})}, body)


def json_reply(
    status: int, payload: Any, content_type: str = "application/json", headers: Mapping[str, str] | None = None
) -> Reply:
    return Reply(status, {"Content-Type": content_type, **(headers or {})}, orjson.dumps(payload))


class BulkDataApp:
    """Routing and behaviour, independent of the socket layer (one instance per server)."""

    def __init__(
        self,
        store: ResourceStore,
        *,
        auth: DevAuthConfig | None,
        groups: Mapping[str, Sequence[str]],
        faults: Faults,
        files_require_token: bool | None,
        smart_configuration: bool,
    ):
        self.store = store
        self.auth = auth
        self.groups = {k: list(v) for k, v in groups.items()}
        self.faults = faults
        self.files_require_token = files_require_token if files_require_token is not None else auth is not None
        self.smart_configuration = smart_configuration
        self.origin = ""  # http://127.0.0.1:<port>, set once the socket is bound
        self.issuer: TokenIssuer | None = None
        self.jobs: dict[str, ExportJob] = {}
        self.log: deque[RequestRecord] = deque(maxlen=100_000)
        self._counters: dict[str, int] = {}
        self._lock = threading.Lock()

    def bind(self, origin: str) -> None:
        self.origin = origin
        if self.auth is not None:
            self.issuer = TokenIssuer(self.auth, origin + TOKEN_PATH)

    @property
    def base_url(self) -> str:
        return self.origin + BASE_PATH

    def _fault(self, name: str, limit: int) -> bool:
        """True for the first ``limit`` times fault ``name`` is asked about."""
        with self._lock:
            used = self._counters.get(name, 0)
            if used >= limit:
                return False
            self._counters[name] = used + 1
            return True

    def set_faults(self, faults: Faults) -> None:
        with self._lock:
            self.faults = faults
            self._counters.clear()

    # -- dispatch ----------------------------------------------------------------------------------------
    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Reply:
        split = urlsplit(target)
        path = unquote(split.path)
        route, reply = self._route(method, path, split.query, headers, body)
        self.log.append(
            RequestRecord(
                method, route, path, split.query, 0 if reply.drop else reply.status, bool(headers.get("Authorization"))
            )
        )
        return reply

    def _route(self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes) -> tuple[str, Reply]:
        if path == TOKEN_PATH:
            return "token", self._token(method, headers, body)
        if not path.startswith(BASE_PATH + "/"):
            return "unknown", outcome(404, "not-found", f"no such endpoint {path}")
        rest = path[len(BASE_PATH) :]
        if rest == "/metadata" and method == "GET":
            return "metadata", json_reply(200, self._capability_statement(), FHIR_JSON)
        if rest == "/.well-known/smart-configuration" and method == "GET":
            return "smart-config", self._smart_configuration()
        if (match := re.fullmatch(r"/bulkstatus/([0-9a-f]+)", rest)) is not None:
            return "status", self._status(method, match.group(1), dict(parse_qsl(query)), headers)
        if (match := re.fullmatch(r"/bulkfiles/([0-9a-f]+)/([A-Za-z0-9.]+)", rest)) is not None:
            return "file", self._file(method, match.group(1), match.group(2), headers)
        if rest in ("/$export", "/Patient/$export") or re.fullmatch(r"/Group/[^/]+/\$export", rest):
            if method not in ("GET", "POST"):
                return "kickoff", outcome(405, "not-supported", "use GET or POST for $export")
            return "kickoff", self._kickoff(method, rest, path, query, headers, body)
        if (match := re.fullmatch(r"/Group/([^/]+)", rest)) is not None and method == "GET":
            return "group", self._group(match.group(1), headers)
        return "unknown", outcome(404, "not-found", f"no such endpoint {method} {path}")

    # -- discovery ---------------------------------------------------------------------------------------
    def _capability_statement(self) -> dict[str, Any]:
        types = sorted((set(self.store.types()) | {"Patient", "Group"}) - set(self.faults.capability_omits))
        resources = []
        for name in types:
            entry: dict[str, Any] = {"type": name, "interaction": [{"code": "read"}] if name == "Group" else []}
            if name in ("Patient", "Group"):
                entry["operation"] = [
                    {
                        "name": "export",
                        "definition": f"http://hl7.org/fhir/uv/bulkdata/OperationDefinition/{name.lower()}-export",
                    }
                ]
            resources.append(entry)
        rest: dict[str, Any] = {
            "mode": "server",
            "resource": resources,
            "operation": [
                {"name": "export", "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export"}
            ],
        }
        if self.issuer is not None:
            rest["security"] = {
                "service": [
                    {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                "code": "SMART-on-FHIR",
                            }
                        ]
                    }
                ],
                "extension": [
                    {
                        "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                        "extension": [{"url": "token", "valueUri": self.issuer.token_url}],
                    }
                ],
            }
        return {
            "resourceType": "CapabilityStatement",
            "status": "active",
            "date": format_instant(self.store.loaded_at),
            "kind": "instance",
            "fhirVersion": "4.0.1",
            "format": ["json"],
            "instantiates": ["http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data"],
            "software": {"name": "healthcare-assets development Bulk Data server"},
            "implementation": {"description": "development server (127.0.0.1 only)", "url": self.base_url},
            "rest": [rest],
        }

    def _smart_configuration(self) -> Reply:
        if self.issuer is None or not self.smart_configuration:
            return outcome(404, "not-found", "this server has no SMART configuration")
        return json_reply(
            200,
            {
                "issuer": self.base_url,
                "token_endpoint": self.issuer.token_url,
                "token_endpoint_auth_methods_supported": ["private_key_jwt"],
                "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
                "grant_types_supported": ["client_credentials"],
                "scopes_supported": ["system/*.read", "system/*.rs"],
                "capabilities": ["client-confidential-asymmetric", "permission-v1", "permission-v2"],
            },
        )

    def _token(self, method: str, headers: Mapping[str, str], body: bytes) -> Reply:
        if self.issuer is None:
            return outcome(404, "not-found", "authorization is not enabled on this server")
        if method != "POST":
            return json_reply(405, {"error": "invalid_request", "error_description": "POST only"})
        if "application/x-www-form-urlencoded" not in headers.get("Content-Type", ""):
            return json_reply(400, {"error": "invalid_request", "error_description": "send a form-encoded body"})
        form = dict(parse_qsl(body.decode("utf-8", "replace")))
        try:
            return json_reply(200, self.issuer.issue(form), headers={"Cache-Control": "no-store"})
        except TokenRequestError as exc:
            return json_reply(
                exc.status,
                {"error": exc.error, "error_description": exc.description},
                headers={"Cache-Control": "no-store"},
            )

    def _authorize(self, headers: Mapping[str, str]) -> tuple[Grant | None, Reply | None]:
        """(grant, None) when allowed; (None, 401 reply) when auth is on and the token is missing/invalid."""
        if self.issuer is None:
            return None, None
        grant = self.issuer.check(headers.get("Authorization"))
        if grant is None:
            return None, outcome(
                401,
                "login",
                "a valid bearer token is required",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        return grant, None

    # -- export ------------------------------------------------------------------------------------------
    def _kickoff(self, method: str, rest: str, path: str, query: str, headers: Mapping[str, str], body: bytes) -> Reply:
        grant, refused = self._authorize(headers)
        if refused:
            return refused
        prefer = headers.get("Prefer", "")
        if "respond-async" not in prefer:
            return outcome(400, "invalid", "the Prefer: respond-async header is required")
        accept = headers.get("Accept", FHIR_JSON)
        if not any(t in accept for t in (FHIR_JSON, "application/json", "*/*")):
            return outcome(400, "not-supported", f"Accept must be {FHIR_JSON}")
        if self._fault("kickoff", self.faults.kickoff_failures):
            return self._transient()
        lenient = "handling=lenient" in prefer
        try:
            params = read_params(
                method,
                parse_qs(query, keep_blank_values=True),
                body,
                lenient=lenient,
                supported_types=self.store.types(),
            )
            warnings: list[str] = []
            patients: set[str] | None = None
            if rest != "/$export":
                patients = self._compartment(rest)
                if params.patients is not None:
                    unknown = [p for p in params.patients if p not in patients]
                    warnings.extend(f"Patient/{p} is not in this export's population; ignored" for p in unknown)
                    patients = {p for p in params.patients if p in patients}
            elif params.patients is not None:
                raise RequestProblem(400, "not-supported", "patient is only allowed for Patient or Group export")
            if grant is not None:
                params = self._limit_to_scope(params, grant)
        except RequestProblem as problem:
            return outcome(problem.status, problem.code, problem.diagnostics)
        snapshot = self.store.snapshot()
        job = ExportJob(
            id=new_job_id(),
            request_url=self.origin + path + (f"?{query}" if query and method == "GET" else ""),
            transaction_time=snapshot.taken_at,
            owner=grant.client_id if grant else None,
            requires_token=self.files_require_token,
            files=build_files(
                snapshot,
                params,
                patients=patients,
                max_lines_per_file=self.faults.max_lines_per_file,
                warnings=warnings,
                failed_types=self.faults.failed_types,
                reference_style=self.faults.reference_style_groups,
            ),
        )
        with self._lock:
            self.jobs[job.id] = job
        return Reply(202, {"Content-Location": f"{self.base_url}/bulkstatus/{job.id}"})

    def _compartment(self, rest: str) -> set[str]:
        everyone = set(self.store.patient_ids())
        if rest == "/Patient/$export":
            return everyone
        group_id = unquote(rest.split("/")[2])
        if group_id == "all":
            return everyone
        if group_id not in self.groups:
            if self.faults.unknown_group_empty:  # some servers accept any id and export nobody
                return set()
            raise RequestProblem(404, "not-found", f"Group/{group_id} is not known to this server")
        return set(self.groups[group_id])

    def _limit_to_scope(self, params: ExportParams, grant: Grant) -> ExportParams:
        if params.types is None:
            return replace(params, types=tuple(t for t in self.store.types() if grant.allows(t)))
        refused = [t for t in params.types if not grant.allows(t)]
        if refused:
            raise RequestProblem(403, "forbidden", f"the token's scopes do not allow {', '.join(refused)}")
        return params

    def _group(self, group_id: str, headers: Mapping[str, str]) -> Reply:
        _, refused = self._authorize(headers)
        if refused:
            return refused
        members = self.store.patient_ids() if group_id == "all" else self.groups.get(group_id)
        if members is None:
            return outcome(404, "not-found", f"Group/{group_id} is not known to this server")
        return json_reply(
            200,
            {
                "resourceType": "Group",
                "id": group_id,
                "type": "person",
                "actual": True,
                "quantity": len(members),
                "member": [{"entity": {"reference": f"Patient/{p}"}} for p in members],
            },
            FHIR_JSON,
        )

    def _job_for(self, job_id: str, grant: Grant | None) -> ExportJob | None:
        with self._lock:
            job = self.jobs.get(job_id)
        if job is None or (job.owner is not None and (grant is None or grant.client_id != job.owner)):
            return None
        return job

    def _status(self, method: str, job_id: str, query: Mapping[str, str], headers: Mapping[str, str]) -> Reply:
        grant, refused = self._authorize(headers)
        if refused:
            return refused
        job = self._job_for(job_id, grant)
        if job is None:
            return outcome(404, "not-found", "no such export job (finished and deleted, or never started)")
        if method == "DELETE":
            with self._lock:
                self.jobs.pop(job_id, None)
            return outcome(202, "informational", "export job deleted", severity="information")
        if method != "GET":
            return outcome(405, "not-supported", "use GET or DELETE on a status URL")
        faults = self.faults
        if self._fault("drop", faults.drop_connections):
            return Reply(0, drop=True)
        if self._fault("status", faults.status_failures):
            return self._transient()
        if self._fault("throttle", faults.throttle_polls):
            retry_after = faults.throttle_retry_after
            return outcome(
                429,
                "throttled",
                "too many status requests; slow down",
                headers={"Retry-After": self._retry_after(retry_after)} if retry_after else {},
            )
        if faults.fail_export:
            return outcome(500, "exception", "the export failed: simulated server-side failure")
        with self._lock:
            pending = job.polls < faults.pending_polls
            if pending:
                job.polls += 1
            elif job.completed_at is None:
                job.completed_at = time.time()
        if pending:
            progress = f"{100 * job.polls // (faults.pending_polls + 1)}% (poll {job.polls} of {faults.pending_polls})"
            extra = {"Retry-After": self._retry_after(faults.poll_retry_after)} if faults.poll_retry_after else {}
            return Reply(202, {"X-Progress": progress, **extra})
        page = query.get("page", "1")
        return self._manifest(job, int(page) if page.isdigit() else 0)

    def _manifest(self, job: ExportJob, page: int) -> Reply:
        faults = self.faults
        outputs = [f for f in job.files if f.kind == "output"]
        size = faults.manifest_page_size or max(len(outputs), 1)
        pages = [outputs[i : i + size] for i in range(0, len(outputs), size)] or [[]]
        if not 1 <= page <= len(pages):
            return outcome(404, "not-found", f"manifest page {page} does not exist")
        files_url = f"{self.base_url}/bulkfiles/{job.id}"

        def entry(f: JobFile, offset: int = 0) -> dict[str, Any]:
            return {"type": f.type, "url": f"{files_url}/{f.name}", "count": len(f.lines) + offset}

        manifest: dict[str, Any] = {
            "transactionTime": format_instant(job.transaction_time),
            "request": job.request_url,
            "requiresAccessToken": job.requires_token,
            "output": [entry(f, faults.count_offset) for f in pages[page - 1]],
            "deleted": [entry(f) for f in job.files if f.kind == "deleted"] if page == 1 else [],
            "error": [entry(f, faults.error_count_offset) for f in job.files if f.kind == "error"] if page == 1 else [],
        }
        if page < len(pages):
            manifest["link"] = [{"relation": "next", "url": f"{self.base_url}/bulkstatus/{job.id}?page={page + 1}"}]
        headers = {}
        if faults.file_ttl is not None and job.completed_at is not None:
            expires = datetime.fromtimestamp(job.completed_at + faults.file_ttl, UTC)
            headers["Expires"] = format_datetime(expires, usegmt=True)
        return json_reply(200, manifest, headers=headers)

    def _file(self, method: str, job_id: str, name: str, headers: Mapping[str, str]) -> Reply:
        if method != "GET":
            return outcome(405, "not-supported", "files are read with GET")
        with self._lock:
            job = self.jobs.get(job_id)
        export_file = job.file(name) if job else None
        if job is None or export_file is None:
            return outcome(404, "not-found", "no such file (the job may have been deleted)")
        ttl = self.faults.file_ttl
        if job.expired or (ttl is not None and job.completed_at is not None and time.time() > job.completed_at + ttl):
            return outcome(410, "not-found", "the export's files have expired; start a new export")
        if job.requires_token:
            grant, refused = self._authorize(headers)
            if refused:
                return refused
            if job.owner is not None and grant is not None and grant.client_id != job.owner:
                return outcome(404, "not-found", "no such file")
        if self._fault("file", self.faults.file_failures):
            return self._transient()
        gzip_wanted = any(
            part.split(";")[0].strip() == "gzip" and "q=0" not in part.replace(" ", "")
            for part in headers.get("Accept-Encoding", "").split(",")
        )
        truncate = self._fault("truncate", self.faults.truncate_files)
        reply_headers = {"Content-Type": NDJSON}
        if gzip_wanted:
            reply_headers["Content-Encoding"] = "gzip"
        return Reply(200, reply_headers, _file_body(export_file.lines, gzip_wanted, truncate))

    def _transient(self) -> Reply:
        return outcome(
            self.faults.failure_status, "transient", "temporarily unavailable; retry", headers={"Retry-After": "1"}
        )

    @staticmethod
    def _retry_after(spec: str | None) -> str:
        if spec and spec.startswith("date:"):
            when = datetime.now(UTC) + timedelta(seconds=float(spec[5:]))
            return format_datetime(when, usegmt=True)
        return spec or "1"

    def expire_files(self) -> None:
        with self._lock:
            for job in self.jobs.values():
                job.expired = True


def _file_body(lines: list[bytes], gzip_wanted: bool, truncate: bool) -> Iterator[bytes]:
    """Stream NDJSON in blocks (gzip-compressed on the fly when asked); ``truncate`` stops half-way."""
    total = sum(len(line) + 1 for line in lines)
    limit = total // 2 if truncate else None
    compressor = zlib.compressobj(1, zlib.DEFLATED, 31) if gzip_wanted else None
    sent = 0
    block: list[bytes] = []
    size = 0
    for line in lines:
        block.append(line)
        block.append(b"\n")
        size += len(line) + 1
        if size >= _FILE_CHUNK or (limit is not None and sent + size >= limit):
            data = b"".join(block)
            if limit is not None and sent + len(data) >= limit:
                data = data[: limit - sent]
                yield compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH) if compressor else data
                return  # no gzip trailer: a truncated stream
            sent += len(data)
            yield compressor.compress(data) if compressor else data
            block, size = [], 0
    data = b"".join(block)
    if compressor:
        yield compressor.compress(data) + compressor.flush()
    elif data:
        yield data
