"""SMART Backend Services authorization (client-credentials grant with a signed JWT assertion).

The client proves its identity by signing a short-lived JWT with its private key (RS384 or ES384); the
server checks the signature against the public JWKS registered for the client and returns a bearer token.
The private key is read from a file or an environment variable (JWK, JWKS or PEM), never logged, and left
out of ``repr``/``str``. A PEM key has no ``kid`` of its own, so ``kid`` is configurable: servers pick the
verification key from the registered JWKS by it.
"""

from __future__ import annotations

import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jwt
import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from healthcare_assets.fhir.bulk.errors import AuthError, ServerError
from healthcare_assets.fhir.bulk.request import check_secure_url

if TYPE_CHECKING:
    from healthcare_assets.fhir.bulk.transport import Transport

ALGORITHMS = ("RS384", "ES384")
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_ASSERTION_LIFETIME = 300  # seconds; the SMART spec caps exp at five minutes in the future
_V1_SCOPE = re.compile(r"^system/(\*|[A-Z][A-Za-z]+)\.(read|\*)$")
_V2_SCOPE = re.compile(r"^system/(\*|[A-Z][A-Za-z]+)\.c?r?u?d?s?$")

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def system_scope(types: Iterable[str] = (), version: str = "v1") -> str:
    """System scopes to read ``types`` (all types when empty): v1 ``system/X.read``, v2 ``system/X.rs``."""
    suffix = {"v1": "read", "v2": "rs"}.get(version)
    if suffix is None:
        raise ValueError("scope version must be 'v1' or 'v2'")
    names = list(types) or ["*"]
    return " ".join(f"system/{name}.{suffix}" for name in names)


def check_scope(scope: str) -> str:
    """Backend services use ``system/`` scopes only; refuse anything else early with a clear message."""
    parts = scope.split()
    if not parts:
        raise ValueError("scope is empty")
    for part in parts:
        if not (_V1_SCOPE.match(part) or (_V2_SCOPE.match(part) and part.rsplit(".", 1)[1])):
            raise ValueError(f"not a SMART system scope: {part!r} (e.g. 'system/*.read' or 'system/*.rs')")
    return scope


@dataclass(frozen=True)
class SigningKey:
    """A loaded private key with its JWS algorithm and ``kid``; its repr never shows key material."""

    private_key: PrivateKey = field(repr=False)
    algorithm: str
    kid: str

    def public_jwk(self) -> dict[str, Any]:
        return public_jwk(self.private_key, self.kid, self.algorithm)


@dataclass(frozen=True)
class SmartBackendAuth:
    """Credentials and settings for SMART Backend Services.

    Exactly one key source: ``key_file`` (path to a JWK/JWKS/PEM file), ``key_env`` (name of an environment
    variable holding one) or ``key_data`` (the text itself, e.g. from a secrets manager; redacted in repr).
    ``algorithm`` is inferred from the key (RSA -> RS384, EC P-384 -> ES384) unless given. ``token_url`` is
    used when the server's ``.well-known/smart-configuration`` cannot be read.
    """

    client_id: str
    key_file: Path | str | None = None
    key_env: str | None = None
    key_data: str | None = field(default=None, repr=False)
    kid: str | None = None
    algorithm: str | None = None
    scope: str = "system/*.read"
    token_url: str | None = None
    assertion_lifetime: int = 240
    refresh_margin: float = 60.0

    def __post_init__(self) -> None:
        if not self.client_id:
            raise ValueError("client_id is required")
        sources = [s for s in (self.key_file, self.key_env, self.key_data) if s]
        if len(sources) != 1:
            raise ValueError("give exactly one of key_file, key_env or key_data")
        if self.key_file is not None:
            object.__setattr__(self, "key_file", Path(self.key_file).expanduser())
        if self.algorithm is not None and self.algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm must be one of {ALGORITHMS}, not {self.algorithm!r}")
        if not 1 <= self.assertion_lifetime <= MAX_ASSERTION_LIFETIME:
            raise ValueError(f"assertion_lifetime must be 1..{MAX_ASSERTION_LIFETIME} seconds")
        if self.token_url is not None:
            check_secure_url(self.token_url, "token_url")
        check_scope(self.scope)

    def __repr__(self) -> str:
        source = (
            f"key_file={str(self.key_file)!r}"
            if self.key_file
            else f"key_env={self.key_env!r}"
            if self.key_env
            else "key_data=<redacted>"
        )
        return (
            f"SmartBackendAuth(client_id={self.client_id!r}, {source}, kid={self.kid!r}, "
            f"algorithm={self.algorithm!r}, scope={self.scope!r}, token_url={self.token_url!r})"
        )

    __str__ = __repr__

    def load_key(self) -> SigningKey:
        """Read and parse the private key; errors name the source, never its content."""
        if self.key_file is not None:
            where = f"key file {self.key_file}"
            try:
                text = Path(self.key_file).read_text(encoding="utf-8")
            except OSError as exc:
                raise AuthError(f"cannot read {where}: {exc.strerror}") from None
        elif self.key_env is not None:
            where = f"environment variable {self.key_env}"
            text = os.environ.get(self.key_env, "")
            if not text.strip():
                raise AuthError(f"{where} is not set or empty")
        else:
            where, text = "key_data", self.key_data or ""
        try:
            return parse_private_key(text, kid=self.kid, algorithm=self.algorithm)
        except AuthError as exc:
            raise AuthError(f"{where}: {exc}") from None


def parse_private_key(text: str, kid: str | None = None, algorithm: str | None = None) -> SigningKey:
    """A private key from JWK, JWKS (the single private key matching ``kid``/``algorithm``) or PEM text."""
    stripped = text.strip()
    jwk_kid: str | None = None
    jwk_alg: str | None = None
    if stripped.startswith("{"):
        try:
            data = orjson.loads(stripped)
        except orjson.JSONDecodeError:
            raise AuthError("key is neither a PEM nor valid JWK JSON") from None
        candidates = data.get("keys") if isinstance(data.get("keys"), list) else [data]
        candidates = [k for k in candidates if isinstance(k, dict) and "d" in k]
        if kid is not None:
            candidates = [k for k in candidates if k.get("kid") in (kid, None)]
        if algorithm is not None:
            candidates = [k for k in candidates if k.get("alg") in (algorithm, None)]
        if len(candidates) != 1:
            raise AuthError(
                f"expected exactly one private JWK matching kid={kid} alg={algorithm}, found {len(candidates)}"
            )
        jwk_data = candidates[0]
        jwk_kid, jwk_alg = jwk_data.get("kid"), jwk_data.get("alg")
        try:
            private_key = jwt.PyJWK(jwk_data).key
        except (jwt.exceptions.PyJWKError, jwt.exceptions.InvalidKeyError, ValueError, TypeError):
            raise AuthError("the JWK is not a usable RSA or EC private key") from None
    elif "PRIVATE KEY" in stripped:
        try:
            private_key = serialization.load_pem_private_key(stripped.encode(), password=None)
        except (ValueError, TypeError):
            raise AuthError("the PEM is not an unencrypted RSA or EC private key") from None
    else:
        raise AuthError("key is neither a PEM private key nor a JWK")

    inferred = _algorithm_for(private_key)
    chosen = algorithm or jwk_alg or inferred
    if chosen not in ALGORITHMS or chosen != inferred:
        raise AuthError(f"key type needs {inferred}, configured/declared algorithm is {chosen}")
    final_kid = kid or jwk_kid
    if not final_kid:
        raise AuthError("no kid: set SmartBackendAuth.kid to the kid registered in your JWKS")
    return SigningKey(private_key, chosen, final_kid)


def _algorithm_for(private_key: Any) -> str:
    if isinstance(private_key, rsa.RSAPrivateKey):
        if private_key.key_size < 2048:
            raise AuthError("RSA keys must be at least 2048 bits")
        return "RS384"
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        if not isinstance(private_key.curve, ec.SECP384R1):
            raise AuthError(f"ES384 needs a P-384 key, this one is {private_key.curve.name}")
        return "ES384"
    raise AuthError("only RSA (RS384) and EC P-384 (ES384) keys are supported")


def generate_private_jwk(algorithm: str = "ES384", kid: str | None = None) -> dict[str, Any]:
    """A new private JWK for ``algorithm`` (for tests and for setting up a development client)."""
    if algorithm == "RS384":
        key: PrivateKey = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk_data = jwt.algorithms.RSAAlgorithm.to_jwk(key, as_dict=True)
    elif algorithm == "ES384":
        key = ec.generate_private_key(ec.SECP384R1())
        jwk_data = jwt.algorithms.ECAlgorithm.to_jwk(key, as_dict=True)
    else:
        raise ValueError(f"algorithm must be one of {ALGORITHMS}")
    jwk_data.update({"alg": algorithm, "kid": kid or uuid.uuid4().hex[:16], "use": "sig"})
    return jwk_data


def public_jwk(private_key: PrivateKey, kid: str, algorithm: str) -> dict[str, Any]:
    """The public half as a JWK, ready for the client's registered JWKS."""
    if isinstance(private_key, rsa.RSAPrivateKey):
        data = jwt.algorithms.RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    else:
        data = jwt.algorithms.ECAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    data.update({"alg": algorithm, "kid": kid, "use": "sig", "key_ops": ["verify"]})
    return data


def public_jwks(*private_jwks: dict[str, Any]) -> dict[str, Any]:
    """A JWKS of the public halves of private JWKs."""
    keys = []
    for jwk_data in private_jwks:
        loaded = parse_private_key(orjson.dumps(jwk_data).decode())
        keys.append(loaded.public_jwk())
    return {"keys": keys}


def build_client_assertion(
    key: SigningKey,
    client_id: str,
    token_url: str,
    *,
    now: float | None = None,
    lifetime: int = 240,
    jti: str | None = None,
) -> str:
    """The signed JWT of the client-credentials request (``iss``=``sub``=client, ``aud``=token URL)."""
    issued = int(now if now is not None else time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": token_url,
        "exp": issued + lifetime,
        "iat": issued,
        "jti": jti or uuid.uuid4().hex,
    }
    return jwt.encode(claims, key.private_key, algorithm=key.algorithm, headers={"kid": key.kid, "typ": "JWT"})


class TokenProvider:
    """Gets, caches and refreshes the bearer token for one FHIR server (thread-safe).

    The token is reused until ``refresh_margin`` before it expires, and dropped when the server answers 401
    (the caller then retries once with a fresh one).
    """

    def __init__(
        self,
        config: SmartBackendAuth,
        fhir_base_url: str,
        http: Transport,
        *,
        emit: Callable[..., None] | None = None,
        wall_clock: Callable[[], float] = time.time,
    ):
        self.config = config
        self.base_url = fhir_base_url.rstrip("/")
        self._http = http
        self._emit = emit or (lambda kind, /, **data: None)
        self._now = wall_clock
        self._key = config.load_key()
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0
        self._token_url: str | None = None

    def __repr__(self) -> str:
        return f"TokenProvider(client_id={self.config.client_id!r}, base_url={self.base_url!r})"

    def token_url(self) -> str:
        """Discovered from ``.well-known/smart-configuration``; the configured URL is the fallback."""
        if self._token_url is None:
            discovered = self._discover()
            chosen = discovered or self.config.token_url
            if not chosen:
                raise AuthError(
                    f"no token endpoint: {self.base_url}/.well-known/smart-configuration has none "
                    "and SmartBackendAuth.token_url is not set"
                )
            self._token_url = check_secure_url(chosen, "token endpoint")
        return self._token_url

    def _discover(self) -> str | None:
        url = f"{self.base_url}/.well-known/smart-configuration"
        try:
            response = self._http.request(
                "GET", url, what="SMART discovery", use_token=False, headers={"Accept": "application/json"}
            )
        except ServerError as exc:
            self._emit("warning", message=f"SMART discovery unreachable ({exc}); using the configured token_url")
            return None
        if response.status_code != 200:
            self._emit(
                "warning",
                message=f"SMART discovery answered HTTP {response.status_code}; using the configured token_url",
            )
            return None
        try:
            config = response.json()
        except ValueError:
            return None
        endpoint = config.get("token_endpoint") if isinstance(config, dict) else None
        if not isinstance(endpoint, str):
            return None
        algs = config.get("token_endpoint_auth_signing_alg_values_supported")
        if isinstance(algs, list) and self._key.algorithm not in algs:
            self._emit(
                "warning", message=f"server does not list {self._key.algorithm} among its signing algorithms {algs}"
            )
        if self.config.token_url and self.config.token_url != endpoint:
            self._emit(
                "warning",
                message="discovered token endpoint differs from the configured token_url; using the discovered one",
            )
        return endpoint

    def token(self) -> str:
        with self._lock:
            if self._token is None or self._now() >= self._expires_at:
                self._token, self._expires_at = self._fetch()
            return self._token

    def invalidate(self, token: str | None) -> None:
        """Forget ``token`` (if it is still the cached one) so the next ``token()`` fetches a new one."""
        with self._lock:
            if token is not None and token == self._token:
                self._token, self._expires_at = None, 0.0

    def _fetch(self) -> tuple[str, float]:
        url = self.token_url()

        def form() -> dict[str, str]:  # a new assertion (new jti) for every attempt: a retry is not a replay
            return {
                "grant_type": "client_credentials",
                "scope": self.config.scope,
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": build_client_assertion(
                    self._key, self.config.client_id, url, now=self._now(), lifetime=self.config.assertion_lifetime
                ),
            }

        response = self._http.request(
            "POST",
            url,
            what="token request",
            use_token=False,
            headers={"Accept": "application/json"},
            data_factory=form,
        )
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200:
            error = body.get("error", "") if isinstance(body, dict) else ""
            description = body.get("error_description", "") if isinstance(body, dict) else ""
            raise AuthError(
                f"token endpoint {url} refused the client {self.config.client_id!r}: "
                f"HTTP {response.status_code} {error} {description}".rstrip()
            )
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise AuthError(f"token endpoint {url} returned no access_token")
        if str(body.get("token_type", "bearer")).lower() != "bearer":
            raise AuthError(f"token endpoint {url} returned token_type {body.get('token_type')!r}, not bearer")
        try:
            lifetime = float(body.get("expires_in", 300))
        except (TypeError, ValueError):
            lifetime = 300.0
        margin = min(self.config.refresh_margin, lifetime / 2)
        self._emit("token", expires_in=lifetime, scope=body.get("scope", self.config.scope))
        return token, self._now() + lifetime - margin
