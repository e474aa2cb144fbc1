"""The development server itself: loopback only, discovery documents, protocol checks, gzip, CLI."""

from __future__ import annotations

import gzip
import signal
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
import requests

from healthcare_assets.fhir.bulk import generate_private_jwk, public_jwks
from healthcare_assets.fhir.bulk.devserver import DevFhirServer, main, server_from_args
from healthcare_assets.fhir.bulk.devserver_auth import DevAuthConfig

pytestmark = pytest.mark.timeout(60)

ASYNC = {"Accept": "application/fhir+json", "Prefer": "respond-async"}


def test_binds_loopback_only(tiny_dir: Path, capsys):
    for host in ("0.0.0.0", "192.168.1.10", "example.org", "::"):
        with pytest.raises(ValueError, match="127.0.0.1 only"):
            DevFhirServer(tiny_dir, host=host)
    assert main(["--data", str(tiny_dir), "--host", "0.0.0.0"]) == 2
    assert "binds 127.0.0.1 only" in capsys.readouterr().err
    with DevFhirServer(tiny_dir) as server:
        assert server.base_url.startswith("http://127.0.0.1:")


def test_capability_statement_and_smart_configuration(serve, tiny_dir):
    open_server = serve(tiny_dir)
    statement = requests.get(f"{open_server.base_url}/metadata", timeout=10).json()
    rest = statement["rest"][0]
    assert {r["type"] for r in rest["resource"]} == {"Encounter", "Group", "Observation", "Organization", "Patient"}
    assert rest["operation"][0]["definition"].endswith("OperationDefinition/export")
    patient = next(r for r in rest["resource"] if r["type"] == "Patient")
    assert patient["operation"][0]["definition"].endswith("patient-export")
    assert "security" not in rest
    assert requests.get(f"{open_server.base_url}/.well-known/smart-configuration", timeout=10).status_code == 404

    secured = serve(tiny_dir, auth=server_auth())
    config = requests.get(f"{secured.base_url}/.well-known/smart-configuration", timeout=10).json()
    assert config["token_endpoint"] == secured.token_url
    assert config["token_endpoint_auth_signing_alg_values_supported"] == ["RS384", "ES384"]
    assert "client-confidential-asymmetric" in config["capabilities"]
    assert requests.get(f"{secured.base_url}/metadata", timeout=10).json()["rest"][0]["security"]


def server_auth() -> DevAuthConfig:
    return DevAuthConfig(clients={"c": public_jwks(generate_private_jwk("ES384", kid="k"))})


def test_kickoff_validation(serve, tiny_dir):
    server = serve(tiny_dir)
    url = f"{server.base_url}/$export"

    def issue(response):
        return response.json()["issue"][0]

    assert (
        "respond-async"
        in issue(requests.get(url, headers={"Accept": "application/fhir+json"}, timeout=10))["diagnostics"]
    )
    for params, text in [
        ({"_outputFormat": "text/csv"}, "_outputFormat"),
        ({"_since": "2020-01-01"}, "time zone"),
        ({"_type": "Specimen"}, "Specimen is not supported"),
        ({"patient": "Patient/p1"}, "only accepted in a POST"),
    ]:
        response = requests.get(url, params=params, headers=ASYNC, timeout=10)
        assert response.status_code == 400 and text in issue(response)["diagnostics"]
    body = {
        "resourceType": "Parameters",
        "parameter": [{"name": "patient", "valueReference": {"reference": "Patient/p1"}}],
    }
    posted = requests.post(url, headers=ASYNC, timeout=10, data=orjson.dumps(body))
    assert posted.status_code == 400 and "Patient or Group" in issue(posted)["diagnostics"]

    lenient = requests.get(
        url,
        params={"_type": "Patient,Specimen"},
        timeout=10,
        headers={**ASYNC, "Prefer": "respond-async, handling=lenient"},
    )
    assert lenient.status_code == 202
    status_url = lenient.headers["Content-Location"]
    assert requests.get(status_url, timeout=10).status_code == 202
    manifest = requests.get(status_url, timeout=10).json()
    assert [o["type"] for o in manifest["output"]] == ["Patient"] and len(manifest["error"]) == 1
    assert manifest["request"] == lenient.request.url and manifest["requiresAccessToken"] is False

    error_file = requests.get(manifest["error"][0]["url"], timeout=10)
    assert b"Specimen is not supported" in error_file.content
    assert requests.delete(status_url, timeout=10).status_code == 202
    assert requests.get(status_url, timeout=10).status_code == 404
    assert requests.get(manifest["output"][0]["url"], timeout=10).status_code == 404


def test_files_are_gzipped_only_when_asked(serve, tiny_dir):
    server = serve(tiny_dir)
    status_url = requests.get(
        f"{server.base_url}/$export", params={"_type": "Patient"}, headers=ASYNC, timeout=10
    ).headers["Content-Location"]
    requests.get(status_url, timeout=10)
    file_url = requests.get(status_url, timeout=10).json()["output"][0]["url"]
    plain = requests.get(file_url, headers={"Accept-Encoding": "identity"}, timeout=10, stream=True)
    assert "Content-Encoding" not in plain.headers
    assert plain.raw.read().count(b"\n") == 5
    packed = requests.get(file_url, headers={"Accept-Encoding": "gzip"}, timeout=10, stream=True)
    assert packed.headers["Content-Encoding"] == "gzip" and packed.headers["Content-Type"] == "application/fhir+ndjson"
    assert gzip.decompress(packed.raw.read()).count(b"\n") == 5


def test_command_line_options(tiny_dir: Path, tmp_path: Path):
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_bytes(orjson.dumps(public_jwks(generate_private_jwk("RS384", kid="k1"))))
    server = server_from_args(
        [
            "--data",
            str(tiny_dir),
            "--port",
            "0",
            "--auth-jwks",
            str(jwks_file),
            "--client-id",
            "etl",
            "--group",
            "pilot=p1,Patient/p2",
            "--pending-polls",
            "3",
            "--max-lines-per-file",
            "2",
        ]
    )
    assert server.app.groups == {"pilot": ["p1", "p2"]}
    assert list(server.app.auth.clients) == ["etl"]
    assert server.faults.pending_polls == 3 and server.faults.max_lines_per_file == 2


def test_main_serves_until_interrupted(tiny_dir: Path):
    # Ctrl-C as a terminal sends it. A suite started as a background job (`.ci/run &` from a script) passes SIGINT
    # down ignored, and Python then keeps ignoring it: the child restores the handler a terminal would give it.
    code = (
        "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
        "from healthcare_assets.fhir.bulk.devserver import main; "
        "sys.exit(main(['--data', sys.argv[1], '--port', '0']))"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code, str(tiny_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[3],
    )
    try:
        banner = process.stdout.readline()
        assert banner.startswith("FHIR Bulk Data dev server: http://127.0.0.1:"), banner + process.stderr.read()
        base_url = banner.split()[5]
        assert requests.get(f"{base_url}/metadata", timeout=10).json()["resourceType"] == "CapabilityStatement"
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=5)
        process.stdout.close()
        process.stderr.close()
