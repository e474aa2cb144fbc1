"""NDJSON files as Bulk Data writes them: one resource per line, one type per file, optionally gzipped."""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from healthcare_assets.audit.canonical import sha256_file
from healthcare_assets.warehouse.duckdb_store import sql_literal

NDJSON_SUFFIXES = (".ndjson", ".ndjson.gz")
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20
# Resource type names: an upper-case letter then letters (FHIR R4/R5 resource names).
_TYPE_TOKEN = re.compile(r"^[A-Z][A-Za-z]+$")


class NdjsonError(ValueError):
    """A file is not usable as FHIR NDJSON; the message names the file (and line where there is one)."""


@dataclass(frozen=True)
class FileStats:
    """What a manifest records of one landed file."""

    lines: int
    bytes: int
    sha256: str


def lines_sql(path: Path, compressed: bool) -> str:
    """DuckDB relation ``(line VARCHAR)`` with every line of ``path`` whole and in file order (blank lines as
    NULL): a NUL delimiter and no quoting keep ``read_csv`` from splitting anything a JSON line can hold."""
    compression = ", compression='gzip'" if compressed else ""
    return (
        f"read_csv({sql_literal(path)}, columns={{'line': 'VARCHAR'}}, header=false, delim='\\0', quote='', "
        f"escape='', auto_detect=false, strict_mode=false{compression})"
    )


def is_ndjson_name(path: Path) -> bool:
    return path.name.endswith(NDJSON_SUFFIXES)


def is_gzip(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(2) == _GZIP_MAGIC


def open_text(path: Path):
    """Open plain or gzipped NDJSON for reading text, deciding by content, not by name."""
    if is_gzip(path):
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


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
    """Resource type of the first parseable line (for files whose names say nothing)."""
    with open_text(path) as handle:
        for index, line in enumerate(handle):
            if index >= max_lines:
                break
            if not line.strip():
                continue
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(value, dict) and isinstance(value.get("resourceType"), str):
                return value["resourceType"]
    return None


def resource_type_of(path: Path) -> str:
    found = type_from_name(path) or type_from_content(path)
    if not found:
        raise NdjsonError(f"{path}: cannot tell the resource type from the file name or its first lines")
    return found


def count_lines(path: Path) -> int:
    """Lines holding anything but a line ending, in a plain or gzipped file, streaming.

    A blank line is not a resource, so it is not counted (the profiler skips blank lines the same way).
    """
    count, open_line = 0, False
    for chunk in _iter_decompressed(path):
        parts = chunk.split(b"\n")
        for part in parts[:-1]:
            if open_line or part.strip(b"\r"):
                count += 1
            open_line = False
        open_line = open_line or bool(parts[-1].strip(b"\r"))
    return count + (1 if open_line else 0)


def _iter_decompressed(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as raw:
        if raw.read(2) == _GZIP_MAGIC:
            raw.seek(0)
            decoder = zlib.decompressobj(wbits=47)
            while chunk := raw.read(_CHUNK):
                data = decoder.decompress(chunk)
                while decoder.unused_data:  # concatenated gzip members
                    rest = decoder.unused_data
                    data += decoder.flush()
                    decoder = zlib.decompressobj(wbits=47)
                    data += decoder.decompress(rest)
                if data:
                    yield data
            tail = decoder.flush()
            if tail:
                yield tail
        else:
            raw.seek(0)
            while chunk := raw.read(_CHUNK):
                yield chunk


def file_stats(path: Path) -> FileStats:
    return FileStats(lines=count_lines(path), bytes=path.stat().st_size, sha256=sha256_file(path))
