"""What real servers do to clients, injected by the dev server: the client must cope or fail clearly."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

import healthcare_assets.fhir.bulk.devserver_app as devserver_app
from healthcare_assets.fhir.bulk import (
    Backoff,
    BulkExportClient,
    BulkExportRequest,
    CountMismatchError,
    ExportCancelledError,
    ExportFailedError,
    ExportTimeoutError,
    FilesExpiredError,
    KickoffError,
    NoSupportedTypesError,
)
from healthcare_assets.fhir.bulk.devserver import Faults
from healthcare_assets.fhir.bulk.state import ExportState

pytestmark = pytest.mark.timeout(60)


def run(client, server, tmp_path: Path, events=None, **request):
    return client.run(
        BulkExportRequest(server.base_url, **request), tmp_path / "out", tmp_path / "state.json", on_progress=events
    )


def test_throttling_honours_retry_after_seconds(serve, tiny_dir, make_client, clock, events, tmp_path):
    server = serve(tiny_dir, faults=Faults(throttle_polls=2, throttle_retry_after="7", poll_retry_after="3"))
    result = run(make_client(), server, tmp_path, events)
    assert result.lines_by_type()["Patient"] == 5
    assert [r.status for r in server.requests("status", "GET")] == [429, 429, 202, 200]
    assert clock.sleeps[:3] == [7.0, 7.0, 3.0]  # the server's numbers, not backoff
    assert [e["status"] for e in events.of("retry")] == [429, 429]


def test_throttling_honours_retry_after_http_date(serve, tiny_dir, make_client, clock, tmp_path):
    server = serve(tiny_dir, faults=Faults(throttle_polls=1, throttle_retry_after="date:5", poll_retry_after=None))
    run(make_client(), server, tmp_path)
    assert 3.0 < clock.sleeps[0] <= 5.0  # an HTTP-date five seconds ahead (whole-second resolution)


def test_throttling_without_retry_after_backs_off_exponentially(serve, tiny_dir, make_client, clock, tmp_path):
    server = serve(tiny_dir, faults=Faults(throttle_polls=4, throttle_retry_after=None, pending_polls=0))
    run(make_client(), server, tmp_path)
    caps = [0.5, 1.0, 2.0, 4.0]  # fast_settings: initial 0.5, factor 2, maximum 4, jitter 0.5
    assert len(clock.sleeps) == 4
    assert all(cap / 2 <= slept <= cap for slept, cap in zip(clock.sleeps, caps, strict=True))


def test_absurd_retry_after_is_clamped(serve, tiny_dir, make_client, clock, tmp_path):
    server = serve(tiny_dir, faults=Faults(pending_polls=2, poll_retry_after="86400000"))
    run(make_client(max_poll_interval=45.0), server, tmp_path)
    assert clock.sleeps == [45.0, 45.0]


def test_missing_retry_after_means_capped_backoff(serve, tiny_dir, make_client, clock, tmp_path):
    server = serve(tiny_dir, faults=Faults(pending_polls=12, poll_retry_after=None))
    run(make_client(poll_backoff=Backoff(initial=1.0, factor=2.0, maximum=10.0, jitter=0.2)), server, tmp_path)
    assert len(clock.sleeps) == 12
    assert clock.sleeps[0] <= 1.0 and max(clock.sleeps) <= 10.0 and clock.sleeps[-1] >= 8.0


def test_transient_errors_everywhere_are_retried(serve, tiny_dir, make_client, events, tmp_path):
    server = serve(
        tiny_dir,
        faults=Faults(kickoff_failures=2, status_failures=2, file_failures=2, drop_connections=1, failure_status=503),
    )
    result = run(make_client(), server, tmp_path, events)
    assert result.lines_by_type() == {"Encounter": 20, "Observation": 10, "Organization": 2, "Patient": 5}
    assert [r.status for r in server.requests("kickoff")] == [503, 503, 202]
    assert [r.status for r in server.requests("status", "GET")][:3] == [0, 503, 503]  # dropped, then 503s
    assert sum(r.status == 503 for r in server.requests("file")) == 2
    retried = {e["what"] for e in events.of("retry")}
    assert {"kick-off", "status poll"} <= retried and any(w.startswith("download") for w in retried)


def test_a_500_with_transient_outcome_is_retried(serve, tiny_dir, make_client, tmp_path):
    server = serve(tiny_dir, faults=Faults(kickoff_failures=1, file_failures=1, failure_status=500))
    assert run(make_client(), server, tmp_path).lines_by_type()["Patient"] == 5


def test_export_failure_is_not_retried_and_is_explained(serve, tiny_dir, make_client, tmp_path):
    server = serve(tiny_dir, faults=Faults(fail_export=True))
    with pytest.raises(ExportFailedError, match="exception: the export failed: simulated"):
        run(make_client(), server, tmp_path)
    assert len(server.requests("status", "GET")) == 1
    assert ExportState.load(tmp_path / "state.json").status == "failed"


def test_truncated_download_is_detected_and_retried(serve, tiny_dir, make_client, events, tmp_path):
    server = serve(tiny_dir, faults=Faults(truncate_files=2))
    result = run(make_client(parallel_downloads=1), server, tmp_path, events)
    assert result.lines_by_type() == {"Encounter": 20, "Observation": 10, "Organization": 2, "Patient": 5}
    assert len(server.requests("file")) == 4 + 2
    assert {e["error"] for e in events.of("retry")} <= {"TruncatedStreamError", "count mismatch"}


def test_count_mismatch_is_a_clear_error(serve, tiny_dir, make_client, tmp_path):
    server = serve(tiny_dir, faults=Faults(count_offset=1))
    with pytest.raises(CountMismatchError, match="manifest count is 6 but the file holds 5 resources"):
        run(make_client(count_retries=1), server, tmp_path, types=("Patient",))
    assert len(server.requests("file")) == 2  # downloaded again once before giving up
    assert not list((tmp_path / "out").iterdir())  # nothing half-verified is left behind


def test_unlisted_default_type_is_skipped_with_a_warning(serve, tiny_dir, make_client, events, tmp_path):
    """A default type list the user did not choose loses the types the CapabilityStatement does not list."""
    server = serve(tiny_dir)
    result = run(
        make_client(drop_unlisted_types=True),
        server,
        tmp_path,
        events,
        types=("Patient", "Specimen"),
        type_filters=("Specimen?type=blood",),
    )
    assert result.skipped_types == ("Specimen",)
    assert any("Specimen is not supported" in w for w in result.warnings)
    assert events.of("type_skipped") == [{"type": "Specimen", "reason": "not in CapabilityStatement"}]
    assert result.request_url.endswith("$export?_type=Patient")
    assert result.lines_by_type() == {"Patient": 5}
    with pytest.raises(NoSupportedTypesError):
        make_client(drop_unlisted_types=True).run(
            BulkExportRequest(server.base_url, types=("Specimen",)), tmp_path / "o2", tmp_path / "s2"
        )


def test_explicit_types_are_requested_even_if_the_statement_omits_them(serve, tiny_dir, make_client, tmp_path):
    """The reference server's statement omits types it serves: explicit types go out anyway, with a warning."""
    server = serve(tiny_dir, faults=Faults(capability_omits=("Encounter", "Observation")))
    result = run(make_client(), server, tmp_path, types=("Patient", "Encounter", "Observation"))
    assert result.lines_by_type() == {"Patient": 5, "Encounter": 20, "Observation": 10}
    assert result.skipped_types == ()
    assert [w for w in result.warnings if "CapabilityStatement" in w] == [
        "resource type Encounter is not in the server's CapabilityStatement; requested anyway",
        "resource type Observation is not in the server's CapabilityStatement; requested anyway",
    ]
    # Without the check nothing is read, nothing is warned about (for servers whose statement is wrong).
    quiet = make_client(check_capabilities=False).run(
        BulkExportRequest(server.base_url, types=("Encounter",)), tmp_path / "o2", tmp_path / "s2"
    )
    assert quiet.lines_by_type() == {"Encounter": 20} and quiet.warnings == ()
    assert len(server.requests("metadata")) == 1
    # A type the server really lacks is still requested; a strict server refuses, and says why.
    with pytest.raises(KickoffError, match="resource type Specimen is not supported"):
        make_client().run(BulkExportRequest(server.base_url, types=("Specimen",)), tmp_path / "o3", tmp_path / "s3")


def test_kickoff_error_shows_the_operation_outcome(serve, tiny_dir, make_client, tmp_path):
    server = serve(tiny_dir)
    with pytest.raises(KickoffError) as caught:
        run(make_client(), server, tmp_path, level="group", group_id="nope")
    assert caught.value.status == 404
    assert "error/not-found: Group/nope is not known to this server" in str(caught.value)
    with pytest.raises(KickoffError, match="not-supported: _typeFilter parameter 'date:ge'"):
        run(make_client(), server, tmp_path, type_filters=("Encounter?date:ge=2020",))


def test_deadline_cancels_the_job_with_delete(serve, tiny_dir, make_client, events, clock, tmp_path):
    server = serve(tiny_dir, faults=Faults(pending_polls=10_000, poll_retry_after="30"))
    with pytest.raises(ExportTimeoutError):
        run(make_client(poll_timeout=300.0), server, tmp_path, events)
    assert sum(clock.sleeps) == pytest.approx(300.0)
    deletes = server.requests("status", "DELETE")
    assert len(deletes) == 1 and deletes[0].status == 202
    assert events.of("cancel")[0]["reason"] == "deadline"
    assert ExportState.load(tmp_path / "state.json").status == "cancelled"
    assert not server.app.jobs


def test_cancel_and_keyboard_interrupt_send_delete(serve, tiny_dir, make_client, tmp_path):
    server = serve(tiny_dir, faults=Faults(pending_polls=50))
    client = make_client()

    def cancel_on_poll(event):
        if event.kind == "poll":
            client.cancel()

    with pytest.raises(ExportCancelledError):
        client.run(BulkExportRequest(server.base_url), tmp_path / "a", tmp_path / "a.json", on_progress=cancel_on_poll)

    def interrupt_on_poll(event):
        if event.kind == "poll":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        client.run(
            BulkExportRequest(server.base_url), tmp_path / "b", tmp_path / "b.json", on_progress=interrupt_on_poll
        )
    assert len(server.requests("status", "DELETE")) == 2
    assert not server.app.jobs


def test_expired_files_start_a_new_export(serve, tiny_dir, make_client, events, tmp_path):
    server = serve(tiny_dir)
    expired = []

    def expire_once(event):
        events(event)
        if event.kind == "manifest" and not expired:
            expired.append(True)
            server.expire_files()

    result = make_client().run(
        BulkExportRequest(server.base_url), tmp_path / "out", tmp_path / "state.json", on_progress=expire_once
    )
    assert result.restarts == 1 and result.lines_by_type()["Patient"] == 5
    assert len(server.requests("kickoff")) == 2
    assert 410 in {r.status for r in server.requests("file")}
    assert events.kinds().count("restart") == 1


def test_files_expire_after_ttl(serve, tiny_dir, make_client, tmp_path, monkeypatch):
    server = serve(tiny_dir, faults=Faults(file_ttl=60.0, pending_polls=0))
    real_time = devserver_app.time.time

    def an_hour_later(event):
        if event.kind == "manifest":
            monkeypatch.setattr(devserver_app.time, "time", lambda: real_time() + 3600)

    with pytest.raises(FilesExpiredError, match="HTTP 410"):
        make_client(max_restarts=0).run(
            BulkExportRequest(server.base_url), tmp_path / "out", tmp_path / "s.json", on_progress=an_hour_later
        )


def test_cancel_from_another_thread_wakes_the_default_sleep(serve, tiny_dir, tmp_path):
    server = serve(tiny_dir, faults=Faults(pending_polls=1000, poll_retry_after="30"))
    polling = threading.Event()
    outcome: list[BaseException] = []
    with BulkExportClient() as client:  # real, interruptible sleep

        def export():
            try:
                client.run(
                    BulkExportRequest(server.base_url),
                    tmp_path / "out",
                    tmp_path / "s.json",
                    on_progress=lambda e: polling.set() if e.kind == "poll" else None,
                )
            except BaseException as exc:  # noqa: BLE001 - handed to the test thread
                outcome.append(exc)

        worker = threading.Thread(target=export)
        started = time.monotonic()
        worker.start()
        assert polling.wait(10)
        client.cancel()
        worker.join(10)
    assert not worker.is_alive() and time.monotonic() - started < 10  # did not sit out Retry-After: 30
    assert isinstance(outcome[0], ExportCancelledError)
    assert len(server.requests("status", "DELETE")) == 1
