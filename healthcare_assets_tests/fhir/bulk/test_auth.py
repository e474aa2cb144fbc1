"""SMART Backend Services: keys, the signed assertion, the dev server's token endpoint, token lifecycle."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import jwt
import orjson
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from healthcare_assets.fhir.bulk import (
    AuthError,
    BulkExportRequest,
    KickoffError,
    SmartBackendAuth,
    generate_private_jwk,
    public_jwks,
    system_scope,
)
from healthcare_assets.fhir.bulk.auth import (
    ASSERTION_TYPE,
    TokenProvider,
    build_client_assertion,
    parse_private_key,
)
from healthcare_assets.fhir.bulk.devserver_auth import DevAuthConfig

pytestmark = pytest.mark.timeout(60)

CLIENT = "bulk-client"


@pytest.fixture(scope="module")
def rs_key() -> dict:
    return generate_private_jwk("RS384", kid="rs-1")


@pytest.fixture(scope="module")
def es_key() -> dict:
    return generate_private_jwk("ES384", kid="es-1")


def auth_for(jwk: dict, **kwargs) -> SmartBackendAuth:
    return SmartBackendAuth(client_id=CLIENT, key_data=orjson.dumps(jwk).decode(), **kwargs)


def auth_server(serve, data, *jwks: dict, **options):
    return serve(
        data, auth=DevAuthConfig(clients={CLIENT: public_jwks(*jwks)}, **options.pop("auth_options", {})), **options
    )


def post_token(server, assertion: str, scope: str = "system/*.read") -> requests.Response:
    return requests.post(
        server.token_url,
        data={
            "grant_type": "client_credentials",
            "scope": scope,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
        },
        timeout=10,
    )


@pytest.mark.parametrize("alg", ["RS384", "ES384"])
def test_authenticated_export(alg, rs_key, es_key, serve, tiny_dir, make_client, events, tmp_path, caplog):
    key = rs_key if alg == "RS384" else es_key
    server = auth_server(serve, tiny_dir, rs_key, es_key)
    caplog.set_level(logging.DEBUG)
    result = make_client(auth_for(key)).run(
        BulkExportRequest(server.base_url), tmp_path / "out", tmp_path / "state.json", on_progress=events
    )
    assert result.lines_by_type()["Patient"] == 5 and result.requires_access_token
    assert server.tokens_issued == 1  # cached for the whole export
    assert all(r.bearer for r in server.requests() if r.route in ("kickoff", "status", "file"))
    token_event = events.of("token")[0]
    assert token_event["expires_in"] == 300 and token_event["scope"] == "system/*.read"
    secrets_ = list(server.app.issuer._tokens) + [key["d"]]
    logged = [e.message for e in events] + [r.getMessage() for r in caplog.records]
    assert not any(s in text for s in secrets_ for text in logged), "a token or key leaked into events/logs"


def test_data_endpoints_require_a_token(rs_key, serve, tiny_dir, make_client, tmp_path):
    server = auth_server(serve, tiny_dir, rs_key)
    with pytest.raises(KickoffError, match="HTTP 401.*login: a valid bearer token is required"):
        make_client().run(BulkExportRequest(server.base_url), tmp_path / "out", tmp_path / "state.json")


def test_wrong_key_is_rejected(rs_key, serve, tiny_dir, make_client, tmp_path):
    server = auth_server(serve, tiny_dir, rs_key)
    impostor = generate_private_jwk("RS384", kid="rs-1")  # same kid, different key
    with pytest.raises(AuthError, match="invalid_client client_assertion signature does not verify"):
        make_client(auth_for(impostor)).run(BulkExportRequest(server.base_url), tmp_path / "o", tmp_path / "s")
    unregistered = generate_private_jwk("ES384", kid="es-unknown")
    with pytest.raises(AuthError, match="no registered key with kid"):
        make_client(auth_for(unregistered)).run(BulkExportRequest(server.base_url), tmp_path / "o", tmp_path / "s")


def test_assertion_header_and_claims(es_key):
    key = parse_private_key(orjson.dumps(es_key).decode())
    token_url = "https://auth.example.org/token"
    first = build_client_assertion(key, CLIENT, token_url, lifetime=240)
    second = build_client_assertion(key, CLIENT, token_url, lifetime=240)
    header = jwt.get_unverified_header(first)
    assert header == {"alg": "ES384", "kid": "es-1", "typ": "JWT"}
    public = jwt.PyJWK(key.public_jwk()).key
    claims = jwt.decode(first, public, algorithms=["ES384"], audience=token_url)
    assert claims["iss"] == claims["sub"] == CLIENT
    assert 0 < claims["exp"] - time.time() <= 300
    assert claims["jti"] != jwt.decode(second, public, algorithms=["ES384"], audience=token_url)["jti"]


def test_token_endpoint_checks_claims(es_key, serve, tiny_dir):
    server = auth_server(serve, tiny_dir, es_key)
    key = parse_private_key(orjson.dumps(es_key).decode())

    expired = build_client_assertion(key, CLIENT, server.token_url, now=time.time() - 600, lifetime=60)
    assert post_token(server, expired).json()["error_description"] == "client_assertion has expired (exp in the past)"

    too_long = build_client_assertion(key, CLIENT, server.token_url, lifetime=3600)
    response = post_token(server, too_long)
    assert response.status_code == 401 and "more than 5 minutes" in response.json()["error_description"]

    wrong_aud = build_client_assertion(key, CLIENT, server.base_url, lifetime=60)
    assert "aud must be the token endpoint" in post_token(server, wrong_aud).json()["error_description"]

    good = build_client_assertion(key, CLIENT, server.token_url, lifetime=60)
    first = post_token(server, good)
    assert first.status_code == 200 and first.json()["token_type"] == "bearer"
    assert first.json()["expires_in"] == 300 and first.headers["Cache-Control"] == "no-store"
    replay = post_token(server, good)
    assert replay.status_code == 401 and "replayed" in replay.json()["error_description"]

    fresh = build_client_assertion(key, CLIENT, server.token_url, lifetime=60)
    assert post_token(server, fresh, scope="patient/*.read").json()["error"] == "invalid_scope"

    other = build_client_assertion(key, "someone-else", server.token_url, lifetime=60)
    assert post_token(server, other).json()["error_description"] == "unknown client (iss)"


def test_token_refresh_on_401(rs_key, serve, tiny_dir, make_client, tmp_path):
    server = auth_server(serve, tiny_dir, rs_key)

    def revoke_when_manifest_arrives(event):
        if event.kind == "manifest":
            server.revoke_tokens()

    result = make_client(auth_for(rs_key), parallel_downloads=1).run(
        BulkExportRequest(server.base_url),
        tmp_path / "out",
        tmp_path / "state.json",
        on_progress=revoke_when_manifest_arrives,
    )
    assert result.lines_by_type()["Patient"] == 5
    assert server.tokens_issued == 2
    assert [r.status for r in server.requests("file")][:2] == [401, 200]  # one 401, one refresh, one retry


def test_token_is_cached_until_shortly_before_expiry(es_key, serve, tiny_dir, make_client):
    server = auth_server(serve, tiny_dir, es_key, auth_options={"token_lifetime": 10})
    client = make_client()
    wall = [time.time()]
    provider = TokenProvider(auth_for(es_key), server.base_url, client.transport, wall_clock=lambda: wall[0])
    first = provider.token()
    wall[0] += 4
    assert provider.token() == first and server.tokens_issued == 1
    wall[0] += 2  # inside the refresh margin (half of a 10 s token)
    assert provider.token() != first and server.tokens_issued == 2


def test_discovery_falls_back_to_configured_token_url(es_key, serve, tiny_dir, make_client, events, tmp_path):
    server = auth_server(serve, tiny_dir, es_key, smart_configuration=False)
    result = make_client(auth_for(es_key, token_url=server.token_url)).run(
        BulkExportRequest(server.base_url, types=("Patient",)),
        tmp_path / "out",
        tmp_path / "s.json",
        on_progress=events,
    )
    assert result.lines_by_type() == {"Patient": 5}
    assert any("SMART discovery answered HTTP 404" in e["message"] for e in events.of("warning"))
    with pytest.raises(AuthError, match="no token endpoint"):
        make_client(auth_for(es_key)).run(BulkExportRequest(server.base_url), tmp_path / "o2", tmp_path / "s2")


def test_scopes_v2_and_limits(es_key, serve, tiny_dir, make_client, tmp_path):
    server = auth_server(serve, tiny_dir, es_key)
    v2 = make_client(auth_for(es_key, scope=system_scope(version="v2")))
    assert v2.run(BulkExportRequest(server.base_url, types=("Patient",)), tmp_path / "a", tmp_path / "a.json")
    narrow = make_client(auth_for(es_key, scope=system_scope(["Patient"])))
    with pytest.raises(KickoffError, match="403.*forbidden: the token's scopes do not allow Encounter"):
        narrow.run(BulkExportRequest(server.base_url, types=("Patient", "Encounter")), tmp_path / "b", tmp_path / "b.j")
    assert system_scope(["Patient", "Encounter"], "v2") == "system/Patient.rs system/Encounter.rs"
    with pytest.raises(ValueError, match="not a SMART system scope"):
        auth_for(es_key, scope="user/*.read")


def test_token_is_not_sent_when_files_do_not_require_it(es_key, serve, tiny_dir, make_client, tmp_path):
    server = auth_server(serve, tiny_dir, es_key, files_require_token=False)
    result = make_client(auth_for(es_key)).run(BulkExportRequest(server.base_url), tmp_path / "o", tmp_path / "s")
    assert not result.requires_access_token
    files = server.requests("file")
    assert files and not any(r.bearer for r in files)
    assert all(r.bearer for r in server.requests("kickoff") + server.requests("status"))


def test_key_sources_and_redaction(rs_key, es_key, tmp_path: Path, monkeypatch):
    ec_private = ec.generate_private_key(ec.SECP384R1())
    pem = ec_private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    pem_file = tmp_path / "client.pem"
    pem_file.write_text(pem)
    loaded = SmartBackendAuth(client_id=CLIENT, key_file=pem_file, kid="pem-1").load_key()
    assert (loaded.algorithm, loaded.kid) == ("ES384", "pem-1")
    with pytest.raises(AuthError, match="no kid"):
        SmartBackendAuth(client_id=CLIENT, key_file=pem_file).load_key()

    monkeypatch.setenv("BULK_CLIENT_KEY", orjson.dumps({"keys": [rs_key, es_key]}).decode())
    from_env = SmartBackendAuth(client_id=CLIENT, key_env="BULK_CLIENT_KEY", kid="es-1").load_key()
    assert (from_env.algorithm, from_env.kid) == ("ES384", "es-1")
    with pytest.raises(AuthError, match="exactly one private JWK matching"):
        SmartBackendAuth(client_id=CLIENT, key_env="BULK_CLIENT_KEY").load_key()
    with pytest.raises(AuthError, match="environment variable MISSING_KEY is not set"):
        SmartBackendAuth(client_id=CLIENT, key_env="MISSING_KEY").load_key()
    with pytest.raises(AuthError, match="needs ES384"):
        SmartBackendAuth(client_id=CLIENT, key_data=pem, kid="k", algorithm="RS384").load_key()
    with pytest.raises(AuthError, match="matching kid=None alg=RS384, found 0"):
        auth_for(es_key, algorithm="RS384").load_key()
    p256 = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )
    with pytest.raises(AuthError, match="P-384"):
        parse_private_key(p256, kid="x")
    with pytest.raises(ValueError, match="exactly one"):
        SmartBackendAuth(client_id=CLIENT, key_file=pem_file, key_env="X")
    with pytest.raises(ValueError, match="assertion_lifetime"):
        auth_for(es_key, assertion_lifetime=301)

    config = auth_for(rs_key)
    for text in (repr(config), str(config), repr(config.load_key()), repr(loaded)):
        assert rs_key["d"] not in text and "PRIVATE" not in text and rs_key["n"][:20] not in text
    assert "key_data=<redacted>" in repr(config)
    assert "BEGIN" not in repr(SmartBackendAuth(client_id=CLIENT, key_data=pem, kid="k"))
