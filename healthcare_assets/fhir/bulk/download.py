"""Streaming one Bulk Data file to disk: constant memory, verified, atomic.

Bytes are read from the socket in chunks (``decode_content=False``: we see the wire bytes, so a truncated gzip
stream is detected instead of silently accepted), written to ``.<name>.part`` next to the target, counted
(resources = non-blank lines of the decompressed NDJSON) and hashed, then renamed into place only when the
stream ended cleanly and the line count matches the manifest's ``count``. A retry starts the file over.

Storage: plain NDJSON by default (``<Type>.ndjson``). With ``keep_gzip`` the file is stored gzipped
(``<Type>.ndjson.gz``): gzip wire bytes are kept as received, plain ones are compressed locally. ``sha256`` and
``bytes`` always describe the file as stored, so ``sha256sum`` of the file matches the audit record.
"""

from __future__ import annotations

import hashlib
import os
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import requests
import urllib3

from healthcare_assets.fhir.bulk.errors import (
    CountMismatchError,
    DownloadError,
    ExportCancelledError,
    FilesExpiredError,
    parse_outcome,
)
from healthcare_assets.fhir.bulk.events import redact_url
from healthcare_assets.fhir.bulk.manifest import PlannedFile
from healthcare_assets.fhir.bulk.retry import RetryPolicy
from healthcare_assets.fhir.bulk.transport import Transport

GZIP_MAGIC = b"\x1f\x8b"
FILE_MODE = 0o600


class TruncatedStreamError(Exception):
    """The gzip stream ended before its end-of-stream marker (the connection dropped mid-file)."""


@dataclass(frozen=True)
class FileDigest:
    lines: int
    bytes: int
    sha256: str


class LineCounter:
    """Counts non-blank lines across arbitrary chunk boundaries without holding more than one chunk."""

    def __init__(self) -> None:
        self.lines = 0
        self._open = False  # the current (unterminated) line has content

    def update(self, data: bytes) -> None:
        if not data:
            return
        parts = data.split(b"\n")
        closed = parts[:-1]
        if closed:
            nonblank = len(closed) - closed.count(b"") - closed.count(b"\r")
            if self._open and closed[0] in (b"", b"\r"):
                nonblank += 1
            self.lines += nonblank
            self._open = parts[-1] not in (b"", b"\r")
        else:
            self._open = self._open or parts[0] not in (b"", b"\r")

    def finish(self) -> int:
        if self._open:
            self.lines += 1
            self._open = False
        return self.lines


class GzipDecoder:
    """Streaming gunzip with bounded output per step; accepts concatenated members, reports truncation.

    The output bound matters: NDJSON compresses 10-50x, so one 1 MiB network chunk could otherwise inflate to
    tens of MiB at once.
    """

    def __init__(self, max_output: int = 1 << 20) -> None:
        self._decoder = zlib.decompressobj(wbits=31)
        self._max = max_output

    def feed(self, data: bytes) -> Iterator[bytes]:
        while True:
            out = self._decoder.decompress(data, self._max)
            if out:
                yield out
            if self._decoder.eof:
                data = self._decoder.unused_data
                if not data:
                    return
                self._decoder = zlib.decompressobj(wbits=31)  # the next gzip member
                continue
            data = self._decoder.unconsumed_tail
            if not data and len(out) < self._max:
                return

    def finish(self) -> bytes:
        tail = self._decoder.flush()
        if not self._decoder.eof:
            raise TruncatedStreamError("gzip stream ended early")
        return tail


class _Sink:
    """The temporary file plus what is known about the bytes stored in it."""

    def __init__(self, handle: BinaryIO, keep_gzip: bool, wire_gzip: bool):
        self.handle = handle
        self.digest = hashlib.sha256()
        self.size = 0
        self.counter = LineCounter()
        self.decoder = GzipDecoder() if wire_gzip else None
        self.keep_wire = keep_gzip and wire_gzip  # already gzip: store the wire bytes as they are
        self.compressor = zlib.compressobj(6, zlib.DEFLATED, 31) if keep_gzip and not wire_gzip else None

    def _store(self, data: bytes) -> None:
        if data:
            self.handle.write(data)
            self.digest.update(data)
            self.size += len(data)

    def _plain(self, plain: bytes) -> None:
        self.counter.update(plain)
        if not self.keep_wire:
            self._store(self.compressor.compress(plain) if self.compressor else plain)

    def feed(self, chunk: bytes) -> None:
        if self.keep_wire:
            self._store(chunk)
        for plain in self.decoder.feed(chunk) if self.decoder else (chunk,):
            self._plain(plain)

    def finish(self) -> int:
        if self.decoder is not None:
            self._plain(self.decoder.finish())
        if self.compressor is not None:
            self._store(self.compressor.flush())
        return self.counter.finish()


def write_stream(
    chunks: Iterable[bytes],
    target: Path,
    *,
    wire_gzip: bool | None,
    keep_gzip: bool,
    expected_lines: int | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    plan: PlannedFile | None = None,
) -> FileDigest:
    """Write ``chunks`` to ``target`` via a temporary file; verify and rename. ``wire_gzip=None`` sniffs."""
    tmp = target.with_name(f".{target.name}.part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as handle:
            sink: _Sink | None = None
            for chunk in chunks:
                if should_stop():
                    raise ExportCancelledError("download stopped")
                if not chunk:
                    continue
                if sink is None:
                    sniffed = chunk[:2] == GZIP_MAGIC if wire_gzip is None else wire_gzip
                    sink = _Sink(handle, keep_gzip, sniffed)
                sink.feed(chunk)
            if sink is None:  # an empty file (an empty gzip member when storing gzip)
                sink = _Sink(handle, keep_gzip, wire_gzip=False)
            lines = sink.finish()
            if expected_lines is not None and lines != expected_lines:
                raise CountMismatchError(
                    plan.type if plan else "?", redact_url(plan.url) if plan else str(target), expected_lines, lines
                )
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return FileDigest(lines=lines, bytes=sink.size, sha256=sink.digest.hexdigest())


def hash_file(path: Path, chunk_size: int = 1 << 20) -> tuple[int, str]:
    """Size and sha256 of a stored file (to trust a file an earlier run completed)."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


# Errors of the byte stream itself (the connection dropped, a read timed out, the gzip was cut): retryable.
_STREAM_ERRORS = (requests.RequestException, urllib3.exceptions.HTTPError, TruncatedStreamError, zlib.error)


class FileDownloader:
    """Downloads one planned file with retries (transport errors, truncation, count mismatch)."""

    def __init__(
        self,
        transport: Transport,
        *,
        policy: RetryPolicy,
        keep_gzip: bool = False,
        chunk_size: int = 1 << 20,
        verify_counts: bool = True,
        count_retries: int = 1,
        should_stop: Callable[[], bool] = lambda: False,
    ):
        self.transport = transport
        self.policy = policy
        self.keep_gzip = keep_gzip
        self.chunk_size = chunk_size
        self.verify_counts = verify_counts
        self.count_retries = count_retries
        self.should_stop = should_stop

    def download(self, plan: PlannedFile, target: Path, *, use_token: bool) -> FileDigest:
        what = f"download of {plan.kind} file {plan.type}"
        # Error files are reports, not data: partial exports list them with counts that do not match their
        # content, and a mismatch there must not cost the output that was generated.
        expected = plan.count if self.verify_counts and plan.kind != "error" else None
        attempt = mismatches = 0
        while True:
            if self.should_stop():
                raise ExportCancelledError("download stopped")
            response = self.transport.request(
                "GET",
                plan.url,
                what=what,
                use_token=use_token,
                stream=True,
                headers={"Accept": "application/fhir+ndjson", "Accept-Encoding": "gzip"},
            )
            try:
                if response.status_code in (404, 410):
                    raise FilesExpiredError(
                        what, redact_url(plan.url), response.status_code, parse_outcome(response.content)
                    )
                if response.status_code != 200:
                    raise DownloadError(
                        what, redact_url(plan.url), response.status_code, parse_outcome(response.content)
                    )
                encoding = response.headers.get("Content-Encoding", "").strip().lower()
                if encoding not in ("", "identity", "gzip", "x-gzip"):
                    raise DownloadError(
                        what, redact_url(plan.url), 200, detail=f"unsupported Content-Encoding {encoding!r}"
                    )
                wire_gzip = True if encoding in ("gzip", "x-gzip") else None
                chunks = response.raw.stream(self.chunk_size, decode_content=False)
                return write_stream(
                    chunks,
                    target,
                    wire_gzip=wire_gzip,
                    keep_gzip=self.keep_gzip,
                    expected_lines=expected,
                    should_stop=self.should_stop,
                    plan=plan,
                )
            except CountMismatchError:
                mismatches += 1
                if mismatches > self.count_retries:
                    raise
                error = "count mismatch"
            except _STREAM_ERRORS as exc:
                attempt += 1
                if attempt >= self.policy.max_attempts:
                    raise DownloadError(
                        what, redact_url(plan.url), 200, detail=f"stream failed {attempt} times ({type(exc).__name__})"
                    ) from None
                error = type(exc).__name__
            finally:
                response.close()
            delay = self.policy.delay(attempt + mismatches, None, self.transport.rng)
            self.transport.emit(
                "retry",
                what=what,
                url=redact_url(plan.url),
                error=error,
                attempt=attempt + mismatches,
                delay=round(delay, 3),
            )
            self.transport.sleep(delay)
