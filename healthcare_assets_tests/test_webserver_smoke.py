"""The Dagster webserver starts on 127.0.0.1 with our code location and serves the assets over GraphQL."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from healthcare_assets.config import Paths

pytestmark = pytest.mark.slow

QUERY = """
{ assetNodes { assetKey { path } groupName description
    assetChecksOrError { ... on AssetChecks { checks { name blocking } } } } }
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_webserver_lists_assets_over_graphql(data_home: Paths, tmp_path: Path) -> None:
    port = _free_port()
    exe = shutil.which("dagster-webserver", path=str(Path(sys.executable).parent)) or "dagster-webserver"
    log = open(tmp_path / "webserver.log", "w")
    proc = subprocess.Popen(
        [exe, "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=Path(__file__).resolve().parents[1],
        env=dict(os.environ),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, (tmp_path / "webserver.log").read_text()[-3000:]
            try:
                if requests.get(f"{base}/server_info", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, "webserver did not come up in 180 s"
            time.sleep(0.5)
        nodes = []
        for _ in range(120):  # the code location loads in the background after the server answers
            reply = requests.post(f"{base}/graphql", json={"query": QUERY}, timeout=30).json()
            nodes = (reply.get("data") or {}).get("assetNodes") or []
            if nodes:
                break
            time.sleep(0.5)
        by_key = {"/".join(n["assetKey"]["path"]): n for n in nodes}
        assert {"raw_fhir_ndjson", "fhir_profile"} <= set(by_key), reply
        assert by_key["raw_fhir_ndjson"]["groupName"] == "extraction"
        checks = by_key["fhir_profile"]["assetChecksOrError"]["checks"]
        assert {"name": "structural_integrity", "blocking": True} in checks
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
