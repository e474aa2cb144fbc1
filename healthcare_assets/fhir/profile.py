"""Profile one landed batch with DuckDB, straight from the NDJSON, and quarantine what cannot be used.

Every line is read as text with its line number (``read_csv`` with a NUL delimiter keeps each line whole and in
file order) and parsed by DuckDB's JSON functions; nothing is loaded into Python objects. One scan per file
records a compact fact per line (type, id, hash, line numbers) for quarantine and de-duplication, and the
element keys, code systems, times and references of each usable line, which are aggregated (element presence,
code systems, time ranges, reference targets) before the next file is read, so memory holds one file's
extractions, never its text. Presence, systems and times count well-formed lines of the file's type, so a
superseded copy of a resource counts too (copies are rare: the profile reports how many).
Before DuckDB reads a file, ``fhir.screen`` classifies its bytes line by line: lines that are not UTF-8, longer
than the configured limit, or split by a stray carriage return are quarantined there and replaced by ``{}`` in
a readable copy (``quarantine/readable/``) that every later reader uses instead (``readable_files``), so no
reader can fail on them or quote them in an error. Files rejected as a whole at landing (unknown type,
damaged gzip) have every line quarantined.
Quarantined lines (those, malformed JSON, not an object, wrong ``resourceType`` for the file, missing id) are
written with file, line and reason to ``quarantine/`` inside the batch (PHI zone). Working files also stay in
the PHI zone.

The structural check is the gate after landing: the quarantine rate and the rate of references that resolve
to no resource in the batch must stay under configurable limits.
"""

from __future__ import annotations

import os
import shutil
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import orjson
import polars as pl

from healthcare_assets.config import private_file
from healthcare_assets.errors import about_file
from healthcare_assets.fhir.compartment import COMPARTMENT_LEVELS, PATIENT_COMPARTMENT_R4, export_level
from healthcare_assets.fhir.landing import LandedBatch
from healthcare_assets.fhir.ndjson import lines_sql, public_file_name
from healthcare_assets.fhir.screen import (
    DEFAULT_MAX_LINE_BYTES,
    REASONS,
    ScreenResult,
    screen_file,
    validate_max_line_bytes,
    write_readable_copy,
)
from healthcare_assets.warehouse.duckdb_store import quiet, sql_literal

QUARANTINE_DIR = "quarantine"
# Lines downstream readers must skip: quarantined ones and superseded copies of a repeated id. Each is named by
# ``line`` (physical, for people) and ``record_no`` (ordinal among non-blank lines, which is the row number
# DuckDB's ``read_json`` gives a line, so readers can skip them without re-reading lines as text).
EXCLUDED_FILE = "excluded_lines.parquet"
PROFILE_FILE = "profile.json"
# Inside quarantine/: how each landed file is to be read (its readable copy, if it needed one).
SCREEN_FILE = "screen.json"
READABLE_DIR = "readable"
# The type column of files whose resource type is unknown (rejected at landing).
UNKNOWN_TYPE = "(unknown)"
# Quarantined lines named (file, line, reason; never content) in the gate's message and the metadata.
SAMPLE_SIZE = 5
# Time elements looked at for time ranges, whatever the type (absent ones are simply not reported).
TIME_PATHS: tuple[str, ...] = (
    "birthDate",
    "deceasedDateTime",
    "period.start",
    "period.end",
    "effectiveDateTime",
    "effectivePeriod.start",
    "effectivePeriod.end",
    "issued",
    "onsetDateTime",
    "recordedDate",
    "abatementDateTime",
    "authoredOn",
    "performedDateTime",
    "performedPeriod.start",
    "performedPeriod.end",
    "meta.lastUpdated",
)


@dataclass(frozen=True)
class ProfileLimits:
    """Gate thresholds; rates are fractions (0.01 = 1 %)."""

    max_quarantine_rate: float = 0.01
    max_dangling_rate: float = 0.01
    # Lines that are older copies of a resource sent again (Synthea repeats shared resources: about 1.4 %).
    max_superseded_rate: float = 0.5

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")


@dataclass
class TypeCounts:
    """Per type: ``lines`` = ``accepted`` (distinct resources) + ``quarantined`` + ``superseded``.

    ``id_checksum`` (XOR of DuckDB hashes of the accepted ids) lets a later reader prove it kept exactly the
    same resources without shipping the ids around.
    """

    resource_type: str
    files: int
    lines: int
    accepted: int
    quarantined: int
    superseded: int
    superseded_conflicting: int
    id_checksum: str


@dataclass
class ProfileResult:
    batch_id: str
    types: list[TypeCounts]
    quarantine_reasons: dict[str, int]
    element_presence: list[dict[str, Any]]
    code_systems: list[dict[str, Any]]
    time_ranges: list[dict[str, Any]]
    references: list[dict[str, Any]]
    limits: ProfileLimits
    quarantine_file: str
    bytes_read: int
    seconds: float
    failures: list[str] = field(default_factory=list)
    duplicates: dict[str, int] = field(default_factory=dict)
    level: str | None = None  # Bulk export level (patient/group limit references to the patient compartment)
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    rejected_files: list[dict[str, Any]] = field(default_factory=list)  # path, type, reason, lines
    quarantine_sample: list[dict[str, Any]] = field(default_factory=list)  # file, line, reason_kind

    @property
    def lines(self) -> int:
        return sum(t.lines for t in self.types)

    @property
    def accepted(self) -> int:
        return sum(t.accepted for t in self.types)

    @property
    def quarantined(self) -> int:
        return sum(t.quarantined for t in self.types)

    @property
    def superseded(self) -> int:
        return sum(t.superseded for t in self.types)

    @property
    def quarantine_rate(self) -> float:
        return self.quarantined / self.lines if self.lines else 0.0

    @property
    def superseded_rate(self) -> float:
        return self.superseded / self.lines if self.lines else 0.0

    @property
    def references_total(self) -> int:
        return sum(r["total"] for r in self.references)

    @property
    def references_dangling(self) -> int:
        return sum(r["dangling"] for r in self.references)

    @property
    def references_unexported(self) -> int:
        return sum(r["unexported"] for r in self.references)

    @property
    def references_outside_compartment(self) -> int:
        return sum(r.get("outside_compartment", 0) for r in self.references)

    @property
    def dangling_rate(self) -> float:
        """Dangling references among those that should resolve (target type in the batch and, for Patient and
        Group exports, inside the patient compartment)."""
        total = self.references_total - self.references_unexported - self.references_outside_compartment
        return self.references_dangling / total if total else 0.0

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(
            lines=self.lines,
            accepted=self.accepted,
            quarantined=self.quarantined,
            superseded=self.superseded,
            quarantine_rate=self.quarantine_rate,
            references_total=self.references_total,
            references_dangling=self.references_dangling,
            references_unexported=self.references_unexported,
            references_outside_compartment=self.references_outside_compartment,
            dangling_rate=self.dangling_rate,
            superseded_rate=self.superseded_rate,
            passed=self.passed,
        )
        return data


def profile_batch(
    batch: LandedBatch,
    limits: ProfileLimits = ProfileLimits(),
    threads: int = 2,
    memory_limit: str = "4GB",
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
) -> ProfileResult:
    """Profile ``batch`` and write ``profile.json`` and ``quarantine/`` into its folder.

    Lines longer than ``max_line_bytes`` are quarantined unread (``line_too_long``)."""
    validate_max_line_bytes(max_line_bytes)
    started = time.perf_counter()
    batch_dir = batch.batch_dir
    work = batch_dir / ".profile-work"
    staging = batch_dir / f".{QUARANTINE_DIR}-tmp"
    for folder in (work, staging):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(mode=0o700)
        os.chmod(folder, 0o700)
    # In memory, spilling to the PHI zone only when the batch does not fit.
    con = quiet(duckdb.connect(":memory:"))
    try:
        con.execute(f"SET threads = {int(threads)}")
        con.execute("SET temp_directory = ?", [str(work / "spill")])
        con.execute("SET preserve_insertion_order = true")
        con.execute(f"SET memory_limit = '{memory_limit}'")
        screen_index = _load_facts(con, batch, staging, max_line_bytes)
        _rank(con, max_line_bytes)
        result = ProfileResult(
            batch_id=batch.manifest["batch_id"],
            types=_type_counts(con),
            quarantine_reasons=dict(
                con.execute(
                    "SELECT reason_kind, count(*) FROM ranked WHERE reason IS NOT NULL GROUP BY 1 ORDER BY 1"
                ).fetchall()
            ),
            element_presence=_element_presence(con),
            code_systems=_rows(
                con,
                """SELECT rt AS resource_type, a AS system, sum(n) AS occurrences
                   FROM agg WHERE kind = 'system' GROUP BY ALL ORDER BY 1, 3 DESC, 2""",
            ),
            time_ranges=_time_ranges(con),
            references=_references(con, export_level(batch.manifest)),
            limits=limits,
            quarantine_file=str(Path(QUARANTINE_DIR) / "quarantine.ndjson"),
            bytes_read=sum(int(f["bytes"]) for f in batch.manifest["files"]),
            seconds=0.0,
            level=export_level(batch.manifest),
            max_line_bytes=max_line_bytes,
            rejected_files=_rejected_files(con),
            quarantine_sample=_rows(
                con,
                f"""SELECT parse_filename(path) AS file, line_no AS line, reason_kind FROM ranked
                    WHERE reason IS NOT NULL ORDER BY file_idx, line_no LIMIT {SAMPLE_SIZE}""",
            ),
        )
        _write_quarantine(con, batch_dir, staging, screen_index)
    finally:
        con.close()
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(staging, ignore_errors=True)
    result.duplicates = _duplicates(result.types)
    result.failures = _failures(result)
    result.seconds = round(time.perf_counter() - started, 3)
    _write_json(batch_dir / PROFILE_FILE, result.to_json())
    return result


def load_profile(batch_dir: Path) -> dict[str, Any]:
    return orjson.loads((batch_dir / PROFILE_FILE).read_bytes())


@dataclass(frozen=True)
class ReadableFile:
    """How to read one landed file safely: the file itself, or its screened copy when it needed one."""

    path: Path
    compressed: bool
    max_line_bytes: int | None  # for DuckDB's line reader; None: its default suffices

    def lines_sql(self) -> str:
        return lines_sql(self.path, self.compressed, self.max_line_bytes)


def readable_files(batch: LandedBatch) -> dict[str, ReadableFile]:
    """For every typed file of the manifest (by its manifest path), what readers downstream of the profile read.

    A batch profiled before screening existed has no index: its files are read as they are."""
    index_path = batch.batch_dir / QUARANTINE_DIR / SCREEN_FILE
    index = orjson.loads(index_path.read_bytes())["files"] if index_path.exists() else {}
    found = {}
    for entry in batch.manifest["files"]:
        known = index.get(entry["path"])
        if known is None:
            found[entry["path"]] = ReadableFile(batch.batch_dir / entry["path"], bool(entry.get("compressed")), None)
        else:
            found[entry["path"]] = ReadableFile(
                batch.batch_dir / known["read_path"], bool(known["compressed"]), known["max_line_bytes"]
            )
    return found


# Line classes without copying long strings (trim/ltrim on every line cost more than parsing it): only short
# lines can be blank, and the first character is tested before any regular expression.
_CLASSIFY = """CASE WHEN line IS NULL THEN 'blank'
    WHEN length(line) < 16 AND regexp_full_match(line, '[ \t\r]*') THEN 'blank'
    WHEN f IS NULL AND NOT json_valid(line) THEN 'malformed'
    WHEN NOT (starts_with(line, '{') OR regexp_matches(line, '^[ \t\r]*[{]')) THEN 'not_object'
    ELSE 'ok' END"""
# The facts (type, id) and every time path share one parse: ``f[1]`` type, ``f[2]`` id, ``f[3:]`` the times in
# ``TIME_PATHS`` order (paths without wildcards can share a call; its cost is the parse, not the paths).
_FACT_PATHS = ("$.resourceType", "$.id", *(f"$.{p}" for p in TIME_PATHS))
_LAST_UPDATED = 3 + TIME_PATHS.index("meta.lastUpdated")  # its position in the extraction (1-based)
_FACTS_OF = "json_extract_string(line, [" + ", ".join(f"'{p}'" for p in _FACT_PATHS) + "])"
# Two ways to skip malformed lines, with the same result. ``try`` costs nothing on clean lines, but a chunk
# (2,048 lines) holding one malformed line is evaluated again line by line: about 2 ms per malformed line.
# Testing ``json_valid`` first costs a second parse of every line (about 0.25 us). Past one malformed line in
# 8,000 the test is cheaper (a 1.46 GB file with one in 2,000: 2.5 s against 1.2 s for these facts).
_FACT_PATHS_OF_LINE = f"CASE WHEN line IS NOT NULL THEN try({_FACTS_OF}) END"
_FACT_PATHS_OF_VALID_LINE = f"CASE WHEN line IS NOT NULL AND json_valid(line) THEN {_FACTS_OF} END"
# The screen's count of lines not ending in ``}`` bounds the malformed ones that are truncated (the usual kind).
TEST_VALIDITY_FIRST_ABOVE = 1 / 8000


# Computes its argument once per row: a filter on a derived column otherwise gets the column's expression
# inlined (DuckDB pushes filters through projections), so each JSON extraction would run once more per use.
def _once(expr: str) -> str:
    return f"unnest([{expr}])"


_REF = r"(?:^|/)([A-Z][A-Za-z]+)/([^/]+?)(?:/_history/[^/]+)?$"


def _load_facts(
    con: duckdb.DuckDBPyConnection, batch: LandedBatch, staging: Path, max_line_bytes: int
) -> dict[str, dict[str, Any]]:
    """Screen, then read, every file; returns the screen index (how each typed file is to be read)."""
    con.execute("CREATE TABLE files (file_idx INTEGER, path VARCHAR, file_type VARCHAR, rejected VARCHAR)")
    con.execute(
        """CREATE TABLE facts (file_idx INTEGER, line_no BIGINT, record_no BIGINT, status VARCHAR, rt VARCHAR,
           id VARCHAR, last_updated VARCHAR, line_hash UBIGINT, bad_text VARCHAR)"""
    )
    con.execute("CREATE TABLE screened (file_idx INTEGER, line_no BIGINT, reason VARCHAR, bytes BIGINT, text VARCHAR)")
    con.execute(
        "CREATE TABLE agg (rt VARCHAR, kind VARCHAR, a VARCHAR, b VARCHAR, n BIGINT, min_b VARCHAR, max_b VARCHAR)"
    )
    index: dict[str, dict[str, Any]] = {}
    entries = [(e, None) for e in batch.manifest["files"]]
    entries += [(e, e["reason"]) for e in batch.manifest.get("rejected_files", [])]
    for file_idx, (entry, rejected) in enumerate(entries):
        name, path = entry["path"], batch.batch_dir / entry["path"]
        file_type = entry.get("type") or UNKNOWN_TYPE
        con.execute("INSERT INTO files VALUES (?, ?, ?, ?)", [file_idx, name, file_type, rejected])
        with about_file(name):
            screened = screen_file(path, max_line_bytes, reject_reason=rejected)
        _insert_screened(con, file_idx, screened)
        if rejected:  # nothing of it is read: every line is quarantined with the file's reason
            con.execute(
                """INSERT INTO facts SELECT file_idx, line_no, row_number() OVER (ORDER BY line_no), 'screened',
                       NULL, NULL, NULL, NULL, NULL FROM screened WHERE file_idx = ?""",
                [file_idx],
            )
            continue
        read_path, compressed = path, bool(entry.get("compressed"))
        if screened.needs_copy:
            read_path = staging / READABLE_DIR / Path(name).name.removesuffix(".gz")
            read_path.parent.mkdir(mode=0o700, exist_ok=True)
            with about_file(name):
                write_readable_copy(path, screened, read_path, max_line_bytes)
            compressed = False
        needed = screened.longest_line + 1024
        index[name] = {
            "read_path": str(Path(QUARANTINE_DIR) / read_path.relative_to(staging)) if read_path != path else name,
            "compressed": compressed,
            "max_line_bytes": needed,
            "screened": screened.counts(),
        }
        reader = lines_sql(read_path, compressed, needed)
        validity_first = screened.unclosed_lines > TEST_VALIDITY_FIRST_ABOVE * screened.hinted_lines
        with about_file(name):
            _line_facts(con, file_idx, file_type, reader, validity_first)
            _aggregates(con, file_type)
            con.execute("DROP TABLE _lines")
    return index


def _insert_screened(con: duckdb.DuckDBPyConnection, file_idx: int, screened: ScreenResult) -> None:
    if not screened.bad_lines:
        return
    frame = pl.DataFrame(
        {
            "file_idx": pl.Series([file_idx] * len(screened.bad_lines), dtype=pl.Int32),
            "line_no": pl.Series(screened.bad_lines, dtype=pl.Int64),
            "reason": pl.Series(screened.bad_reasons, dtype=pl.Utf8),
            "bytes": pl.Series(screened.bad_lengths, dtype=pl.Int64),
            "text": pl.Series([screened.previews.get(n) for n in screened.bad_lines], dtype=pl.Utf8),
        }
    )
    con.register("_screened_in", frame)
    try:
        con.execute("INSERT INTO screened SELECT * FROM _screened_in")
    finally:
        con.unregister("_screened_in")


def _line_facts(
    con: duckdb.DuckDBPyConnection, index: int, file_type: str, reader: str, validity_first: bool = False
) -> None:
    """The one scan of the file: a compact fact per non-blank line (for quarantine, de-duplication and the
    exclusion list) and, for the lines the aggregates describe, what they aggregate.

    Each extraction parses the line once: the facts' extraction fails exactly on the lines ``json_valid``
    rejects (same parser, same flags), so ``try`` turns it into the validity test and ``json_valid`` only
    confirms the failures; in a file with many malformed lines (``validity_first``) ``json_valid`` tests every
    line before the extraction instead, which gives the same facts faster there. The times come out of that
    same extraction (``_FACT_PATHS``); element keys, code systems and references are extracted in the same scan
    (wildcard paths cannot share a call, so they are one parse each), only for candidate lines: well-formed, of
    the file's type, with an id. ``_lines`` holds one row per line (blank ones too) in file order (insertion
    order is preserved), so its row ids are the line numbers. One scan of the file keeps every parse running on
    all threads; pairing the file's lines with the facts again (``POSITIONAL JOIN``) for a second pass ran on
    one."""
    candidate = f"coalesce(status = 'ok' AND f[1] = {sql_literal(file_type)} AND coalesce(f[2], '') <> '', false)"
    facts = _FACT_PATHS_OF_VALID_LINE if validity_first else _FACT_PATHS_OF_LINE
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _lines AS
        WITH extracted AS (SELECT line, {_once(facts)} AS f FROM {reader}),
        classified AS (SELECT line, f, {_once(_CLASSIFY)} AS status FROM extracted),
        flagged AS (SELECT line, f, status, {_once(candidate)} AS candidate FROM classified)
        SELECT status,
            CASE WHEN status = 'ok' THEN [f[1], f[2], f[{_LAST_UPDATED}]] END AS f,
            CASE WHEN status = 'ok' THEN hash(line) END AS line_hash,
            CASE WHEN status IN ('malformed', 'not_object') THEN left(line, 10000) END AS bad_text,
            candidate,
            CASE WHEN candidate THEN json_keys(line) END AS ks,
            CASE WHEN candidate THEN json_extract_string(line, '$..coding[*].system') END AS sys,
            CASE WHEN candidate THEN f[3:] END AS t,
            CASE WHEN candidate THEN json_extract_string(line, '$..reference') END AS refs
        FROM flagged"""
    )
    con.execute(
        f"""INSERT INTO facts
        SELECT {index}, rowid + 1, row_number() OVER (ORDER BY rowid), status, f[1], f[2], f[3], line_hash, bad_text
        FROM _lines WHERE status <> 'blank'"""
    )


def _aggregates(con: duckdb.DuckDBPyConnection, file_type: str) -> None:
    """Element presence, code systems, time ranges and reference targets of the file's candidate lines
    (extracted by ``_line_facts``).

    Lines are grouped by their set of elements and of code systems (few distinct combinations), times by plain
    min/max, references by their raw text (parsed once per distinct reference): nothing per line is kept.
    """
    rt = sql_literal(file_type)
    time_aggs = ", ".join(
        f"count(t[{i}]) AS n{i}, min(t[{i}]) AS lo{i}, max(t[{i}]) AS hi{i}" for i in range(1, len(TIME_PATHS) + 1)
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _sets AS
        SELECT ks, sys, count(*) AS n, {time_aggs} FROM _lines WHERE candidate GROUP BY ks, sys"""
    )
    times = " UNION ALL ".join(
        f"SELECT {rt}, 'time', '{path}', NULL, sum(n{i}), min(lo{i}), max(hi{i}) FROM _sets HAVING sum(n{i}) > 0"
        for i, path in enumerate(TIME_PATHS, start=1)
    )
    con.execute(
        f"""INSERT INTO agg
        SELECT {rt}, 'key', k, NULL, sum(n), NULL, NULL FROM _sets, unnest(ks) AS u(k) GROUP BY k
        UNION ALL
        SELECT {rt}, 'system', v, NULL, sum(n), NULL, NULL FROM _sets, unnest(sys) AS u(v) GROUP BY v
        UNION ALL {times}"""
    )
    con.execute(
        f"""INSERT INTO agg
        WITH raw AS (
            SELECT r, count(*) AS n
            FROM (SELECT unnest(refs) AS r FROM _lines WHERE candidate)
            WHERE r IS NOT NULL AND NOT starts_with(r, '#') GROUP BY r)
        SELECT {rt}, 'ref', t, i, sum(n), NULL, NULL FROM (
            SELECT n,
                nullif(m.t, '') AS t,
                CASE WHEN starts_with(r, 'urn:uuid:') THEN substr(r, 10) ELSE nullif(m.i, '') END AS i
            -- One match per reference for both groups (a struct of the named captures; NULL for urn:uuid).
            FROM (SELECT n, r,
                      CASE WHEN NOT starts_with(r, 'urn:uuid:') THEN regexp_extract(r, $ref, ['t', 'i']) END AS m
                  FROM raw))
        GROUP BY ALL""",
        {"ref": _REF},
    )


def _rank(con: duckdb.DuckDBPyConnection, max_line_bytes: int) -> None:
    """Give each line its fate: quarantined (with a reason), superseded by another copy of its id, or kept.

    Several lines with one type and id are versions of one resource, not bad data (Synthea repeats shared
    Practitioner and Organization resources; exports concatenate): the copy with the latest
    ``meta.lastUpdated`` is kept, else the last one in file order, as an upsert stream would.
    """
    screen_cases = " ".join(f"WHEN '{k}' THEN {sql_literal(v)}" for k, v in REASONS.items() if k != "line_too_long")
    sql = """CREATE TABLE ranked AS
        WITH base AS (
            SELECT f.* REPLACE (coalesce(s.text, f.bad_text) AS bad_text), files.file_type, files.path,
                s.bytes AS screened_bytes,
                CASE
                    WHEN s.reason IS NOT NULL THEN s.reason
                    WHEN status = 'malformed' THEN 'malformed_json'
                    WHEN status = 'not_object' THEN 'not_an_object'
                    WHEN rt IS NULL THEN 'missing_resource_type'
                    WHEN rt <> files.file_type THEN 'type_mismatch'
                    WHEN id IS NULL OR id = '' THEN 'missing_id'
                END AS reason_kind
            FROM facts f JOIN files USING (file_idx) LEFT JOIN screened s USING (file_idx, line_no)),
        versions AS (
            SELECT *,
                count(*) OVER w AS copies,
                row_number() OVER newest_first AS version_rank,
                first_value(line_hash) OVER newest_first AS kept_hash
            FROM base WHERE reason_kind IS NULL
            WINDOW w AS (PARTITION BY rt, id),
                newest_first AS (w ORDER BY last_updated DESC NULLS LAST, file_idx DESC, line_no DESC))
        SELECT b.*, coalesce(v.copies, 0) AS copies,
            v.version_rank > 1 AS superseded,
            v.version_rank > 1 AND v.line_hash <> v.kept_hash AS conflicting,
            CASE b.reason_kind
                WHEN 'line_too_long' THEN 'line of ' || format('{:,}', b.screened_bytes)
                    || ' bytes exceeds the limit of ' || format('{:,}', $max_line) || ' bytes'
                SCREEN_CASES
                WHEN 'malformed_json' THEN 'malformed JSON'
                WHEN 'not_an_object' THEN 'line is JSON but not an object'
                WHEN 'missing_resource_type' THEN 'no resourceType'
                WHEN 'type_mismatch' THEN 'resourceType ' || b.rt || ' in a ' || b.file_type || ' file'
                WHEN 'missing_id' THEN 'resource has no id'
            END AS reason
        FROM base b LEFT JOIN versions v USING (file_idx, line_no)"""
    con.execute(sql.replace("SCREEN_CASES", screen_cases), {"max_line": max_line_bytes})
    con.execute("CREATE VIEW accepted AS SELECT * FROM ranked WHERE reason IS NULL AND NOT superseded")


def _type_counts(con: duckdb.DuckDBPyConnection) -> list[TypeCounts]:
    rows = con.execute(
        """SELECT files.file_type, count(DISTINCT files.file_idx), count(r.line_no),
                  count(r.line_no) FILTER (WHERE r.reason IS NULL AND NOT r.superseded), count(r.reason),
                  count(r.line_no) FILTER (WHERE r.superseded),
                  count(r.line_no) FILTER (WHERE r.conflicting),
                  coalesce(bit_xor(hash(r.id)) FILTER (WHERE r.reason IS NULL AND NOT r.superseded), 0)::VARCHAR
           FROM files LEFT JOIN ranked r USING (file_idx) GROUP BY 1 ORDER BY 1"""
    ).fetchall()
    return [TypeCounts(*row) for row in rows]


def _element_presence(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    return _rows(
        con,
        """WITH lines AS (SELECT rt, count(*) AS n FROM ranked WHERE reason IS NULL GROUP BY rt)
           SELECT a.rt AS resource_type, a.a AS element, sum(a.n) AS present,
                  round(sum(a.n) / any_value(l.n), 4) AS rate
           FROM agg a JOIN lines l USING (rt) WHERE a.kind = 'key'
           GROUP BY ALL ORDER BY 1, 4 DESC, 2""",
    )


def _time_ranges(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    return _rows(
        con,
        """SELECT rt AS resource_type, a AS element, sum(n) AS present, min(min_b) AS min, max(max_b) AS max,
                  left(min(min_b), 4) AS min_year, left(max(max_b), 4) AS max_year
           FROM agg WHERE kind = 'time' GROUP BY ALL ORDER BY 1, 2""",
    )


def _references(con: duckdb.DuckDBPyConnection, level: str | None = None) -> list[dict[str, Any]]:
    """References by source and target type; contained (``#id``) ones are internal and not counted.

    A reference to a type the batch does not hold at all (an export asked for ``_type=Patient,Encounter``
    while encounters name their practitioners) cannot resolve by construction: it is counted as
    ``unexported``, not as dangling. In a Patient- or Group-level export (``level``), an unresolved reference
    to a type outside the patient compartment (Practitioner, Organization, ...) is ``outside_compartment``:
    the IG lets the server leave such resources out, or send only some. Dangling means the reference should
    have resolved and did not.
    """
    outside = "false"
    if level in COMPARTMENT_LEVELS:
        names = ", ".join(sql_literal(t) for t in sorted(PATIENT_COMPARTMENT_R4))
        outside = f"(p.t IS NOT NULL AND k.id IS NULL AND p.t NOT IN ({names}))"
    return _rows(
        con,
        f"""WITH refs AS (SELECT rt AS source_type, a AS t, b AS i, n FROM agg WHERE kind = 'ref'),
            keys AS (SELECT DISTINCT rt, id FROM accepted),
            ids AS (SELECT DISTINCT id FROM accepted),
            present AS (SELECT DISTINCT file_type AS t FROM files),
            classified AS (
                SELECT source_type, p.t, n, {outside} AS outside,
                       k.id IS NULL AND u.id IS NULL AND (p.t IS NULL OR t.t IS NOT NULL) AS unresolved,
                       p.t IS NOT NULL AND t.t IS NULL AS unexported
                FROM refs p
                LEFT JOIN present t ON t.t = p.t
                LEFT JOIN keys k ON p.t IS NOT NULL AND k.rt = p.t AND k.id = p.i
                LEFT JOIN ids u ON p.t IS NULL AND u.id = p.i)
            SELECT source_type, coalesce(t, '(any)') AS target_type, sum(n) AS total,
                   coalesce(sum(n) FILTER (WHERE unresolved AND NOT outside), 0) AS dangling,
                   coalesce(sum(n) FILTER (WHERE unexported AND NOT outside), 0) AS unexported,
                   coalesce(sum(n) FILTER (WHERE outside), 0) AS outside_compartment
            FROM classified GROUP BY ALL ORDER BY 1, 2""",
    )


def _write_quarantine(
    con: duckdb.DuckDBPyConnection, batch_dir: Path, staging: Path, screen_index: dict[str, dict[str, Any]]
) -> None:
    """Quarantined lines with file, line, reason and the raw text (PHI: it stays in the batch folder), the lines
    readers must skip, the readable copies and the screen index; swapped in as one folder."""
    target = batch_dir / QUARANTINE_DIR
    query = """SELECT path AS file, line_no AS line, reason_kind, reason, rt AS resource_type, id, bad_text AS text
               FROM ranked WHERE reason IS NOT NULL ORDER BY file_idx, line_no"""
    con.execute(f"COPY ({query}) TO '{staging / 'quarantine.ndjson'}' (FORMAT json)")
    con.execute(
        f"""COPY (SELECT path AS file, line_no AS line, record_no, coalesce(reason_kind, 'superseded') AS why
                  FROM ranked WHERE reason IS NOT NULL OR superseded ORDER BY file_idx, line_no)
            TO '{staging / EXCLUDED_FILE}' (FORMAT parquet)"""
    )
    _write_json(staging / SCREEN_FILE, {"files": screen_index})
    for written in staging.rglob("*"):
        if written.is_file():
            private_file(written)
    retired = batch_dir / f".{QUARANTINE_DIR}-old"
    shutil.rmtree(retired, ignore_errors=True)
    if target.exists():
        os.rename(target, retired)
    os.rename(staging, target)
    shutil.rmtree(retired, ignore_errors=True)


def _rejected_files(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    return _rows(
        con,
        """SELECT files.path, files.file_type AS type, files.rejected AS reason, count(r.line_no) AS lines
           FROM files LEFT JOIN ranked r USING (file_idx) WHERE files.rejected IS NOT NULL
           GROUP BY ALL ORDER BY files.path""",
    )


def _duplicates(types: list[TypeCounts]) -> dict[str, int]:
    return {t.resource_type: t.superseded for t in types if t.superseded}


def _failures(result: ProfileResult) -> list[str]:
    failures = []
    limits = result.limits
    # An empty batch (an incremental export with nothing new) is structurally valid; it is reported as empty.
    if result.quarantine_rate > limits.max_quarantine_rate:
        first = "; ".join(
            f"{public_file_name(q['file'])} line {q['line']}: {q['reason_kind']}" for q in result.quarantine_sample
        )
        failures.append(
            f"quarantine rate {result.quarantine_rate:.4%} exceeds {limits.max_quarantine_rate:.4%} "
            f"({result.quarantined} of {result.lines} lines: {result.quarantine_reasons}; first: {first})"
        )
    if result.dangling_rate > limits.max_dangling_rate:
        worst: dict[str, int] = defaultdict(int)
        for ref in result.references:
            if ref["dangling"]:
                worst[f"{ref['source_type']}->{ref['target_type']}"] += ref["dangling"]
        failures.append(
            f"dangling reference rate {result.dangling_rate:.4%} exceeds {limits.max_dangling_rate:.4%} "
            f"({result.references_dangling} of {result.references_total}; {dict(worst)})"
        )
    if result.superseded_rate > limits.max_superseded_rate:
        by_type = sorted((t for t in result.types if t.superseded), key=lambda t: (-t.superseded, t.resource_type))
        named = ", ".join(f"{t.resource_type}: {t.superseded} of {t.lines} lines" for t in by_type)
        failures.append(
            f"superseded line rate {result.superseded_rate:.4%} exceeds {limits.max_superseded_rate:.4%} "
            f"({result.superseded} of {result.lines} lines are older copies of a resource sent again; {named})"
        )
    return failures


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2, default=str))
    private_file(tmp)
    os.replace(tmp, path)
