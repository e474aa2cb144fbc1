"""A development/test FHIR Bulk Data server over a folder of NDJSON (127.0.0.1 only).

It implements the server side of the Bulk Data Access IG v2.0.0 well enough to test a client against:
``/metadata``, ``.well-known/smart-configuration``, a SMART Backend Services token endpoint (when given
client JWKS), ``$export`` at system, Patient and Group level (GET and POST), 202 polling with
``Retry-After`` and ``X-Progress``, paged manifests, NDJSON files (gzip on request), DELETE, ``_since``,
``_type``, ``_typeFilter`` (a subset), ``_elements`` and ``patient``. ``Faults`` injects what real servers do
to clients: throttling, transient errors, dropped connections, truncated and expired files, wrong counts.

Development only: it binds 127.0.0.1 and nothing else, keeps everything in memory, and is not hardened.

Command line (wired by the lead): ``healthcare-assets dev-fhir-server --data DIR [--port N] [--auth-jwks F]``;
for tests: ``with DevFhirServer(data_dir) as server: ... server.base_url ...``.

URL layout: FHIR base ``http://127.0.0.1:<port>/fhir``; token endpoint ``/auth/token``; status
``/fhir/bulkstatus/<job>``; files ``/fhir/bulkfiles/<job>/<name>``. Groups: ``all`` (every patient) plus any
configured ``{group_id: [patient ids]}``.
"""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from healthcare_assets.fhir.bulk.devserver_app import (
    TOKEN_PATH,
    BulkDataApp,
    Faults,
    Reply,
    RequestRecord,
    outcome,
)
from healthcare_assets.fhir.bulk.devserver_auth import DevAuthConfig
from healthcare_assets.fhir.bulk.devserver_store import ResourceStore

logger = logging.getLogger("healthcare_assets.fhir.bulk.devserver")

HOST = "127.0.0.1"
MAX_BODY = 10 * 1024 * 1024
__all__ = ["DevFhirServer", "Faults", "RequestRecord", "Reply", "check_host", "main", "server_from_args"]


class _Handler(BaseHTTPRequestHandler):
    server_version = "healthcare-assets-devfhir/1.0"
    protocol_version = "HTTP/1.0"  # one request per connection: the body of a file ends when the socket closes
    timeout = 60
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        self._dispatch()

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch()

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch()

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.send_error(413)
            return
        body = self.rfile.read(length) if length else b""
        try:
            reply = self.server.app.handle(self.command, self.path, self.headers, body)
        except Exception:  # noqa: BLE001 - a dev server answers 500 instead of dropping the connection
            logger.exception("dev server error on %s %s", self.command, self.path.split("?")[0])
            reply = outcome(500, "exception", "internal error in the development server")
        if reply.drop:
            self.close_connection = True
            return
        try:
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if isinstance(reply.body, bytes):
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)
            else:
                self.end_headers()
                for chunk in reply.body:
                    self.wfile.write(chunk)
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True  # the client went away (or the server is stopping)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature from http.server
        logger.debug("%s %s", self.address_string(), format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins the handler threads: a clean stop
    block_on_close = True

    def __init__(self, port: int, app: BulkDataApp):
        self.app = app
        self._active: set[socket.socket] = set()
        self._active_lock = threading.Lock()
        super().__init__((HOST, port), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._active_lock:
            self._active.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._active_lock:
            self._active.discard(request)
        super().shutdown_request(request)

    def close_active(self) -> None:
        with self._active_lock:
            active = list(self._active)
        for sock in active:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def check_host(host: str) -> str:
    if host not in (HOST, "localhost"):
        raise ValueError(f"the development server binds {HOST} only (asked for {host!r})")
    return HOST


class DevFhirServer:
    """The server in a background thread: ``with DevFhirServer(data_dir) as server: ...``.

    Pass ``store`` to share one loaded ``ResourceStore`` between servers (loading Synthea takes a moment).
    """

    def __init__(
        self,
        data_dir: Path | None = None,
        *,
        store: ResourceStore | None = None,
        port: int = 0,
        host: str = HOST,
        auth: DevAuthConfig | None = None,
        groups: Mapping[str, Sequence[str]] | None = None,
        faults: Faults | None = None,
        files_require_token: bool | None = None,
        smart_configuration: bool = True,
    ):
        check_host(host)
        if store is None:
            if data_dir is None:
                raise ValueError("give data_dir or store")
            store = ResourceStore.load(Path(data_dir))
        self.app = BulkDataApp(
            store,
            auth=auth,
            groups=groups or {},
            faults=faults or Faults(),
            files_require_token=files_require_token,
            smart_configuration=smart_configuration,
        )
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------------------
    def bind(self) -> DevFhirServer:
        """Open the listening socket (127.0.0.1) without serving yet; ``base_url`` is known afterwards."""
        if self._server is None:
            self._server = _Server(self._port, self.app)
            self.app.bind(f"http://{HOST}:{self._server.server_address[1]}")
        return self

    def start(self) -> DevFhirServer:
        """Serve in a background thread (tests)."""
        if self._thread is not None:
            return self
        server = self.bind()._server
        assert server is not None
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="dev-fhir-server", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until KeyboardInterrupt (the command line)."""
        server = self.bind()._server
        assert server is not None
        try:
            server.serve_forever(poll_interval=0.2)
        except KeyboardInterrupt:
            pass
        finally:
            self._server = None
            server.close_active()
            server.server_close()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.close_active()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> DevFhirServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- for tests -----------------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return self.app.base_url

    @property
    def token_url(self) -> str:
        return self.app.origin + TOKEN_PATH

    @property
    def store(self) -> ResourceStore:
        return self.app.store

    @property
    def faults(self) -> Faults:
        return self.app.faults

    def set_faults(self, faults: Faults) -> None:
        self.app.set_faults(faults)

    def requests(self, route: str | None = None, method: str | None = None) -> list[RequestRecord]:
        return [
            r
            for r in list(self.app.log)
            if (route is None or r.route == route) and (method is None or r.method == method)
        ]

    def expire_files(self) -> None:
        """Make every current job's files answer 410 Gone."""
        self.app.expire_files()

    def revoke_tokens(self) -> None:
        if self.app.issuer is not None:
            self.app.issuer.revoke_all()

    @property
    def tokens_issued(self) -> int:
        return self.app.issuer.issued if self.app.issuer is not None else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="healthcare-assets dev-fhir-server", description=DESCRIPTION)
    add_arguments(parser)
    return parser


DESCRIPTION = "Development FHIR Bulk Data server over a folder of NDJSON (binds 127.0.0.1 only)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The server's options, also mounted as the ``healthcare-assets dev-fhir-server`` subcommand."""
    parser.add_argument("--data", required=True, type=Path, help="folder of *.ndjson / *.ndjson.gz files")
    parser.add_argument("--port", type=int, default=8089, help="TCP port (0: any free port); default 8089")
    parser.add_argument("--host", default=HOST, help="must be 127.0.0.1 (or localhost)")
    parser.add_argument(
        "--auth-jwks",
        type=Path,
        help="enable SMART Backend Services: the client's public JWKS (or {'clients': {client_id: JWKS}})",
    )
    parser.add_argument("--client-id", default="healthcare-assets", help="client id for a bare JWKS file")
    parser.add_argument("--token-lifetime", type=int, default=300, help="access token lifetime, seconds")
    parser.add_argument(
        "--group",
        action="append",
        default=[],
        metavar="ID=PATIENT,PATIENT",
        help="define a Group for Group/ID/$export (Group/all always means every patient)",
    )
    parser.add_argument("--pending-polls", type=int, default=1, help="202 answers before an export completes")
    parser.add_argument("--retry-after", default="1", help="Retry-After sent with 202 answers")
    parser.add_argument("--manifest-page-size", type=int, help="output entries per manifest page")
    parser.add_argument("--max-lines-per-file", type=int, help="split types into files of at most N resources")


def server_from_args(argv: Sequence[str] | None = None) -> DevFhirServer:
    return server_from_namespace(build_parser().parse_args(argv))


def server_from_namespace(args: argparse.Namespace) -> DevFhirServer:
    check_host(args.host)
    auth = None
    if args.auth_jwks:
        auth = replace(DevAuthConfig.from_file(args.auth_jwks, args.client_id), token_lifetime=args.token_lifetime)
    groups: dict[str, list[str]] = {}
    for spec in args.group:
        name, _, members = spec.partition("=")
        if not name or not members:
            raise ValueError(f"--group wants ID=PATIENT,PATIENT, got {spec!r}")
        groups[name] = [m.strip().removeprefix("Patient/") for m in members.split(",") if m.strip()]
    faults = Faults(
        pending_polls=args.pending_polls,
        poll_retry_after=args.retry_after,
        manifest_page_size=args.manifest_page_size,
        max_lines_per_file=args.max_lines_per_file,
    )
    return DevFhirServer(args.data, port=args.port, auth=auth, groups=groups, faults=faults)


def main(argv: Sequence[str] | None = None) -> int:
    """``healthcare-assets dev-fhir-server``: serve until Ctrl-C. Returns a process exit code."""
    return serve(build_parser().parse_args(argv))


def serve(args: argparse.Namespace) -> int:
    """Serve the parsed options until Ctrl-C or SIGTERM."""
    try:
        server = server_from_namespace(args)
    except (ValueError, OSError) as exc:
        print(f"dev-fhir-server: {exc}", file=sys.stderr)
        return 2
    try:
        server.bind()
    except OSError as exc:
        print(f"dev-fhir-server: cannot listen on {HOST}:{server._port}: {exc.strerror}", file=sys.stderr)
        return 2
    store = server.store
    print(
        f"FHIR Bulk Data dev server: {server.base_url}  ({len(store.types())} types, "
        f"{len(store.patient_ids())} patients)",
        flush=True,
    )
    if server.app.issuer is not None:
        print(f"SMART token endpoint: {server.token_url}  (clients: {', '.join(server.app.auth.clients)})", flush=True)
    print("Ctrl-C to stop", flush=True)
    previous = signal.signal(signal.SIGTERM, _interrupt)  # `docker stop`/`kill`: stop as cleanly as Ctrl-C
    try:
        server.serve_forever()
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    raise SystemExit(main())
