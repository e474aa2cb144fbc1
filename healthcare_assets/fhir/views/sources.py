"""Where resources come from: NDJSON files (read with a schema derived from the view) or an existing table.

The schema matters: DuckDB's guessing types a UUID-looking ``id`` as UUID and a date column as DATE, and then fails
on the first partial date ("2019-03") or non-UUID id. Reading exactly the elements the view uses, typed from the
FHIR model, is both correct and fast (DuckDB skips everything else while parsing).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from healthcare_assets.fhir.views.values import ident, literal

_NDJSON_NAME = re.compile(r"\.(ndjson|jsonl|json)(\.gz|\.zst)?$")


@dataclass(frozen=True)
class NdjsonSource:
    """One or more NDJSON files (plain or gzipped; globs allowed), one resource per line."""

    paths: tuple[str, ...]

    def relation(self, columns: dict[str, str]) -> str:
        files = "[" + ", ".join(literal(p) for p in self.paths) + "]"
        schema = "{" + ", ".join(f"{literal(k)}: {literal(t)}" for k, t in columns.items()) + "}"
        # records=true: every line is one object; without it DuckDB may auto-detect "values" mode and return
        # whole lines as text when a file holds a non-object line.
        return f"read_json({files}, format='newline_delimited', records=true, columns={schema})"


@dataclass(frozen=True)
class TableSource:
    """A table (or view) with one resource per row: in a JSON column (``json_column``), or already flattened
    into one column per top-level element (``json_column=None``, as ``read_json`` would produce)."""

    name: str
    json_column: str | None = "resource"

    def relation(self, columns: dict[str, str]) -> str:
        table = ".".join(ident(part) for part in self.name.split("."))
        if self.json_column is None:
            return table
        structure = literal(json.dumps(columns))
        return f"(SELECT unnest(json_transform({ident(self.json_column)}, {structure})) FROM {table})"


Source = NdjsonSource | TableSource


def _files_for(directory: Path, resource: str) -> tuple[str, ...]:
    """NDJSON files of one resource type in a Bulk Data export folder (``Patient.ndjson``, ``Patient.001.ndjson.gz``,
    ``1.Patient.ndjson``): a name token must equal the type, so ``ObservationDefinition`` is not ``Observation``."""
    found = []
    for path in sorted(directory.iterdir()):
        if path.is_file() and _NDJSON_NAME.search(path.name) and resource in re.split(r"[._\-]", path.name):
            found.append(str(path))
    if not found:
        raise FileNotFoundError(f"no NDJSON file for {resource} in {directory}")
    return tuple(found)


def as_source(source: Source | str | Path | Sequence[str | Path], resource: str) -> Source:
    """Interpret ``source``: a Source; a directory (the resource's files in it); NDJSON file path(s) or globs; or a
    plain table name (a string without path separators or file suffix), read from its ``resource`` JSON column."""
    if isinstance(source, NdjsonSource | TableSource):
        return source
    if isinstance(source, str) and not ("/" in source or "*" in source or _NDJSON_NAME.search(source)):
        if not Path(source).exists():
            return TableSource(source)
    if isinstance(source, str | Path):
        path = Path(source)
        return NdjsonSource(_files_for(path, resource) if path.is_dir() else (str(path),))
    return NdjsonSource(tuple(str(p) for p in source))
