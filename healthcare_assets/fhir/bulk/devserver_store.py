"""The development server's data: every resource of a folder of NDJSON, kept as the exact bytes of its line.

Keeping the original line bytes is what lets tests prove an export is byte-identical to its source. Only
what filtering needs is parsed out: type, id, the patient the resource belongs to (``Patient.id`` or a
``subject``/``patient``/``beneficiary`` reference to ``Patient/<id>``) and ``meta.lastUpdated``.

``_since`` rule: a resource without ``meta.lastUpdated`` (Synthea writes none) counts as last updated when
the server loaded it (``loaded_at``). So an export with ``_since`` before the load returns everything, and one
with ``_since`` at or after the load returns only what ``upsert``/``delete`` changed since then.
"""

from __future__ import annotations

import gzip
import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

logger = logging.getLogger("healthcare_assets.fhir.bulk.devserver")

_GZIP_MAGIC = b"\x1f\x8b"
_PATIENT_LINKS = ("patient", "subject", "beneficiary")


@dataclass(frozen=True)
class StoredResource:
    type: str
    id: str
    raw: bytes  # the line exactly as read (without its line ending)
    patient_id: str | None  # the patient compartment it belongs to, if any
    last_updated: datetime | None  # meta.lastUpdated, if present


@dataclass(frozen=True)
class Deletion:
    type: str
    id: str
    patient_id: str | None
    when: datetime


@dataclass(frozen=True)
class Snapshot:
    """The data as of one instant: what a job exports, immune to later upserts and deletes."""

    taken_at: datetime
    loaded_at: datetime
    resources: dict[str, tuple[StoredResource, ...]]
    deletions: tuple[Deletion, ...]


def patient_of(resource: dict[str, Any]) -> str | None:
    if resource.get("resourceType") == "Patient":
        return str(resource.get("id") or "") or None
    for key in _PATIENT_LINKS:
        link = resource.get(key)
        if isinstance(link, dict):
            reference = link.get("reference")
            if isinstance(reference, str) and reference.startswith("Patient/"):
                return reference.removeprefix("Patient/")
    return None


def _last_updated(resource: dict[str, Any]) -> datetime | None:
    meta = resource.get("meta")
    value = meta.get("lastUpdated") if isinstance(meta, dict) else None
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


class ResourceStore:
    """Thread-safe, ordered, in-memory resources by type.

    Lines are served exactly as the folder has them, in file-name then line order, duplicates included
    (Synthea's reshaped output repeats some Organization/Practitioner lines), so an export can be compared
    byte for byte with its source. ``upsert``/``delete`` replace or drop every line of that type and id.
    """

    def __init__(self, loaded_at: datetime | None = None):
        self._lock = threading.Lock()
        self._resources: dict[str, list[StoredResource]] = {}
        self._deletions: list[Deletion] = []
        self.loaded_at = loaded_at or datetime.now(UTC)
        self.skipped_lines = 0

    @classmethod
    def load(cls, data_dir: Path) -> ResourceStore:
        """Read every ``*.ndjson``/``*.ndjson.gz`` (sorted by name); each line's type comes from the line."""
        data_dir = Path(data_dir)
        files = sorted(p for p in data_dir.iterdir() if p.is_file() and p.name.endswith((".ndjson", ".ndjson.gz")))
        if not files:
            raise ValueError(f"{data_dir}: no *.ndjson or *.ndjson.gz files to serve")
        store = cls()
        for path in files:
            with open(path, "rb") as probe:
                gzipped = probe.read(2) == _GZIP_MAGIC
            with gzip.open(path, "rb") if gzipped else open(path, "rb") as handle:
                for number, line in enumerate(handle, start=1):
                    raw = line.rstrip(b"\r\n")
                    if raw.strip():
                        store._add_line(raw, path, number)
        store.loaded_at = datetime.now(UTC)
        return store

    def _add_line(self, raw: bytes, path: Path, number: int) -> None:
        try:
            resource = orjson.loads(raw)
        except orjson.JSONDecodeError:
            resource = None
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            self.skipped_lines += 1
            logger.warning("%s line %d is not a FHIR resource; not served", path.name, number)
            return
        self._put(resource, raw)

    def _put(self, resource: dict[str, Any], raw: bytes) -> StoredResource:
        stored = StoredResource(
            resource["resourceType"], str(resource.get("id") or ""), raw, patient_of(resource), _last_updated(resource)
        )
        self._resources.setdefault(stored.type, []).append(stored)
        return stored

    def _remove(self, resource_type: str, resource_id: str) -> list[StoredResource]:
        bucket = self._resources.get(resource_type, [])
        removed = [r for r in bucket if r.id == resource_id]
        if removed:
            self._resources[resource_type] = [r for r in bucket if r.id != resource_id]
        return removed

    # -- queries -----------------------------------------------------------------------------------------
    def types(self) -> list[str]:
        with self._lock:
            return sorted(t for t, items in self._resources.items() if items)

    def count(self, resource_type: str) -> int:
        with self._lock:
            return len(self._resources.get(resource_type, ()))

    def patient_ids(self) -> list[str]:
        with self._lock:
            return [r.id for r in self._resources.get("Patient", ())]

    def snapshot(self) -> Snapshot:
        with self._lock:
            return Snapshot(
                datetime.now(UTC),
                self.loaded_at,
                {t: tuple(items) for t, items in self._resources.items() if items},
                tuple(self._deletions),
            )

    # -- changes (tests and incremental-export demos) ------------------------------------------------------
    def upsert(self, resource: dict[str, Any], when: datetime | None = None) -> StoredResource:
        """Add or replace a resource, stamping ``meta.lastUpdated`` (so ``_since`` exports pick it up)."""
        when = when or datetime.now(UTC)
        stamped = dict(resource)
        stamped["meta"] = {
            **(resource.get("meta") or {}),
            "lastUpdated": when.isoformat(timespec="microseconds").replace("+00:00", "Z"),
        }
        with self._lock:
            self._remove(stamped["resourceType"], str(stamped.get("id") or ""))
            stored = self._put(stamped, orjson.dumps(stamped))
            self._deletions = [d for d in self._deletions if (d.type, d.id) != (stored.type, stored.id)]
            return stored

    def delete(self, resource_type: str, resource_id: str, when: datetime | None = None) -> bool:
        """Remove a resource and remember the deletion (reported in ``deleted`` by ``_since`` exports)."""
        with self._lock:
            removed = self._remove(resource_type, resource_id)
            if not removed:
                return False
            self._deletions.append(
                Deletion(resource_type, resource_id, removed[0].patient_id, when or datetime.now(UTC))
            )
            return True

    def get(self, resource_type: str, resource_id: str) -> dict[str, Any] | None:
        with self._lock:
            found = next((r for r in self._resources.get(resource_type, ()) if r.id == resource_id), None)
        return orjson.loads(found.raw) if found else None
