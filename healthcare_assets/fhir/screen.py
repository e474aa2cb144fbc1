"""Screen the bytes of an NDJSON file before any JSON or CSV reader sees them.

DuckDB's readers stop the whole query at the first line that is not UTF-8 or is longer than their line limit,
and quote that line in the error; they also end a line at a bare carriage return, so line numbers drift.
One streaming pass here finds, per line, what no reader should be given:

* ``invalid_utf8``: bytes that are not UTF-8 (a Latin-1 name, a binary file);
* ``line_too_long``: longer than the configured limit (never held in memory: the rest is skipped);
* ``stray_carriage_return``: a carriage return that does not end the line (a reader would split it);
* ``unknown_type`` / ``corrupt_compression``: every line of a file rejected as a whole at landing.

Chunks are read at most ``min(1 MiB, limit)`` long, so only a line that spans chunks can exceed the limit,
and a chunk of short, valid lines costs one ``isascii`` or one UTF-8 decode. When a file has such lines (or
carriage returns at all), ``write_readable_copy`` writes a copy in the PHI zone in which each of them is
``{}`` (still one non-blank line, so line and record numbers stay put) and CRLF endings are LF: readers
then see only valid lines, and the line numbers they count are the file's.
"""

from __future__ import annotations

import codecs
import os
from array import array
from dataclasses import dataclass, field
from pathlib import Path

from healthcare_assets.fhir.ndjson import CorruptCompressionError, iter_bytes

DEFAULT_MAX_LINE_BYTES = 64 * 1024 * 1024  # well above real attachments and narratives
MIN_MAX_LINE_BYTES = 1024
# De-identification reads accepted lines with read_json, whose object limit is set to 256 MiB.
MAX_MAX_LINE_BYTES = 256 * 1024 * 1024 - 1024
PLACEHOLDER = b"{}"
PREVIEW_BYTES = 10_000  # of each screened-out line, kept for inspection in the quarantine (PHI zone)
MAX_PREVIEWS = 1000  # per file; a binary file may have millions of "lines"
_CHUNK = 1 << 20
_HINT_EVERY = 16

REASONS = {
    "invalid_utf8": "bytes that are not UTF-8",
    "line_too_long": "line longer than the limit",
    "stray_carriage_return": "a carriage return inside the line",
    "unknown_type": "the file's resource type is unknown (name and first lines say nothing)",
    "corrupt_compression": "the rest of the file cannot be decompressed",
}


def validate_max_line_bytes(value: int) -> int:
    if not MIN_MAX_LINE_BYTES <= value <= MAX_MAX_LINE_BYTES:
        raise ValueError(
            f"max_line_bytes must be between {MIN_MAX_LINE_BYTES:,} and {MAX_MAX_LINE_BYTES:,}, got {value:,}"
        )
    return value


@dataclass
class ScreenResult:
    """What one pass found. ``bad_*`` are parallel arrays in line order; previews are PHI (PHI zone only)."""

    lines: int = 0  # physical lines; a last line without a newline counts
    longest_line: int = 0  # of the lines kept; exact above the chunk size, an upper bound below it
    # A hint for readers (nothing is classified by it): of ``hinted_lines`` kept lines (blank ones too), how many
    # do not end in ``}``. Every truncated line is among those, so a file that may hold many malformed lines can
    # be told from a clean one. Of the lines wholly inside a chunk, only those of the first chunk and then of one
    # chunk in ``_HINT_EVERY`` are looked at (a sample: looking at them all cost as much as counting lines).
    hinted_lines: int = 0
    unclosed_lines: int = 0
    carriage_returns: bool = False
    bad_lines: array = field(default_factory=lambda: array("q"))
    bad_lengths: array = field(default_factory=lambda: array("q"))
    bad_reasons: list[str] = field(default_factory=list)
    previews: dict[int, str] = field(default_factory=dict)

    @property
    def needs_copy(self) -> bool:
        """Readers must get a cleaned copy: some line is screened out or a carriage return would split one."""
        return bool(self.bad_lines) or self.carriage_returns

    def counts(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for reason in self.bad_reasons:
            found[reason] = found.get(reason, 0) + 1
        return found

    def _add(self, line: int, reason: str, length: int, head: bytes) -> None:
        self.bad_lines.append(line)
        self.bad_lengths.append(length)
        self.bad_reasons.append(reason)
        if len(self.previews) < MAX_PREVIEWS:
            self.previews[line] = head[:PREVIEW_BYTES].decode("utf-8", errors="replace")


class _Screener:
    """Feed chunks in order; lines are classified as they end."""

    def __init__(self, max_line_bytes: int, reject_reason: str | None):
        self.limit = max_line_bytes
        self.reject = reject_reason
        self.result = ScreenResult()
        self.chunks = 0
        self._reset()

    def _reset(self) -> None:
        self.open_len = 0
        self.open_reason: str | None = None
        self.open_head = bytearray()
        self.open_cr_last = False
        self.open_tail = b""  # the open line's last two bytes
        self.decoder = codecs.getincrementaldecoder("utf-8")("strict")

    def feed(self, data: bytes) -> None:
        self.chunks += 1
        first = data.find(b"\n")
        if first < 0:
            self._extend(data)
            return
        self._extend(data[:first])
        self._close()
        last = data.rfind(b"\n")
        if last > first:
            self._complete_lines(data[first + 1 : last])
        self._extend(data[last + 1 :])

    def finish(self) -> ScreenResult:
        if self.open_len or self.open_reason:
            self._close()
        return self.result

    def _extend(self, piece: bytes) -> None:
        """More bytes of the line that is still open (it started in an earlier chunk or ends in a later one)."""
        if not piece:
            return
        self.open_len += len(piece)
        self.open_tail = (self.open_tail + piece[-2:])[-2:]
        cr_before, self.open_cr_last = self.open_cr_last, piece.endswith(b"\r")
        if b"\r" in piece:
            self.result.carriage_returns = True
        if len(self.open_head) < PREVIEW_BYTES:
            self.open_head += piece[: PREVIEW_BYTES - len(self.open_head)]
        # One reason per line, the same whatever the chunking: too long, else not UTF-8, else a stray CR.
        if self.open_len > self.limit:
            self.open_reason, self.decoder = "line_too_long", None
            return
        if self.open_reason in ("line_too_long", "invalid_utf8"):
            return
        cr = piece.find(b"\r")
        if cr_before or 0 <= cr < len(piece) - 1:
            self.open_reason = "stray_carriage_return"
        try:
            self.decoder.decode(piece)
        except UnicodeDecodeError:
            self.open_reason, self.decoder = "invalid_utf8", None

    def _close(self) -> None:
        result = self.result
        result.lines += 1
        if self.decoder is not None:
            try:
                self.decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                self.open_reason = "invalid_utf8"
        length = self.open_len - (1 if self.open_cr_last else 0)
        if self.reject and (self.open_reason is not None or bytes(self.open_head).strip()):
            result._add(result.lines, self.reject, length, bytes(self.open_head))
        elif self.open_reason is not None:
            result._add(result.lines, self.open_reason, length, bytes(self.open_head))
        else:
            result.longest_line = max(result.longest_line, length)
            tail = self.open_tail[:-1] if self.open_cr_last else self.open_tail
            result.hinted_lines += 1
            result.unclosed_lines += not tail.endswith(b"}")
        self._reset()

    def _complete_lines(self, block: bytes) -> None:
        """Lines wholly inside one chunk (so shorter than the limit), joined by newlines, without the last one."""
        result = self.result
        result.longest_line = max(result.longest_line, min(len(block), _CHUNK))
        has_cr = b"\r" in block
        if not has_cr and not self.reject:
            if block.isascii() or _is_utf8(block):
                lines = block.count(b"\n") + 1
                result.lines += lines
                if (self.chunks - 1) % _HINT_EVERY == 0:  # the first chunk, then one in _HINT_EVERY
                    result.hinted_lines += lines
                    result.unclosed_lines += lines - block.count(b"}\n") - block.endswith(b"}")
                return
        result.carriage_returns = result.carriage_returns or has_cr
        for line in block.split(b"\n"):
            result.lines += 1
            body = line[:-1] if line.endswith(b"\r") else line
            reason = "stray_carriage_return" if b"\r" in body else None
            try:
                body.decode("utf-8")
            except UnicodeDecodeError:
                reason = "invalid_utf8"
            if self.reject and (reason is not None or body.strip()):
                reason = self.reject
            if reason is not None:
                result._add(result.lines, reason, len(body), body[:PREVIEW_BYTES])
            else:
                result.hinted_lines += 1
                result.unclosed_lines += not body.endswith(b"}")


def _is_utf8(block: bytes) -> bool:
    try:
        block.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def screen_file(
    path: Path, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES, reject_reason: str | None = None
) -> ScreenResult:
    """Classify every line of ``path`` (plain or gzipped) in one streaming pass with flat memory.

    ``reject_reason`` marks every non-blank line with that reason, whatever else is wrong with it (a file
    rejected as a whole); such a file may also be damaged gzip, whose unreadable rest becomes one more line
    with reason ``corrupt_compression``.
    """
    screener = _Screener(validate_max_line_bytes(max_line_bytes), reject_reason)
    try:
        for chunk in iter_bytes(path, min(_CHUNK, max_line_bytes)):
            screener.feed(chunk)
    except CorruptCompressionError:
        if reject_reason is None:
            raise
        result = screener.finish()
        result._add(result.lines + 1, "corrupt_compression", 0, b"")
        result.lines += 1
        return result
    return screener.finish()


def write_readable_copy(path: Path, screened: ScreenResult, target: Path, max_line_bytes: int) -> None:
    """Write ``path`` to ``target`` (plain, mode 0600) with every screened-out line replaced by ``{}`` and CRLF
    endings made LF; line count and order are unchanged. Streams, so a 70 MB line is never held whole."""
    bad = iter(screened.bad_lines)
    next_bad = next(bad, 0)
    line = 1  # the line the next byte belongs to
    skipping = False  # inside a screened-out line: its bytes are dropped
    held_cr = False  # a CR ended the last piece written: dropped if the line ends there, else written
    tmp = target.with_name(f".{target.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        for chunk in iter_bytes(path, min(_CHUNK, max_line_bytes)):
            start = 0
            while start < len(chunk):
                end = chunk.find(b"\n", start)
                stop = len(chunk) if end < 0 else end
                if line == next_bad:
                    if not skipping:
                        out.write(PLACEHOLDER)
                        skipping = True
                else:
                    piece = chunk[start:stop]
                    if held_cr and piece:
                        out.write(b"\r")
                    held_cr = piece.endswith(b"\r")
                    out.write(piece[:-1] if held_cr else piece)
                if end < 0:
                    break
                out.write(b"\n")
                if line == next_bad:
                    next_bad = next(bad, 0)
                line, skipping, held_cr = line + 1, False, False
                start = end + 1
        # A carriage return held at the very end ended the last line: it is dropped like the other CRLF ones.
    os.replace(tmp, target)
