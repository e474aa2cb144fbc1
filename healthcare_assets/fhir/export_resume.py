"""Unfinished Bulk exports in the PHI zone: find one to resume, take it over, or make sure nobody else does.

A Bulk export is fetched into its batch's staging folder (``batches/.staging-<batch>/``) with the client's
state file at ``side/bulk_state.json``. An export interrupted by a crash, a kill or an exhausted retry budget
leaves both behind, resumable: the state holds the status URL, so resuming costs no second kick-off. A later
run of the same export (same server, level, group, types, filters and elements; ``_since`` may have moved on)
resumes it: the command line re-uses the batch id, a run for another batch (the UI, the nightly schedule)
renames the folder to its own. A run holds an exclusive ``flock`` on ``side/.bulk.lock`` (it moves with the
folder) for as long as it works on the export, so nobody resumes, adopts or abandons a live export.
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from healthcare_assets.config import ensure_private_dir
from healthcare_assets.errors import CleanError
from healthcare_assets.fhir.bulk.request import BulkExportRequest
from healthcare_assets.fhir.bulk.state import ExportState

STAGING_PREFIX = ".staging-"
STATE_FILE = "bulk_state.json"
LOCK_FILE = ".bulk.lock"
IN_PROGRESS = ("kicked_off", "downloading")


class ExportInProgressError(CleanError, RuntimeError):
    """Another process is working on this export right now."""


@dataclass(frozen=True)
class Unfinished:
    """An interrupted export: the batch it was started for, its staging folder and its state."""

    batch_id: str
    staging: Path
    state: ExportState

    @property
    def state_path(self) -> Path:
        return state_path(self.staging)


def state_path(staging: Path) -> Path:
    return staging / "side" / STATE_FILE


def request_key(request: dict[str, Any]) -> dict[str, Any]:
    """What makes two exports the same one: the request without its ``_since`` (which moves between runs)."""
    return {k: v for k, v in request.items() if k != "since"}


def same_export(state: ExportState, request: BulkExportRequest) -> bool:
    return request_key(state.request) == request_key(request.to_dict())


def resumable_state(staging: Path) -> ExportState | None:
    """The state of an export in ``staging`` that was kicked off and not finished, cancelled or failed."""
    try:
        state = ExportState.load(state_path(staging))
    except (OSError, ValueError):
        return None
    if state is None or state.status not in IN_PROGRESS or not state.status_url:
        return None
    return state


def find_unfinished(batches_dir: Path, request: BulkExportRequest) -> list[Unfinished]:
    """Interrupted exports of ``request`` that no live process holds, the most recently kicked off first."""
    found = []
    if not batches_dir.is_dir():
        return found
    for staging in batches_dir.glob(f"{STAGING_PREFIX}*"):
        state = resumable_state(staging) if staging.is_dir() else None
        if state is None or not same_export(state, request) or is_locked(staging):
            continue
        found.append(Unfinished(staging.name[len(STAGING_PREFIX) :], staging, state))
    return sorted(found, key=lambda u: (u.state.kicked_off_at or "", u.batch_id), reverse=True)


def lock_export(staging: Path) -> IO[bytes]:
    """Take the export's lock (non-blocking); keep the returned file open for as long as the work lasts."""
    side = ensure_private_dir(staging / "side")
    handle = open(side / LOCK_FILE, "a+b")  # noqa: SIM115 - the caller owns the handle
    os.chmod(side / LOCK_FILE, 0o600)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise ExportInProgressError(
            f"the export in {staging.name} is being worked on by another process; wait for it to finish"
        ) from None
    return handle


def is_locked(staging: Path) -> bool:
    lock = staging / "side" / LOCK_FILE
    if not lock.exists():
        return False
    with open(lock, "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False
