"""NDJSON files as Bulk Data writes them: one resource per line, one type per file, optionally gzipped."""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import orjson

from healthcare_assets.audit.canonical import sha256_file
from healthcare_assets.errors import CleanError
from healthcare_assets.warehouse.duckdb_store import sql_literal

NDJSON_SUFFIXES = (".ndjson", ".ndjson.gz")
# Inside a batch's ndjson/ folder: files landed but unusable as a whole (unknown type, damaged gzip).
REJECTED_DIR = "rejected"
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20
# DuckDB's read_csv refuses lines longer than this unless told otherwise (its own default).
DUCKDB_DEFAULT_LINE_BYTES = 2_000_000
# Type detection looks at the first lines only, and at no line longer than this.
_TYPE_PROBE_LINE_BYTES = 8 << 20
# Resource type names: an upper-case letter then letters (FHIR R4/R5 resource names).
_TYPE_TOKEN = re.compile(r"^[A-Z][A-Za-z]+$")


class NdjsonError(CleanError, ValueError):
    """A file is not usable as FHIR NDJSON; the message names the file (and line where there is one)."""


class CorruptCompressionError(NdjsonError):
    """A gzipped file cannot be decompressed to its end (truncated or damaged)."""


@dataclass(frozen=True)
class FileStats:
    """What a manifest records of one landed file."""

    lines: int
    bytes: int
    sha256: str


def lines_sql(path: Path, compressed: bool, max_line_bytes: int | None = None) -> str:
    """DuckDB relation ``(line VARCHAR)`` with every line of ``path`` whole and in file order (blank lines as
    NULL): a NUL delimiter and no quoting keep ``read_csv`` from splitting anything a JSON line can hold.

    Only for screened files (``fhir.screen``): DuckDB fails the whole query on one line that is not UTF-8 or
    longer than ``max_line_bytes`` (its default 2 MB when unset), and quotes that line in its error; it also
    ends a line at a bare carriage return, so line numbers hold only for files without one."""
    compression = ", compression='gzip'" if compressed else ""
    size = (
        f", max_line_size={int(max_line_bytes)}"
        if max_line_bytes and max_line_bytes > DUCKDB_DEFAULT_LINE_BYTES
        else ""
    )
    return (
        f"read_csv({sql_literal(path)}, columns={{'line': 'VARCHAR'}}, header=false, delim='\\0', quote='', "
        f"escape='', auto_detect=false, strict_mode=false{compression}{size})"
    )


def is_ndjson_name(path: Path) -> bool:
    return path.name.endswith(NDJSON_SUFFIXES)


def is_gzip(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(2) == _GZIP_MAGIC


def type_from_name(path: Path) -> str | None:
    """Resource type from names like ``Patient.ndjson``, ``Patient.000.ndjson.gz`` or ``1.Patient.ndjson``."""
    stem = path.name
    for suffix in NDJSON_SUFFIXES[::-1]:
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    for token in re.split(r"[._\-]", stem):
        if _TYPE_TOKEN.match(token):
            return token
    return None


def type_from_content(path: Path, max_lines: int = 1000) -> str | None:
    """Resource type of the first parseable line (for files whose names say nothing).

    Reads bytes, so a file that is not UTF-8, binary or damaged gives None rather than an error; lines longer
    than a few megabytes are skipped unread, so memory stays small whatever the file holds."""
    try:
        for index, line in enumerate(iter_lines(path, _TYPE_PROBE_LINE_BYTES, 8 * _TYPE_PROBE_LINE_BYTES)):
            if index >= max_lines:
                break
            if line is None or not line.strip():
                continue
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(value, dict) and isinstance(value.get("resourceType"), str):
                found = value["resourceType"]
                return found if _TYPE_TOKEN.match(found) else None
    except (NdjsonError, OSError):
        return None
    return None


def resource_type_of(path: Path) -> str:
    found = type_from_name(path) or type_from_content(path)
    if not found:
        raise NdjsonError(f"{path}: cannot tell the resource type from the file name or its first lines")
    return found


def iter_lines(path: Path, max_line_bytes: int, max_total_bytes: int | None = None) -> Iterator[bytes | None]:
    """Every line of a plain or gzipped file as bytes without its ending, or None for a line longer than
    ``max_line_bytes`` (never held in memory); stops after about ``max_total_bytes`` when given."""
    parts: list[bytes] = []
    size, too_long, seen = 0, False, 0
    for chunk in iter_bytes(path):
        seen += len(chunk)
        if max_total_bytes is not None and seen > max_total_bytes + len(chunk):
            return
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            piece = chunk[start:] if end < 0 else chunk[start:end]
            size += len(piece)
            too_long = too_long or size > max_line_bytes
            if not too_long:
                parts.append(piece)
            if end < 0:
                break
            yield None if too_long else b"".join(parts).rstrip(b"\r")
            parts, size, too_long = [], 0, False
            start = end + 1
    if size or parts:
        yield None if too_long else b"".join(parts).rstrip(b"\r")


def count_lines(path: Path) -> int:
    """Lines holding anything but a line ending, in a plain or gzipped file, streaming.

    A blank line is not a resource, so it is not counted (the profiler skips blank lines the same way).
    """
    counter = _LineCounter()
    for chunk in iter_bytes(path):
        counter.feed(chunk)
    return counter.total()


class _LineCounter:
    """``count_lines``' rule over a file's pieces: a line counts unless it is empty or only ``\r``.

    A piece without ``\r`` (nearly every piece of an export) is split and its empty lines counted by
    ``list.count``, in C; a piece with ``\r`` has its lines looked at one by one."""

    def __init__(self) -> None:
        self.count, self.open = 0, False  # open: the last piece ended inside a line that holds something

    def feed(self, chunk: bytes) -> None:
        parts = chunk.split(b"\n")
        ends = len(parts) - 1
        if b"\r" not in chunk:
            if ends:
                empty = parts.count(b"") - (parts[-1] == b"")  # empty lines among those this piece ends
                # The first of them may be the end of a line the previous piece began: it holds something.
                self.count += ends - empty + (self.open and parts[0] == b"")
                self.open = parts[-1] != b""
            else:
                self.open = self.open or chunk != b""
            return
        for part in parts[:-1]:
            if self.open or part.strip(b"\r"):
                self.count += 1
            self.open = False
        self.open = self.open or bool(parts[-1].strip(b"\r"))

    def total(self) -> int:
        return self.count + (1 if self.open else 0)


def iter_bytes(path: Path, chunk_bytes: int = _CHUNK) -> Iterator[bytes]:
    """The content of a plain or gzipped file (by its first bytes, not its name) in pieces of at most
    ``chunk_bytes``, however well the data compresses; concatenated gzip members are read one after another.

    A truncated or damaged gzip file raises ``CorruptCompressionError`` naming the file and how far it read."""
    with open(path, "rb") as raw:
        if raw.read(2) != _GZIP_MAGIC:
            raw.seek(0)
            while piece := raw.read(chunk_bytes):
                yield piece
            return
        raw.seek(0)
        decoder = zlib.decompressobj(wbits=47)
        pending, produced, started = b"", 0, False
        while True:
            if not pending:
                pending = raw.read(_CHUNK)
                if not pending:
                    break
            if not started:
                pending = pending.lstrip(b"\0")  # zero padding after the last member, as gzip tolerates
                if not pending:
                    continue
            try:
                out = decoder.decompress(pending, chunk_bytes)
            except zlib.error:
                raise CorruptCompressionError(
                    f"{path}: damaged gzip data after {produced:,} decompressed bytes", file=path.name
                ) from None
            started = True
            if decoder.eof:  # end of one gzip member; another may follow
                pending = decoder.unused_data
                decoder, started = zlib.decompressobj(wbits=47), False
            else:
                pending = decoder.unconsumed_tail
            if out:
                produced += len(out)
                yield out
        if started and not decoder.eof:
            raise CorruptCompressionError(
                f"{path}: gzip data ends early (truncated after {produced:,} decompressed bytes)", file=path.name
            )


def file_stats(path: Path) -> FileStats:
    """Lines, size and SHA-256 of a landed file; the hash runs in a thread of its own (hashlib releases the GIL)
    while this one counts, so the two passes over the file take the time of the longer one."""
    with ThreadPoolExecutor(max_workers=1) as hasher:
        digest = hasher.submit(sha256_file, path)
        lines = count_lines(path)
        return FileStats(lines=lines, bytes=path.stat().st_size, sha256=digest.result())


_CANONICAL_NAME = re.compile(r"^(?P<type>[A-Z][A-Za-z]+)(?:\.\d{3})?\.ndjson(?:\.gz)?$")
WITHHELD_NAME = "(file name withheld)"


def public_resource_type(name: str | None) -> str:
    """A resource type as logs and metadata may show it: a FHIR R4 resource type, else ``unknown-type``."""
    from healthcare_assets.fhir.views.fhir_model import r4_model

    return name if name and r4_model().is_resource(name) else "unknown-type"


def public_file_name(path: str | Path) -> str:
    """A landed file's name as logs, metadata and error messages outside the PHI zone may show it.

    Landing names typed files ``<Type>[.NNN].ndjson[.gz]``; a name whose type is a FHIR R4 resource type says
    nothing about a person. Anything else (a rejected file keeps the name the source gave it, and a name's
    "type" may be any capitalised word) is withheld: a file name is free text that a sender controls.
    """
    from healthcare_assets.fhir.views.fhir_model import r4_model

    name = Path(path).name
    match = _CANONICAL_NAME.match(name)
    if match and r4_model().is_resource(match["type"]):
        return name
    return WITHHELD_NAME
