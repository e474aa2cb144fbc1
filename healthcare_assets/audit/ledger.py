"""Append-only, hash-chained audit ledger.

Each record carries the SHA-256 of the previous record (over canonical JSON) and its own hash, so editing,
deleting, inserting or reordering any record breaks the chain at a point the verifier can name. A separate
``HEAD`` file holds the last sequence number and hash, which also exposes truncation of the tail.
Appends from several processes (Dagster's multiprocess executor) are serialised with an exclusive ``flock``.
"""

from __future__ import annotations

import fcntl
import getpass
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from healthcare_assets.audit.canonical import GENESIS_HASH, canonical_json, sha256_bytes

LEDGER_FILE = "ledger.jsonl"
HEAD_FILE = "HEAD"
LOCK_FILE = ".lock"
SCHEMA_VERSION = 1
ACTOR_ENV = "HEALTHCARE_ASSETS_ACTOR"


class LedgerError(RuntimeError):
    """The ledger cannot be appended to safely (for example, its tail is corrupt)."""


@dataclass(frozen=True)
class AuditEvent:
    """What one step did: the fields an auditor needs to tie an output to its inputs and code."""

    action: str
    asset_key: str | None = None
    partition: str | None = None
    run_id: str | None = None
    code_version: str | None = None
    inputs: Mapping[str, str] = field(default_factory=dict)
    outputs: Mapping[str, str] = field(default_factory=dict)
    counts: Mapping[str, int | float] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)
    actor: str | None = None


def default_actor() -> str:
    explicit = os.environ.get(ACTOR_ENV)
    if explicit:
        return explicit
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry in some containers
        return f"uid:{os.getuid()}"


def record_hash(record: Mapping[str, Any]) -> str:
    """Hash of a record over canonical JSON of every field except ``hash`` itself."""
    body = {key: value for key, value in record.items() if key != "hash"}
    return sha256_bytes(canonical_json(body))


class AuditLedger:
    """The ledger under one directory (``$HEALTHCARE_ASSETS_HOME/audit``)."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.path = self.directory / LEDGER_FILE
        self.head_path = self.directory / HEAD_FILE

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.directory / LOCK_FILE, "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def append(self, event: AuditEvent, sync: bool = True) -> dict[str, Any]:
        """Append one record and return it (with ``seq`` and ``hash``).

        ``sync=False`` leaves the ``fsync`` to the caller (the prediction log's group commit: several requests'
        records made durable by one ``fsync`` before any of them is answered); the record is written either way."""
        with self._locked():
            seq, prev_hash = self._tail()
            record: dict[str, Any] = {
                "schema": SCHEMA_VERSION,
                "seq": seq + 1,
                "time": datetime.now(UTC).isoformat(timespec="microseconds"),
                "action": event.action,
                "asset_key": event.asset_key,
                "partition": event.partition,
                "run_id": event.run_id,
                "code_version": event.code_version,
                "actor": event.actor or default_actor(),
                "inputs": dict(event.inputs),
                "outputs": dict(event.outputs),
                "counts": dict(event.counts),
                "details": dict(event.details),
                "prev_hash": prev_hash,
            }
            # Round-trip through canonical JSON first so that what we hash is exactly what we store.
            record = orjson.loads(canonical_json(record))
            record["hash"] = record_hash(record)
            line = canonical_json(record) + b"\n"
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            try:
                os.write(fd, line)
                if sync:
                    os.fsync(fd)
            finally:
                os.close(fd)
            self._write_head(record["seq"], record["hash"])
            return record

    def _tail(self) -> tuple[int, str]:
        """Sequence number and hash of the last record, refusing to extend a damaged tail."""
        if not self.path.exists() or self.path.stat().st_size == 0:
            return 0, GENESIS_HASH
        last = _last_line(self.path)
        if last is None:
            raise LedgerError(
                f"{self.path}: the last record is incomplete (no trailing newline); "
                "run `healthcare-assets audit verify` and repair before appending"
            )
        try:
            record = orjson.loads(last)
            if record_hash(record) != record["hash"]:
                raise ValueError("hash mismatch")
            return int(record["seq"]), str(record["hash"])
        except (ValueError, KeyError, TypeError) as exc:
            raise LedgerError(
                f"{self.path}: the last record is damaged ({exc}); run `healthcare-assets audit verify`"
            ) from exc

    def _write_head(self, seq: int, digest: str) -> None:
        tmp = self.head_path.with_suffix(".tmp")
        tmp.write_bytes(canonical_json({"seq": seq, "hash": digest}) + b"\n")
        os.replace(tmp, self.head_path)

    def head(self) -> dict[str, Any] | None:
        if not self.head_path.exists():
            return None
        return orjson.loads(self.head_path.read_bytes())

    def records(self) -> Iterator[dict[str, Any]]:
        """Every record in file order (no verification: use ``verify_ledger`` for that)."""
        if not self.path.exists():
            return
        with open(self.path, "rb") as handle:
            for line in handle:
                if line.strip():
                    yield orjson.loads(line)


def _last_line(path: Path) -> bytes | None:
    """The last line of ``path`` (read backwards from the end), or None if it lacks its trailing newline."""
    with open(path, "rb") as handle:
        end = handle.seek(0, os.SEEK_END)
        handle.seek(end - 1)
        if handle.read(1) != b"\n":
            return None
        pos, chunks = end - 1, []
        while pos > 0:
            step = min(4096, pos)
            pos -= step
            handle.seek(pos)
            chunk = handle.read(step)
            cut = chunk.rfind(b"\n")
            if cut >= 0:
                chunks.append(chunk[cut + 1 :])
                break
            chunks.append(chunk)
        return b"".join(reversed(chunks))
