"""The export state file: what lets an interrupted export resume instead of starting over.

A small JSON document next to (or inside) the destination, rewritten atomically (temp file, fsync, rename,
mode 0600) after every step: the request, the kick-off and status URLs, the merged manifest once the export
is complete, and every file already downloaded with its lines, bytes and sha256. A later ``run`` with the same
request polls the saved status URL (no second kick-off) and skips files whose size and hash still match.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

STATE_VERSION = 1
# Lifecycle: new -> kicked_off -> downloading -> complete; or cancelled / failed (a new run starts afresh).
STATUSES = ("new", "kicked_off", "downloading", "complete", "cancelled", "failed")


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class ExportState:
    request: dict[str, Any]
    status: str = "new"
    request_url: str | None = None
    method: str | None = None
    status_url: str | None = None
    kicked_off_at: str | None = None
    completed_at: str | None = None
    skipped_types: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    manifest: dict[str, Any] | None = None
    # PlannedFile.key -> {"kind", "type", "path" (relative), "lines", "bytes", "sha256", "url", "count"}
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    restarts: int = 0
    version: int = STATE_VERSION

    @property
    def resumable(self) -> bool:
        return self.status in ("kicked_off", "downloading", "complete") and self.status_url is not None

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"

    @classmethod
    def from_json(cls, data: bytes) -> ExportState:
        raw = orjson.loads(data)
        if not isinstance(raw, dict) or raw.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported export state version {raw.get('version') if isinstance(raw, dict) else '?'}")
        if raw.get("status") not in STATUSES:
            raise ValueError(f"unknown export state status {raw.get('status')!r}")
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in raw.items() if k in known})

    def save(self, path: Path) -> None:
        """Atomic replace: a crash leaves either the old or the new state, never half of one."""
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".{path.name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(self.to_json())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> ExportState | None:
        if not path.exists():
            return None
        try:
            return cls.from_json(path.read_bytes())
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{path}: unreadable export state ({exc}); move it aside to start a new export") from None
