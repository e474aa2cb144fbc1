"""Interrupted exports resume from the state file: no second kick-off, completed files are not fetched again."""

from __future__ import annotations

from pathlib import Path

import pytest

from healthcare_assets.fhir.bulk import BulkExportError, BulkExportRequest, ServerError, StateMismatchError
from healthcare_assets.fhir.bulk.devserver import Faults
from healthcare_assets.fhir.bulk.state import ExportState

pytestmark = pytest.mark.timeout(60)

TYPES = ("Patient", "Encounter", "Observation", "Condition", "Procedure")


class Crash(Exception):
    """Stands in for the process dying (not a deliberate cancel, so nothing is DELETEd)."""


def crash_on(kind: str, after: int = 1):
    seen = []

    def callback(event):
        if event.kind == kind:
            seen.append(event)
            if len(seen) == after:
                raise Crash(kind)

    return callback


def digests(result) -> dict[str, str]:
    return {f.path.name: f.sha256 for f in result.files}


def test_interrupted_download_resumes_and_skips_completed_files(
    serve, synthea_store, make_client, events, tmp_path: Path
):
    server = serve(synthea_store, faults=Faults(max_lines_per_file=2000))
    request = BulkExportRequest(server.base_url, types=TYPES)
    out, state_path = tmp_path / "out", tmp_path / "state.json"

    with pytest.raises(Crash):
        make_client(parallel_downloads=2).run(request, out, state_path, on_progress=crash_on("file_complete", 3))
    state = ExportState.load(state_path)
    assert state is not None and state.status == "downloading" and state.manifest is not None
    completed = len(state.files)
    total = sum(len(state.manifest[k]) for k in ("output", "error", "deleted"))
    assert 3 <= completed < total
    on_disk = sorted(p.name for p in out.iterdir())
    assert on_disk == sorted(Path(f["path"]).name for f in state.files.values())  # no partial files left
    fetched_before = len(server.requests("file"))

    resumed = make_client().run(request, out, state_path, on_progress=events)
    assert resumed.resumed and events.kinds()[0] == "resume"
    assert len(server.requests("kickoff")) == 1  # the saved status URL was used
    assert len(events.of("file_skipped")) == completed
    assert len(server.requests("file")) - fetched_before == total - completed

    reference = make_client().run(request, tmp_path / "ref", tmp_path / "ref.json")
    assert digests(resumed) == digests(reference)
    assert (
        resumed.lines_by_type()
        == reference.lines_by_type()
        == {"Patient": 100, "Encounter": 3697, "Observation": 16315, "Condition": 639, "Procedure": 2351}
    )


def test_crash_while_polling_resumes_from_the_status_url(serve, tiny_dir, make_client, tmp_path: Path):
    server = serve(tiny_dir, faults=Faults(pending_polls=3))
    request = BulkExportRequest(server.base_url)
    with pytest.raises(Crash):
        make_client().run(request, tmp_path / "out", tmp_path / "s.json", on_progress=crash_on("poll", 2))
    assert ExportState.load(tmp_path / "s.json").status == "kicked_off"
    result = make_client().run(request, tmp_path / "out", tmp_path / "s.json")
    assert result.resumed and result.lines_by_type()["Patient"] == 5
    assert len(server.requests("kickoff")) == 1
    assert len(server.requests("status", "DELETE")) == 1  # only the release after the download, no cancel


def test_finished_export_is_not_fetched_again_and_damage_is_repaired(serve, tiny_dir, make_client, tmp_path):
    server = serve(tiny_dir)
    request = BulkExportRequest(server.base_url)
    first = make_client().run(request, tmp_path / "out", tmp_path / "s.json")
    requests_so_far = len(server.requests())

    again = make_client().run(request, tmp_path / "out", tmp_path / "s.json")
    assert again.resumed and digests(again) == digests(first)
    assert len(server.requests()) == requests_so_far  # nothing asked of the server

    damaged = first.files[0].path
    damaged.write_bytes(damaged.read_bytes()[:-10])
    repaired = make_client().run(request, tmp_path / "out", tmp_path / "s.json")
    # The job was released after the first run, so its files are gone: the client starts a new export.
    assert repaired.restarts == 1 and digests(repaired) == digests(first)


def test_state_guards(serve, tiny_dir, make_client, tmp_path: Path):
    server = serve(tiny_dir)
    client = make_client()
    client.run(BulkExportRequest(server.base_url, types=("Patient",)), tmp_path / "out", tmp_path / "s.json")
    with pytest.raises(StateMismatchError, match="different export request"):
        client.run(BulkExportRequest(server.base_url, types=("Encounter",)), tmp_path / "out", tmp_path / "s.json")
    with pytest.raises(BulkExportError, match="already holds 1 NDJSON files"):
        client.run(BulkExportRequest(server.base_url), tmp_path / "out", tmp_path / "other-state.json")


def test_cancelled_state_starts_a_fresh_export(serve, tiny_dir, make_client, tmp_path: Path):
    server = serve(tiny_dir, faults=Faults(pending_polls=2))
    request = BulkExportRequest(server.base_url)

    def interrupt(event):
        if event.kind == "poll":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        make_client().run(request, tmp_path / "out", tmp_path / "s.json", on_progress=interrupt)
    assert ExportState.load(tmp_path / "s.json").status == "cancelled"
    result = make_client().run(request, tmp_path / "out", tmp_path / "s.json")
    assert not result.resumed and len(server.requests("kickoff")) == 2
    assert result.lines_by_type()["Patient"] == 5


def test_unreachable_status_keeps_the_export_resumable(serve, tiny_dir, make_client, tmp_path: Path):
    server = serve(tiny_dir, faults=Faults(drop_connections=100))
    request = BulkExportRequest(server.base_url)
    with pytest.raises(ServerError, match="3 connection errors in a row"):
        make_client(max_poll_errors=2).run(request, tmp_path / "out", tmp_path / "s.json")
    assert ExportState.load(tmp_path / "s.json").status == "kicked_off"  # not failed, not cancelled
    assert not server.requests("status", "DELETE")
    server.set_faults(Faults())
    result = make_client().run(request, tmp_path / "out", tmp_path / "s.json")
    assert result.resumed and len(server.requests("kickoff")) == 1
