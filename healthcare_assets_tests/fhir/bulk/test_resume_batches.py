"""Automatic resume across batches: an interrupted export is found, resumed or adopted, or abandoned with fresh."""

from __future__ import annotations

from pathlib import Path

import pytest

from healthcare_assets.fhir.bulk import BulkExportRequest, DownloadError, ExportFailedError, RetryPolicy
from healthcare_assets.fhir.bulk.devserver import Faults
from healthcare_assets.fhir.export_resume import ExportInProgressError, find_unfinished, lock_export
from healthcare_assets.fhir.landing import land_batch
from healthcare_assets.fhir.sources import BulkExportSource
from healthcare_assets_tests.fhir.bulk.helpers import Events, fast_settings

pytestmark = pytest.mark.timeout(60)
TYPES = ("Patient", "Encounter", "Observation")
NO_WAIT = Faults(pending_polls=0)


def _source(server, events: Events, types=TYPES, **options) -> BulkExportSource:
    settings = fast_settings(retry=RetryPolicy(max_attempts=1, min_delay=0.01, max_delay=0.01))
    return BulkExportSource(BulkExportRequest(server.base_url, types=types), None, settings, events, **options)


def _interrupt(server, batches: Path, batch: str, events: Events) -> None:
    """A file download fails past the retry budget: the export stays kicked off and resumable."""
    server.set_faults(Faults(file_failures=1, pending_polls=0))
    with pytest.raises(DownloadError):
        land_batch(batches, batch, _source(server, events))
    server.set_faults(NO_WAIT)
    assert (batches / f".staging-{batch}" / "side" / "bulk_state.json").exists()


def test_a_new_batch_adopts_the_interrupted_export(serve, tiny_dir, tmp_path: Path):
    server, batches, events = serve(tiny_dir, faults=NO_WAIT), tmp_path / "batches", Events()
    _interrupt(server, batches, "b1", events)
    (unfinished,) = find_unfinished(batches, BulkExportRequest(server.base_url, types=TYPES))
    assert unfinished.batch_id == "b1"
    source = _source(server, events)
    landed = land_batch(batches, "b2", source)
    assert len(server.requests("kickoff")) == 1  # resumed from the saved status URL
    assert source.adopted_from == "b1" and events.of("adopt")[0]["from_batch"] == "b1"
    assert not (batches / ".staging-b1").exists() and not (batches / ".staging-b2").exists()
    assert {f["type"]: f["lines"] for f in landed.manifest["files"]} == {
        "Patient": 5,
        "Encounter": 20,
        "Observation": 10,
    }
    assert landed.manifest["details"]["adopted_from"] == "b1" and landed.manifest["details"]["resumed"]
    assert not (landed.batch_dir / "side" / ".bulk.lock").exists()


def test_the_same_batch_resumes_in_place_and_other_requests_are_left_alone(serve, tiny_dir, tmp_path: Path):
    server, batches, events = serve(tiny_dir, faults=NO_WAIT), tmp_path / "batches", Events()
    _interrupt(server, batches, "b1", events)
    other = _source(server, events, types=("Patient",))
    assert find_unfinished(batches, other.request) == []  # a different export is never adopted
    with pytest.raises(ValueError, match="holds an unfinished export of a different request"):
        land_batch(batches, "b1", _source(server, events, types=("Patient",)))
    assert (batches / ".staging-b1").exists()  # still resumable by the right request
    landed = land_batch(batches, "b1", _source(server, events))
    assert landed.manifest["details"]["resumed"] and len(server.requests("kickoff")) == 1


def test_fresh_abandons_the_interrupted_export(serve, tiny_dir, tmp_path: Path):
    server, batches, events = serve(tiny_dir, faults=NO_WAIT), tmp_path / "batches", Events()
    _interrupt(server, batches, "b1", events)
    source = _source(server, events, fresh=True)
    landed = land_batch(batches, "b2", source)
    assert len(server.requests("kickoff")) == 2  # a new export
    assert [r.status for r in server.requests("status", "DELETE")][0] == 202  # the old job, then the finished one
    assert events.of("cancel")[0]["reason"] == "fresh export requested"
    assert events.of("abandon") == [{"batch": "b1", "status_url": events.of("cancel")[0]["status_url"]}]
    assert not (batches / ".staging-b1").exists() and landed.manifest["details"]["abandoned"] == ["b1"]


def test_a_live_export_is_neither_resumed_adopted_nor_abandoned(serve, tiny_dir, tmp_path: Path):
    server, batches, events = serve(tiny_dir, faults=NO_WAIT), tmp_path / "batches", Events()
    _interrupt(server, batches, "b1", events)
    handle = lock_export(batches / ".staging-b1")  # another process is working on it
    try:
        assert find_unfinished(batches, _source(server, events).request) == []
        with pytest.raises(ExportInProgressError, match="being worked on by another process"):
            land_batch(batches, "b1", _source(server, events))
        land_batch(batches, "b2", _source(server, events, fresh=True))  # a new export; the live one untouched
    finally:
        handle.close()
    assert (batches / ".staging-b1" / "side" / "bulk_state.json").exists()
    assert events.of("abandon") == [] and len(server.requests("kickoff")) == 2


def test_a_failed_export_leaves_no_staging(serve, tiny_dir, tmp_path: Path):
    server, batches, events = serve(tiny_dir, faults=Faults(fail_export=True)), tmp_path / "batches", Events()
    with pytest.raises(ExportFailedError):
        land_batch(batches, "b1", _source(server, events))
    assert not (batches / ".staging-b1").exists()
    server.set_faults(NO_WAIT)
    request = BulkExportRequest(server.base_url, level="group", group_id="nope", types=("Patient",))
    with pytest.raises(Exception, match="Group/nope is not known"):
        land_batch(batches, "b2", BulkExportSource(request, None, fast_settings()))
    assert list(batches.iterdir()) == []  # a refused kick-off leaves nothing either


def test_stagings_nobody_can_resume_are_removed(serve, tiny_dir, tmp_path: Path):
    server, batches, events = serve(tiny_dir, faults=NO_WAIT), tmp_path / "batches", Events()
    _interrupt(server, batches, "b1", events)
    # b0 never got kicked off (the process died during the capability check); b9 is another request, resumable.
    (batches / ".staging-b0" / "side").mkdir(parents=True)
    (batches / ".staging-b0" / "ndjson").mkdir()
    (batches / ".staging-b0" / "side" / "bulk_state.json").write_bytes(
        (batches / ".staging-b1" / "side" / "bulk_state.json").read_bytes().replace(b'"downloading"', b'"new"')
    )
    land_batch(batches, "b9", _source(server, events, types=("Patient",)))  # leaves b9 landed
    assert sorted(p.name for p in batches.iterdir()) == [".staging-b1", "b9"]  # b0 removed, b1 kept
    assert not (batches / "b9" / "side" / ".bulk.lock").exists()
