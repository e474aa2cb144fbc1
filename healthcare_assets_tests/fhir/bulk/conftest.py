"""Shared fixtures: the Synthea folder, a tiny dataset, a fake clock, and dev servers that always stop."""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import orjson
import pytest

from healthcare_assets.fhir.bulk import BulkExportClient, SmartBackendAuth
from healthcare_assets.fhir.bulk.devserver import DevFhirServer
from healthcare_assets.fhir.bulk.devserver_store import ResourceStore
from healthcare_assets_tests.fhir.bulk.helpers import Events, FakeClock, fast_settings, tiny_resources


@pytest.fixture(autouse=True)
def _no_proxy_for_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests talk to 127.0.0.1 only: never route them through a proxy configured in the environment."""
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "127.0.0.1,localhost")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def events() -> Events:
    return Events()


@pytest.fixture
def make_client(clock: FakeClock) -> Iterator[Callable[..., BulkExportClient]]:
    clients: list[BulkExportClient] = []

    def make(auth: SmartBackendAuth | None = None, **settings: Any) -> BulkExportClient:
        client = BulkExportClient(auth, fast_settings(**settings), clock=clock.now, sleep=clock.sleep)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def serve() -> Iterator[Callable[..., DevFhirServer]]:
    """``serve(data_dir_or_store, **options)`` starts a dev server that is stopped after the test."""
    with ExitStack() as stack:

        def start(data: Path | ResourceStore, **options: Any) -> DevFhirServer:
            if isinstance(data, ResourceStore):
                server = DevFhirServer(store=data, **options)
            else:
                server = DevFhirServer(data, **options)
            return stack.enter_context(server)

        yield start


@pytest.fixture(scope="session")
def synthea_store(synthea_dir: Path) -> ResourceStore:  # synthea_dir: the suite-wide fixture (conftest.py)
    """Loaded once; tests must not modify it (use ``ResourceStore.load`` for a private copy)."""
    return ResourceStore.load(synthea_dir)


@pytest.fixture(scope="session")
def synthea_bytes(synthea_dir: Path) -> dict[str, bytes]:
    """The decompressed source file of every type, to compare exports with byte for byte."""
    return {p.name.split(".")[0]: gzip.decompress(p.read_bytes()) for p in sorted(synthea_dir.glob("*.ndjson.gz"))}


@pytest.fixture
def tiny_dir(tmp_path: Path) -> Path:
    """Patient and Organization plain, Encounter and Observation gzipped, one mixed-name file."""
    folder = tmp_path / "tiny-source"
    folder.mkdir()
    by_type: dict[str, list[bytes]] = {}
    for resource in tiny_resources():
        by_type.setdefault(resource["resourceType"], []).append(orjson.dumps(resource) + b"\n")
    for resource_type, lines in by_type.items():
        data = b"".join(lines)
        if resource_type in ("Encounter", "Observation"):
            (folder / f"{resource_type}.ndjson.gz").write_bytes(gzip.compress(data))
        else:
            (folder / f"{resource_type}.ndjson").write_bytes(data)
    return folder
