"""The Bulk Data export client: kick-off, status polling, manifest, parallel downloads, resume.

``BulkExportClient(auth, settings).run(request, dest_dir, state_path)`` runs one export to completion and
returns what was written. Every step is recorded in the state file (``state.py``), so a run that dies -- a
crash, a dropped connection, an exhausted retry budget -- is resumed by calling ``run`` again with the same
request and state path: it polls the saved status URL instead of kicking off again, and downloads only the
files that are not already complete. Deliberate aborts (``cancel()``, KeyboardInterrupt, the polling
deadline) send DELETE to the status URL so the server stops working for nobody, and mark the state
cancelled; the next run then starts a new export. If the server forgets the job or expires its files
(404/410), the client starts a new export (``max_restarts`` times).
"""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import orjson
import requests

from healthcare_assets.config import ensure_private_dir
from healthcare_assets.fhir.bulk.auth import SmartBackendAuth, TokenProvider
from healthcare_assets.fhir.bulk.capability import Capabilities
from healthcare_assets.fhir.bulk.download import FileDigest, FileDownloader, hash_file
from healthcare_assets.fhir.bulk.errors import (
    BulkExportError,
    ExportCancelledError,
    ExportExpiredError,
    ExportFailedError,
    ExportTimeoutError,
    FilesExpiredError,
    KickoffError,
    NoSupportedTypesError,
    ServerError,
    StateMismatchError,
    parse_outcome,
)
from healthcare_assets.fhir.bulk.events import Emitter, ProgressFn, redact_url
from healthcare_assets.fhir.bulk.manifest import ManifestError, PlannedFile, merge_pages, parse_page, plan_files
from healthcare_assets.fhir.bulk.request import BulkExportRequest, check_secure_url
from healthcare_assets.fhir.bulk.retry import (
    Backoff,
    Clock,
    RetryPolicy,
    Sleep,
    clamp_delay,
    is_transient,
    parse_retry_after,
)
from healthcare_assets.fhir.bulk.state import ExportState, utc_now
from healthcare_assets.fhir.bulk.transport import Timeouts, Transport

FHIR_JSON = "application/fhir+json"


@dataclass(frozen=True)
class ClientSettings:
    """Tunables. Defaults suit a production EHR; tests shrink the waits and inject a fake clock."""

    poll_timeout: float = 6 * 3600.0  # give up (and DELETE the job) if not ready by then
    poll_backoff: Backoff = Backoff(initial=2.0, factor=1.5, maximum=120.0, jitter=0.2)  # 202 w/o Retry-After
    min_poll_interval: float = 1.0  # clamp for Retry-After on status polls (must be > 0)
    max_poll_interval: float = 600.0
    max_poll_errors: int = 10  # consecutive 5xx/connection errors while polling
    max_polls: int = 100_000  # a second bound, in case an injected sleep does not advance time
    retry: RetryPolicy = RetryPolicy()  # kick-off, manifest pages, files, token requests
    parallel_downloads: int = 4
    chunk_size: int = 1 << 20
    timeouts: Timeouts = Timeouts()
    keep_gzip: bool = False  # store <Type>.ndjson.gz instead of plain NDJSON
    verify_counts: bool = True  # compare line counts with the manifest's count
    count_retries: int = 1  # re-downloads of a file whose count does not match
    verify_existing: bool = True  # re-hash files an earlier run completed before skipping them
    delete_after_download: bool = True  # tell the server it may drop the files (IG: client SHOULD)
    max_restarts: int = 1  # new exports after the server lost the job or its files
    check_capabilities: bool = True  # read /metadata: warn about types it does not list
    # Also drop the types it does not list. Only for a default type list the user did not choose: a user's
    # explicit types are always requested (statements are often incomplete).
    drop_unlisted_types: bool = False
    ca_bundle: Path | None = None  # private CA; TLS verification itself cannot be turned off
    max_manifest_pages: int = 10_000

    def __post_init__(self) -> None:
        if self.min_poll_interval <= 0 or self.max_poll_interval < self.min_poll_interval:
            raise ValueError("need 0 < min_poll_interval <= max_poll_interval (a zero wait could spin)")
        if self.poll_timeout <= 0 or self.parallel_downloads < 1 or self.chunk_size < 1024:
            raise ValueError("poll_timeout must be positive, parallel_downloads >= 1, chunk_size >= 1 KiB")


@dataclass(frozen=True)
class ExportedFile:
    """One file on disk. ``bytes``/``sha256`` describe the stored file, ``lines`` the resources in it."""

    kind: str  # output | error | deleted
    type: str
    path: Path
    lines: int
    bytes: int
    sha256: str
    url: str  # full server URL (may be pre-signed: do not log it; events carry a redacted form)
    count: int | None  # the manifest's count, when it gave one


@dataclass(frozen=True)
class BulkExportResult:
    request_url: str
    method: str
    status_url: str
    transaction_time: str  # pass as ``since`` next time for an incremental export
    requires_access_token: bool
    files: tuple[ExportedFile, ...]
    error_files: tuple[ExportedFile, ...]
    deleted_files: tuple[ExportedFile, ...]
    skipped_types: tuple[str, ...]
    warnings: tuple[str, ...]
    resumed: bool
    restarts: int

    def lines_by_type(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for item in self.files:
            totals[item.type] = totals.get(item.type, 0) + item.lines
        return totals


class BulkExportClient:
    """Runs Bulk Data exports. ``auth=None`` talks to open servers (such as the dev server without auth)."""

    def __init__(
        self,
        auth: SmartBackendAuth | None = None,
        settings: ClientSettings | None = None,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep | None = None,
        rng: random.Random | None = None,
    ):
        self.auth = auth
        self.settings = settings or ClientSettings()
        self._clock = clock
        self._cancel = threading.Event()
        self._running = threading.Lock()
        self._sleep = sleep or self._cancel.wait  # the default sleep wakes up at once on cancel()
        self.transport = Transport(
            policy=self.settings.retry,
            sleep=self._sleep,
            rng=rng or random.Random(),
            is_cancelled=self._cancel.is_set,
            ca_bundle=self.settings.ca_bundle,
            timeouts=self.settings.timeouts,
        )
        self._providers: dict[str, TokenProvider] = {}

    def __repr__(self) -> str:
        return f"BulkExportClient(auth={self.auth!r})"

    def __enter__(self) -> BulkExportClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.transport.close()

    def cancel(self) -> None:
        """Ask a running ``run`` (in another thread) to stop: it sends DELETE and raises ExportCancelledError."""
        self._cancel.set()

    def run(
        self, request: BulkExportRequest, dest_dir: Path, state_path: Path, on_progress: ProgressFn | None = None
    ) -> BulkExportResult:
        """Export into ``dest_dir`` (created 0700), resuming from ``state_path`` when it holds this request.

        One run at a time per client (the client's transport carries the run's event sink).
        """
        if not self._running.acquire(blocking=False):
            raise RuntimeError("this BulkExportClient is already running an export; use one client per export")
        try:
            return self._run(request, dest_dir, state_path, on_progress)
        finally:
            self._running.release()

    def _run(
        self, request: BulkExportRequest, dest_dir: Path, state_path: Path, on_progress: ProgressFn | None
    ) -> BulkExportResult:
        self._cancel.clear()
        emit = Emitter(on_progress)
        self.transport.emit = emit
        dest_dir = ensure_private_dir(Path(dest_dir))
        state_path = Path(state_path)
        self.transport.token_provider = self._provider(request.base_url) if self.auth else None
        job = _Export(self, request, dest_dir, state_path, emit)
        try:
            while True:
                try:
                    return job.run_once()
                except (ExportExpiredError, FilesExpiredError) as exc:
                    if job.state.restarts >= self.settings.max_restarts:
                        raise
                    emit("restart", reason=str(exc))
                    job.start_over()
        except KeyboardInterrupt:
            job.abort("interrupted")
            raise
        except ExportCancelledError:
            job.abort("cancelled")
            raise
        except ExportTimeoutError:
            job.abort("deadline")
            raise
        except ExportFailedError:
            job.state.status = "failed"
            job.save()
            raise

    def abandon(self, state_path: Path, on_progress: ProgressFn | None = None, reason: str = "abandoned") -> bool:
        """Give up the unfinished export recorded in ``state_path``: DELETE its job on the server (best effort,
        one attempt) and mark the state cancelled so that nothing resumes it. True when a DELETE was sent."""
        if not self._running.acquire(blocking=False):
            raise RuntimeError("this BulkExportClient is already running an export; use one client per export")
        try:
            state_path = Path(state_path)
            state = ExportState.load(state_path)
            if state is None:
                return False
            self._cancel.clear()
            self.transport.emit = emit = Emitter(on_progress)
            base_url = BulkExportRequest.from_dict(state.request).base_url
            self.transport.token_provider = self._provider(base_url) if self.auth else None
            sent = _cancel_job(self.transport, state, self.auth is not None, emit, reason)
            if state.status != "complete":
                state.status = "cancelled"
                state.save(state_path)
            return sent
        finally:
            self._running.release()

    def _provider(self, base_url: str) -> TokenProvider:
        assert self.auth is not None
        if base_url not in self._providers:
            self._providers[base_url] = TokenProvider(
                self.auth, base_url, self.transport, emit=lambda kind, /, **data: self.transport.emit(kind, **data)
            )
        return self._providers[base_url]


def _cancel_job(http: Transport, state: ExportState, use_token: bool, emit: Emitter, reason: str) -> bool:
    """DELETE a kicked-off job's status URL (one attempt; failures are reported, not raised)."""
    url = state.status_url
    if not url or state.status not in ("kicked_off", "downloading"):
        return False
    try:
        response = http.send("DELETE", url, use_token=use_token, headers={"Accept": FHIR_JSON})
        response.close()
        emit("cancel", reason=reason, status_url=redact_url(url), status=response.status_code)
    except Exception as exc:  # noqa: BLE001 - aborting anyway; report and move on
        emit("cancel", reason=reason, status_url=redact_url(url), error=type(exc).__name__)
    return True


@dataclass
class _Export:
    """One ``run``: the state machine over kick-off, polling, manifest and downloads."""

    client: BulkExportClient
    request: BulkExportRequest
    dest_dir: Path
    state_path: Path
    emit: Emitter
    state: ExportState = field(init=False)
    resumed: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        self.settings = self.client.settings
        self.http = self.client.transport
        self.use_token = self.client.auth is not None
        existing = ExportState.load(self.state_path)
        wanted = self.request.to_dict()
        if existing is not None and existing.request != wanted:
            raise StateMismatchError(
                f"{self.state_path} belongs to a different export request; use a new "
                "state file (and destination) for a new request, or delete it"
            )
        if existing is not None and existing.resumable:
            self.state, self.resumed = existing, True
            self.emit(
                "resume",
                status_url=redact_url(existing.status_url or ""),
                completed=len(existing.files),
                status=existing.status,
            )
        elif existing is not None:  # cancelled, failed or never accepted: begin again in the same place
            self.state = existing
            self.start_over(count_restart=False)
        else:
            self._check_empty_destination()
            self.state = ExportState(request=wanted)

    # -- lifecycle ---------------------------------------------------------------------------------------
    def save(self) -> None:
        self.state.save(self.state_path)

    def start_over(self, count_restart: bool = True) -> None:
        """Forget the old job and its files (they belong to a different transaction time)."""
        old = self.state
        for relpath in self._known_paths(old):
            target = self.dest_dir / relpath
            target.unlink(missing_ok=True)
            target.with_name(f".{target.name}.part").unlink(missing_ok=True)
        self.state = ExportState(request=self.request.to_dict(), restarts=old.restarts + int(count_restart))
        self.resumed = False
        self.save()

    def abort(self, reason: str) -> None:
        """Cancel the server job (best effort, one attempt) and mark the state cancelled."""
        self.client._cancel.clear()  # the DELETE itself must not be refused as "cancelled"
        _cancel_job(self.http, self.state, self.use_token, self.emit, reason)
        if self.state.status != "complete":
            self.state.status = "cancelled"
            self.save()

    def run_once(self) -> BulkExportResult:
        if self.state.status == "complete" and not self._missing_files():
            result = self._result()
            self.emit(
                "complete",
                files=len(result.files),
                lines=sum(f.lines for f in result.files),
                transaction_time=result.transaction_time,
                resumed=True,
            )
            return result
        if self.state.status_url is None:
            self._kickoff()
        if self.state.manifest is None:
            self._poll()
        self._download()
        self.state.status = "complete"
        self.state.completed_at = utc_now()
        self.save()
        if self.settings.delete_after_download:
            self._delete_job()
        result = self._result()
        self.emit(
            "complete",
            files=len(result.files),
            lines=sum(f.lines for f in result.files),
            bytes=sum(f.bytes for f in result.files),
            error_files=len(result.error_files),
            deleted_files=len(result.deleted_files),
            transaction_time=result.transaction_time,
        )
        return result

    # -- kick-off ----------------------------------------------------------------------------------------
    def _kickoff(self) -> None:
        request = self.request
        if self.settings.check_capabilities:
            request = self._apply_capabilities(request)
        headers = {"Accept": FHIR_JSON, "Prefer": "respond-async"}
        url = request.kickoff_url
        if request.method == "GET":
            params = request.query_params()
            request_url = requests.Request("GET", url, params=params).prepare().url or url
            response = self.http.request(
                "GET", url, what="kick-off", use_token=self.use_token, headers=headers, params=params
            )
        else:
            request_url = url
            body = orjson.dumps(request.parameters_resource())
            response = self.http.request(
                "POST",
                url,
                what="kick-off",
                use_token=self.use_token,
                headers={**headers, "Content-Type": FHIR_JSON},
                data=body,
            )
        with response:
            if response.status_code != 202:
                raise KickoffError("kick-off", request_url, response.status_code, parse_outcome(response.content))
            location = response.headers.get("Content-Location")
            if not location:
                raise KickoffError("kick-off", request_url, 202, detail="202 without a Content-Location header")
        status_url = check_secure_url(urljoin(url, location), "status URL")
        self.state.request_url, self.state.method = request_url, request.method
        self.state.status_url, self.state.kicked_off_at = status_url, utc_now()
        self.state.status = "kicked_off"
        self.save()
        self.emit(
            "kickoff",
            request_url=request_url,
            method=request.method,
            status_url=redact_url(status_url),
            types=list(request.types),
        )

    def _apply_capabilities(self, request: BulkExportRequest) -> BulkExportRequest:
        url = f"{request.base_url}/metadata"
        try:
            response = self.http.request(
                "GET", url, what="capabilities", use_token=self.use_token, headers={"Accept": FHIR_JSON}
            )
            statement = response.json() if response.status_code == 200 else None
        except (ServerError, ValueError):
            statement = None
        caps = Capabilities.from_statement(statement)
        if caps.types is None:
            self._warn(
                f"could not read the server's supported resource types from {url}; sending the request unchanged"
            )
            return request
        self.emit("capabilities", types=len(caps.types), fhir_version=caps.fhir_version)
        if caps.supports_level(request) is False:
            self._warn(f"the CapabilityStatement declares no export operation for level '{request.level}'")
        if not request.types:
            return request
        kept, unlisted = caps.split_types(request.types)
        if not self.settings.drop_unlisted_types:
            for name in unlisted:
                self._warn(f"resource type {name} is not in the server's CapabilityStatement; requested anyway")
            return request
        for name in unlisted:
            self.state.skipped_types.append(name)
            self._warn(
                f"resource type {name} is not supported by the server; skipped (name it in the types to request "
                "it anyway, or turn the capability check off)"
            )
            self.emit("type_skipped", type=name, reason="not in CapabilityStatement")
        if not kept:
            raise NoSupportedTypesError(
                f"none of the requested types {list(request.types)} is supported by {request.base_url}"
            )
        return request.with_types(kept) if unlisted else request

    def _warn(self, message: str) -> None:
        self.state.warnings.append(message)
        self.emit("warning", message=message)

    # -- status polling ----------------------------------------------------------------------------------
    def _poll(self) -> None:
        url = self.state.status_url
        assert url is not None
        clock, deadline = self.client._clock, self.client._clock() + self.settings.poll_timeout
        polls = errors = throttled = 0
        for asked in range(self.settings.max_polls + 1):
            self.http.check_cancelled()
            if clock() >= deadline or asked >= self.settings.max_polls:
                raise ExportTimeoutError(
                    f"export not ready after {self.settings.poll_timeout:.0f} s ({polls} polls); cancelled"
                )
            retry_after: str | None = None
            try:
                response = self.http.send("GET", url, use_token=self.use_token, headers={"Accept": "application/json"})
            except requests.RequestException as exc:
                errors += 1
                if errors > self.settings.max_poll_errors:
                    detail = f"{errors} connection errors in a row ({type(exc).__name__})"
                    raise ServerError("status poll", redact_url(url), None, detail=detail) from None
                delay = self.settings.retry.delay(errors - 1, None, self.http.rng)
                self.emit("retry", what="status poll", error=type(exc).__name__, attempt=errors, delay=round(delay, 3))
            else:
                with response:
                    status = response.status_code
                    retry_after = response.headers.get("Retry-After")
                    if status == 200:
                        self._read_manifest(response, url)
                        return
                    if status == 202:
                        polls, errors, throttled = polls + 1, 0, 0
                        delay = self._poll_delay(retry_after, polls)
                        self.emit(
                            "poll",
                            progress=(response.headers.get("X-Progress") or "")[:100],
                            polls=polls,
                            delay=round(delay, 3),
                        )
                    elif status in (404, 410):
                        issues = parse_outcome(response.content)
                        raise ExportExpiredError("status poll", redact_url(url), status, issues)
                    else:
                        issues = parse_outcome(response.content)
                        if not is_transient(status, issues):
                            raise ExportFailedError("export", redact_url(url), status, issues)
                        if status == 429:  # throttling is bounded by the deadline, errors by a budget
                            throttled += 1
                        else:
                            errors += 1
                            if errors > self.settings.max_poll_errors:  # resumable: the job may be fine
                                raise ServerError("status poll", redact_url(url), status, issues)
                        attempt = errors + throttled
                        delay = self.settings.retry.delay(attempt - 1, retry_after, self.http.rng)
                        self.emit("retry", what="status poll", status=status, attempt=attempt, delay=round(delay, 3))
            self.client._sleep(max(0.0, min(delay, deadline - clock())))

    def _poll_delay(self, retry_after: str | None, polls: int) -> float:
        asked = parse_retry_after(retry_after)
        if asked is None:
            asked = self.settings.poll_backoff.delay(polls - 1, self.http.rng)
        return clamp_delay(asked, self.settings.min_poll_interval, self.settings.max_poll_interval)

    def _read_manifest(self, response: requests.Response, url: str) -> None:
        try:
            pages = [parse_page(response.json(), url)]
        except ValueError as exc:
            raise ManifestError(f"status URL {redact_url(url)} returned an unreadable manifest: {exc}") from None
        seen = {url}
        while pages[-1].next_url:
            next_url = pages[-1].next_url
            if next_url in seen or len(pages) >= self.settings.max_manifest_pages:
                raise ManifestError(f"manifest paging loops or exceeds {self.settings.max_manifest_pages} pages")
            seen.add(next_url)
            page = self.http.request(
                "GET", next_url, what="manifest page", use_token=self.use_token, headers={"Accept": "application/json"}
            )
            with page:
                if page.status_code in (404, 410):
                    raise ExportExpiredError(
                        "manifest page", redact_url(next_url), page.status_code, parse_outcome(page.content)
                    )
                if page.status_code != 200:
                    issues = parse_outcome(page.content)
                    error = ServerError if is_transient(page.status_code, issues) else ExportFailedError
                    raise error("manifest page", redact_url(next_url), page.status_code, issues)
                try:
                    pages.append(parse_page(page.json(), next_url))
                except ValueError as exc:
                    raise ManifestError(f"manifest page {redact_url(next_url)} is unreadable: {exc}") from None
        if len({p.transaction_time for p in pages}) > 1:
            self._warn("manifest pages disagree on transactionTime; using the first page's")
        self.state.manifest = merge_pages(pages)
        self.save()
        manifest = self.state.manifest
        self.emit(
            "manifest",
            transaction_time=manifest["transactionTime"],
            pages=len(pages),
            output=len(manifest["output"]),
            error=len(manifest["error"]),
            deleted=len(manifest["deleted"]),
            requires_access_token=manifest["requiresAccessToken"],
        )

    # -- downloads ---------------------------------------------------------------------------------------
    def _plans(self) -> list[PlannedFile]:
        assert self.state.manifest is not None
        return plan_files(self.state.manifest, ".ndjson.gz" if self.settings.keep_gzip else ".ndjson")

    def _download(self) -> None:
        manifest = self.state.manifest
        assert manifest is not None
        pending: list[PlannedFile] = []
        for plan in self._plans():
            done = self.state.files.get(plan.key)
            if done is not None and self._intact(done):
                self.emit(
                    "file_skipped",
                    kind=plan.kind,
                    type=plan.type,
                    path=done["path"],
                    lines=done["lines"],
                    sha256=done["sha256"],
                )
            else:
                self.state.files.pop(plan.key, None)
                pending.append(plan)
        self.state.status = "downloading"
        self.save()
        if not pending:
            return
        for plan in pending:
            ensure_private_dir((self.dest_dir / plan.relpath).parent)
        abort = threading.Event()
        downloader = FileDownloader(
            self.http,
            policy=self.settings.retry,
            keep_gzip=self.settings.keep_gzip,
            chunk_size=self.settings.chunk_size,
            verify_counts=self.settings.verify_counts,
            count_retries=self.settings.count_retries,
            should_stop=lambda: abort.is_set() or self.client._cancel.is_set(),
        )
        # Send the token only when the manifest says the files need it (pre-signed URLs must not get it).
        use_token = self.use_token and bool(manifest["requiresAccessToken"])
        pool = ThreadPoolExecutor(
            max_workers=min(self.settings.parallel_downloads, len(pending)), thread_name_prefix="bulk-download"
        )
        futures: dict[Future[FileDigest], PlannedFile] = {
            pool.submit(downloader.download, plan, self.dest_dir / plan.relpath, use_token=use_token): plan
            for plan in pending
        }
        recorded: set[str] = set()
        try:
            first_error: BaseException | None = None
            waiting = set(futures)
            while waiting:
                done, waiting = wait(waiting, timeout=0.2, return_when=FIRST_COMPLETED)
                self.emit.drain()
                for future in done:
                    error = future.exception()
                    if error is not None:
                        if first_error is None or isinstance(first_error, ExportCancelledError):
                            first_error = error
                        abort.set()
                        continue
                    self._record(futures[future], future.result(), recorded)
                self.http.check_cancelled()
            if first_error is not None:
                raise first_error
        except BaseException:
            abort.set()
            pool.shutdown(wait=True, cancel_futures=True)
            for future, plan in futures.items():  # keep what finished while we were stopping
                if plan.key not in recorded and future.done() and not future.cancelled() and not future.exception():
                    self._record(plan, future.result(), recorded, quiet=True)
            self.emit.drain()
            raise
        finally:
            pool.shutdown(wait=True)

    def _record(self, plan: PlannedFile, digest: FileDigest, recorded: set[str], quiet: bool = False) -> None:
        self.state.files[plan.key] = {
            "kind": plan.kind,
            "type": plan.type,
            "path": plan.relpath,
            "lines": digest.lines,
            "bytes": digest.bytes,
            "sha256": digest.sha256,
            "url": plan.url,
            "count": plan.count,
        }
        recorded.add(plan.key)
        self.save()
        if not quiet:
            self.emit(
                "file_complete",
                kind=plan.kind,
                type=plan.type,
                path=plan.relpath,
                lines=digest.lines,
                bytes=digest.bytes,
                sha256=digest.sha256,
                url=redact_url(plan.url),
            )

    def _intact(self, entry: dict[str, Any]) -> bool:
        path = self.dest_dir / entry["path"]
        try:
            if path.stat().st_size != entry["bytes"]:
                return False
        except OSError:
            return False
        return not self.settings.verify_existing or hash_file(path)[1] == entry["sha256"]

    def _missing_files(self) -> bool:
        return any(not self._intact(entry) for entry in self.state.files.values())

    def _delete_job(self) -> None:
        url = self.state.status_url
        if not url:
            return
        try:
            response = self.http.send("DELETE", url, use_token=self.use_token, headers={"Accept": FHIR_JSON})
            response.close()
        except (requests.RequestException, BulkExportError) as exc:
            self.emit("warning", message=f"could not release the finished job on the server: {type(exc).__name__}")

    # -- bookkeeping -------------------------------------------------------------------------------------
    def _known_paths(self, state: ExportState) -> set[str]:
        paths = {entry["path"] for entry in state.files.values()}
        if state.manifest is not None:
            for suffix in (".ndjson", ".ndjson.gz"):
                paths.update(p.relpath for p in plan_files(state.manifest, suffix))
        return paths

    def _check_empty_destination(self) -> None:
        """A new export never mixes with files of another one (names would collide or be misattributed)."""
        found = [p for p in self.dest_dir.rglob("*.ndjson*") if p.is_file() and not p.name.startswith(".")]
        if found:
            raise BulkExportError(
                f"{self.dest_dir} already holds {len(found)} NDJSON files and no state for them "
                f"(e.g. {found[0].name}); export into an empty folder"
            )

    def _result(self) -> BulkExportResult:
        manifest = self.state.manifest or {}
        groups: dict[str, list[ExportedFile]] = {"output": [], "error": [], "deleted": []}
        for plan in self._plans():
            entry = self.state.files[plan.key]
            groups[plan.kind].append(
                ExportedFile(
                    kind=plan.kind,
                    type=entry["type"],
                    path=self.dest_dir / entry["path"],
                    lines=entry["lines"],
                    bytes=entry["bytes"],
                    sha256=entry["sha256"],
                    url=entry["url"],
                    count=entry["count"],
                )
            )
        return BulkExportResult(
            request_url=self.state.request_url or "",
            method=self.state.method or self.request.method,
            status_url=self.state.status_url or "",
            transaction_time=manifest.get("transactionTime", ""),
            requires_access_token=bool(manifest.get("requiresAccessToken")),
            files=tuple(groups["output"]),
            error_files=tuple(groups["error"]),
            deleted_files=tuple(groups["deleted"]),
            skipped_types=tuple(self.state.skipped_types),
            warnings=tuple(self.state.warnings),
            resumed=self.resumed,
            restarts=self.state.restarts,
        )
