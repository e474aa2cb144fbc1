"""HTTP for the Bulk Data client: sessions, bearer tokens, and retrying transient failures.

One ``requests.Session`` per thread (sessions are not documented as thread-safe and downloads run in a pool).
TLS verification is always on; the only knob is a CA bundle path for private PKI. A 401 on a request that
carried a token drops the token and retries once with a fresh one. Connection errors, 429 and transient 5xx
are retried with ``Retry-After`` or backoff, within the policy's attempt budget.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests

from healthcare_assets.fhir.bulk.errors import ExportCancelledError, ServerError, parse_outcome
from healthcare_assets.fhir.bulk.events import redact_url
from healthcare_assets.fhir.bulk.retry import RetryPolicy, Sleep, is_transient

if TYPE_CHECKING:
    from healthcare_assets.fhir.bulk.auth import TokenProvider

USER_AGENT = "healthcare-assets-bulk/1.0"


@dataclass(frozen=True)
class Timeouts:
    """Seconds to connect and to wait for each read (a stalled download fails instead of hanging)."""

    connect: float = 10.0
    read: float = 120.0


class Transport:
    def __init__(
        self,
        *,
        policy: RetryPolicy,
        sleep: Sleep,
        rng: random.Random,
        is_cancelled: Callable[[], bool] = lambda: False,
        ca_bundle: Path | None = None,
        timeouts: Timeouts = Timeouts(),
    ):
        self.policy = policy
        self.sleep = sleep
        self.rng = rng
        self.is_cancelled = is_cancelled
        self.verify: bool | str = str(ca_bundle) if ca_bundle else True
        self.timeouts = timeouts
        self.token_provider: TokenProvider | None = None
        self.emit: Callable[..., None] = lambda kind, /, **data: None
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()

    def session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.verify = self.verify
            session.headers["User-Agent"] = USER_AGENT
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()
        self._local = threading.local()

    def check_cancelled(self) -> None:
        if self.is_cancelled():
            raise ExportCancelledError("export cancelled")

    def send(
        self,
        method: str,
        url: str,
        *,
        use_token: bool,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
        **kwargs: Any,
    ) -> requests.Response:
        """One request (plus one retry with a fresh token after a 401). Connection errors propagate."""
        sent_headers = dict(headers or {})
        token = None
        if use_token and self.token_provider is not None:
            token = self.token_provider.token()
            sent_headers["Authorization"] = f"Bearer {token}"
        response = self.session().request(
            method,
            url,
            headers=sent_headers,
            stream=stream,
            timeout=(self.timeouts.connect, self.timeouts.read),
            **kwargs,
        )
        if response.status_code == 401 and token is not None and self.token_provider is not None:
            response.close()
            self.token_provider.invalidate(token)
            self.emit("retry", what="token refresh after 401", url=redact_url(url), status=401, attempt=1, delay=0)
            sent_headers["Authorization"] = f"Bearer {self.token_provider.token()}"
            response = self.session().request(
                method,
                url,
                headers=sent_headers,
                stream=stream,
                timeout=(self.timeouts.connect, self.timeouts.read),
                **kwargs,
            )
        return response

    def request(
        self,
        method: str,
        url: str,
        *,
        what: str,
        use_token: bool,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
        data_factory: Callable[[], Any] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """``send`` with retries of connection errors and transient statuses.

        Returns the final response whatever its status (the caller interprets it); raises ``ServerError``
        when the server could not be reached within the attempt budget. ``data_factory`` builds the body
        anew for each attempt (a token request needs a new assertion every time).
        """
        attempt = 0
        while True:
            self.check_cancelled()
            if data_factory is not None:
                kwargs["data"] = data_factory()
            try:
                response = self.send(method, url, use_token=use_token, headers=headers, stream=stream, **kwargs)
            except requests.RequestException as exc:
                if attempt + 1 >= self.policy.max_attempts:
                    raise ServerError(
                        what, redact_url(url), None, detail=f"{type(exc).__name__} after {attempt + 1} attempts"
                    ) from None
                delay = self.policy.delay(attempt, None, self.rng)
                self.emit(
                    "retry",
                    what=what,
                    url=redact_url(url),
                    error=type(exc).__name__,
                    attempt=attempt + 1,
                    delay=round(delay, 3),
                )
            else:
                if response.status_code < 400 or attempt + 1 >= self.policy.max_attempts:
                    return response
                issues = parse_outcome(response.content) if response.status_code >= 500 else ()
                if not is_transient(response.status_code, issues):
                    return response
                delay = self.policy.delay(attempt, response.headers.get("Retry-After"), self.rng)
                response.close()
                self.emit(
                    "retry",
                    what=what,
                    url=redact_url(url),
                    status=response.status_code,
                    attempt=attempt + 1,
                    delay=round(delay, 3),
                )
            self.sleep(delay)
            attempt += 1
