"""Incremental exports: the manifest's transactionTime, passed back as _since, returns only what changed."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from healthcare_assets.fhir.bulk import BulkExportRequest
from healthcare_assets.fhir.bulk.devserver_store import ResourceStore
from healthcare_assets_tests.fhir.bulk.helpers import read_lines

pytestmark = pytest.mark.timeout(60)


def test_since_returns_changes_and_deletions(serve, tiny_dir, make_client, tmp_path: Path):
    store = ResourceStore.load(tiny_dir)
    server = serve(store)
    client = make_client()
    types = ("Patient", "Encounter")

    full = client.run(BulkExportRequest(server.base_url, types=types), tmp_path / "1", tmp_path / "1.json")
    assert full.lines_by_type() == {"Patient": 5, "Encounter": 20}

    changed = store.get("Patient", "p1")
    changed["gender"] = "other"
    store.upsert(changed)
    store.delete("Patient", "p2")

    delta = client.run(
        BulkExportRequest(server.base_url, types=types, since=full.transaction_time),
        tmp_path / "2",
        tmp_path / "2.json",
    )
    assert delta.lines_by_type() == {"Patient": 1}
    (patient,) = [orjson.loads(line) for line in read_lines([f.path for f in delta.files])]
    assert patient["id"] == "p1" and patient["gender"] == "other"
    (bundle,) = [orjson.loads(line) for line in read_lines([f.path for f in delta.deleted_files])]
    assert bundle["type"] == "transaction"
    assert bundle["entry"] == [{"request": {"method": "DELETE", "url": "Patient/p2"}}]
    assert delta.deleted_files[0].path.parent.name == "deleted"
    assert f"_since={full.transaction_time.replace(':', '%3A')}" in delta.request_url
    assert delta.transaction_time > full.transaction_time

    nothing = client.run(
        BulkExportRequest(server.base_url, types=types, since=delta.transaction_time),
        tmp_path / "3",
        tmp_path / "3.json",
    )
    assert nothing.files == () and nothing.deleted_files == ()

    # Resources without meta.lastUpdated count as updated at load time: a _since before it returns them all.
    everything = client.run(
        BulkExportRequest(server.base_url, types=types, since="2000-01-01T00:00:00Z"),
        tmp_path / "4",
        tmp_path / "4.json",
    )
    assert everything.lines_by_type() == {"Patient": 4, "Encounter": 20}
