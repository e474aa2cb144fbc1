"""The development server's SMART Backend Services authorization server.

It does what a real one must: verifies the client assertion's signature against the client's registered
public JWKS (RS384/ES384, key chosen by ``kid``), checks ``iss``=``sub``=client, ``aud``=token URL,
``exp`` present, not past and at most five minutes ahead, and that ``jti`` was not used before; then issues
an opaque bearer token with an expiry and the granted ``system/`` scopes.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import orjson

from healthcare_assets.fhir.bulk.auth import ALGORITHMS, ASSERTION_TYPE, MAX_ASSERTION_LIFETIME

_SCOPE = re.compile(r"^system/(\*|[A-Z][A-Za-z]+)\.(read|\*|c?r?u?d?s?)$")


class TokenRequestError(Exception):
    """An OAuth error response: ``error`` code, description and HTTP status."""

    def __init__(self, error: str, description: str, status: int = 400):
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


@dataclass(frozen=True)
class Grant:
    client_id: str
    scopes: tuple[str, ...]
    expires_at: float

    def allows(self, resource_type: str) -> bool:
        """Whether the scopes permit reading and searching ``resource_type`` (what an export does)."""
        for scope in self.scopes:
            match = _SCOPE.match(scope)
            if not match or match.group(1) not in ("*", resource_type):
                continue
            permission = match.group(2)
            if permission in ("read", "*") or ("r" in permission and "s" in permission):
                return True
        return False


@dataclass(frozen=True)
class DevAuthConfig:
    """Registered clients (client_id -> public JWKS) and token settings."""

    clients: Mapping[str, Mapping[str, Any]]
    token_lifetime: int = 300
    leeway: int = 10  # clock skew tolerated on exp (and on the 5-minute cap)

    @classmethod
    def from_file(cls, path: Path, client_id: str = "healthcare-assets") -> DevAuthConfig:
        """A JWKS file for one client, or ``{"clients": {"<client_id>": <JWKS>, ...}}`` for several."""
        data = orjson.loads(Path(path).read_bytes())
        if isinstance(data, dict) and isinstance(data.get("clients"), dict):
            return cls(clients=data["clients"])
        if isinstance(data, dict) and isinstance(data.get("keys"), list):
            return cls(clients={client_id: data})
        raise ValueError(f"{path}: expected a JWKS ({{'keys': [...]}}) or {{'clients': {{id: JWKS}}}}")


@dataclass
class TokenIssuer:
    config: DevAuthConfig
    token_url: str
    clock: Callable[[], float] = time.time
    _tokens: dict[str, Grant] = field(default_factory=dict)
    _seen_jti: dict[tuple[str, str], float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    issued: int = 0

    def issue(self, form: Mapping[str, str]) -> dict[str, Any]:
        """Handle a token request form; returns the token response or raises ``TokenRequestError``."""
        if form.get("grant_type") != "client_credentials":
            raise TokenRequestError("unsupported_grant_type", "grant_type must be client_credentials")
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise TokenRequestError("invalid_request", f"client_assertion_type must be {ASSERTION_TYPE}")
        assertion = form.get("client_assertion") or ""
        client_id = self._verify(assertion)
        scopes = tuple((form.get("scope") or "").split())
        if not scopes or not all(_SCOPE.match(s) for s in scopes):
            raise TokenRequestError("invalid_scope", "only system/ scopes are granted (e.g. system/*.read)")
        token = secrets.token_urlsafe(32)
        now = self.clock()
        with self._lock:
            self._tokens[token] = Grant(client_id, scopes, now + self.config.token_lifetime)
            self.issued += 1
        return {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": self.config.token_lifetime,
            "scope": " ".join(scopes),
        }

    def _verify(self, assertion: str) -> str:
        try:
            header = jwt.get_unverified_header(assertion)
            unverified = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise TokenRequestError("invalid_client", "client_assertion is not a JWT", 401) from None
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in ALGORITHMS:
            raise TokenRequestError("invalid_client", f"alg must be one of {ALGORITHMS}", 401)
        if not kid:
            raise TokenRequestError("invalid_client", "the JWT header has no kid", 401)
        if header.get("typ", "JWT") != "JWT":
            raise TokenRequestError("invalid_client", "typ must be JWT", 401)
        client_id = unverified.get("iss")
        jwks = self.config.clients.get(client_id) if isinstance(client_id, str) else None
        if jwks is None:
            raise TokenRequestError("invalid_client", "unknown client (iss)", 401)
        candidates = [k for k in jwks.get("keys", []) if k.get("kid") == kid and k.get("alg", alg) == alg]
        if not candidates:
            raise TokenRequestError("invalid_client", f"no registered key with kid {kid!r} for {alg}", 401)
        try:
            key = jwt.PyJWK(candidates[0], algorithm=alg).key
            claims = jwt.decode(
                assertion,
                key,
                algorithms=[alg],
                audience=self.token_url,
                issuer=client_id,
                leeway=self.config.leeway,
                options={"require": ["iss", "sub", "aud", "exp", "jti"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenRequestError("invalid_client", "client_assertion has expired (exp in the past)", 401) from None
        except jwt.InvalidSignatureError:
            raise TokenRequestError("invalid_client", "client_assertion signature does not verify", 401) from None
        except jwt.InvalidAudienceError:
            raise TokenRequestError("invalid_client", "aud must be the token endpoint URL", 401) from None
        except jwt.PyJWTError as exc:
            raise TokenRequestError("invalid_client", f"client_assertion rejected: {exc}", 401) from None
        if claims.get("sub") != client_id:
            raise TokenRequestError("invalid_client", "sub must equal iss (the client_id)", 401)
        if float(claims["exp"]) > self.clock() + MAX_ASSERTION_LIFETIME + self.config.leeway:
            raise TokenRequestError("invalid_client", "exp is more than 5 minutes in the future", 401)
        jti_key = (client_id, str(claims["jti"]))
        with self._lock:  # check and remember in one step, so two concurrent replays cannot both pass
            if jti_key in self._seen_jti:
                raise TokenRequestError("invalid_client", "jti has already been used (replayed assertion)", 401)
            now = self.clock()
            self._seen_jti = {k: v for k, v in self._seen_jti.items() if v > now}
            self._seen_jti[jti_key] = float(claims["exp"]) + self.config.leeway
        return client_id

    def check(self, authorization: str | None) -> Grant | None:
        """The grant behind an ``Authorization: Bearer`` header, or None if missing, unknown or expired."""
        if not authorization or not authorization.lower().startswith("bearer "):
            return None
        token = authorization[7:].strip()
        with self._lock:
            grant = self._tokens.get(token)
            if grant is None:
                return None
            if grant.expires_at <= self.clock():
                del self._tokens[token]
                return None
            return grant

    def revoke_all(self) -> None:
        """Forget every token (tests use it to force a 401 and a token refresh)."""
        with self._lock:
            self._tokens.clear()
