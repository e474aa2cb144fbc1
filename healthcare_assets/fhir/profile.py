"""Profile one landed batch with DuckDB, straight from the NDJSON, and quarantine what cannot be used.

Every line is read as text with its line number (``read_csv`` with a NUL delimiter keeps each line whole and in
file order) and parsed by DuckDB's JSON functions; nothing is loaded into Python objects. Two streaming passes
per file keep memory flat: one records a compact fact per line (type, id, hash, line numbers) for quarantine
and de-duplication, the other aggregates element presence, code systems, time ranges and reference targets
straight away. Presence, systems and times count well-formed lines of the file's type, so a superseded copy
of a resource counts too (copies are rare: the profile reports how many).
Quarantined lines (malformed JSON, not an object, wrong ``resourceType`` for the file, missing id, duplicate
id) are written with file, line and reason to ``quarantine/`` inside the batch (PHI zone). Working files also
stay in the PHI zone.

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

from healthcare_assets.config import private_file
from healthcare_assets.fhir.compartment import COMPARTMENT_LEVELS, PATIENT_COMPARTMENT_R4, export_level
from healthcare_assets.fhir.landing import LandedBatch
from healthcare_assets.fhir.ndjson import lines_sql
from healthcare_assets.warehouse.duckdb_store import sql_literal

QUARANTINE_DIR = "quarantine"
# Lines downstream readers must skip: quarantined ones and superseded copies of a repeated id. Each is named by
# ``line`` (physical, for people) and ``record_no`` (ordinal among non-blank lines, which is the row number
# DuckDB's ``read_json`` gives a line, so readers can skip them without re-reading lines as text).
EXCLUDED_FILE = "excluded_lines.parquet"
PROFILE_FILE = "profile.json"
# Time elements looked at for time ranges, whatever the type (absent ones are simply not reported).
TIME_PATHS: tuple[str, ...] = (
    "birthDate",
    "deceasedDateTime",
    "period.start",
    "period.end",
    "effectiveDateTime",
    "effectivePeriod.start",
    "issued",
    "onsetDateTime",
    "recordedDate",
    "abatementDateTime",
    "authoredOn",
    "performedDateTime",
    "performedPeriod.start",
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
    batch: LandedBatch, limits: ProfileLimits = ProfileLimits(), threads: int = 2, memory_limit: str = "4GB"
) -> ProfileResult:
    """Profile ``batch`` and write ``profile.json`` and ``quarantine/`` into its folder."""
    started = time.perf_counter()
    batch_dir = batch.batch_dir
    work = batch_dir / ".profile-work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(mode=0o700)
    os.chmod(work, 0o700)
    # In memory, spilling to the PHI zone only when the batch does not fit.
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"SET threads = {int(threads)}")
        con.execute("SET temp_directory = ?", [str(work / "spill")])
        con.execute("SET preserve_insertion_order = true")
        con.execute(f"SET memory_limit = '{memory_limit}'")
        _load_facts(con, batch)
        _rank(con)
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
        )
        _write_quarantine(con, batch_dir)
    finally:
        con.close()
        shutil.rmtree(work, ignore_errors=True)
    result.duplicates = _duplicates(result.types)
    result.failures = _failures(result)
    result.seconds = round(time.perf_counter() - started, 3)
    _write_json(batch_dir / PROFILE_FILE, result.to_json())
    return result


def load_profile(batch_dir: Path) -> dict[str, Any]:
    return orjson.loads((batch_dir / PROFILE_FILE).read_bytes())


# Line classes without copying long strings (trim/ltrim on every line cost more than parsing it): only short
# lines can be blank, and the first character is tested before any regular expression.
_CLASSIFY = """CASE WHEN line IS NULL THEN 'blank'
    WHEN length(line) < 16 AND regexp_full_match(line, '[ \t\r]*') THEN 'blank'
    WHEN NOT json_valid(line) THEN 'malformed'
    WHEN NOT (starts_with(line, '{') OR regexp_matches(line, '^[ \t\r]*[{]')) THEN 'not_object'
    ELSE 'ok' END"""
_REF = r"(?:^|/)([A-Z][A-Za-z]+)/([^/]+?)(?:/_history/[^/]+)?$"


def _load_facts(con: duckdb.DuckDBPyConnection, batch: LandedBatch) -> None:
    con.execute("CREATE TABLE files (file_idx INTEGER, path VARCHAR, file_type VARCHAR)")
    con.execute(
        """CREATE TABLE facts (file_idx INTEGER, line_no BIGINT, record_no BIGINT, status VARCHAR, rt VARCHAR,
           id VARCHAR, last_updated VARCHAR, line_hash UBIGINT, bad_text VARCHAR)"""
    )
    con.execute(
        "CREATE TABLE agg (rt VARCHAR, kind VARCHAR, a VARCHAR, b VARCHAR, n BIGINT, min_b VARCHAR, max_b VARCHAR)"
    )
    for index, entry in enumerate(batch.manifest["files"]):
        con.execute("INSERT INTO files VALUES (?, ?, ?)", [index, entry["path"], entry["type"]])
        reader = lines_sql(batch.batch_dir / entry["path"], bool(entry.get("compressed")))
        _line_facts(con, index, reader)
        _aggregates(con, entry["type"], reader)


def _line_facts(con: duckdb.DuckDBPyConnection, index: int, reader: str) -> None:
    """Pass 1: one compact fact per non-blank line (for quarantine, de-duplication and the exclusion list)."""
    con.execute(
        f"""INSERT INTO facts
        WITH src AS (SELECT row_number() OVER () AS line_no, line FROM {reader}),
        classified AS (
            SELECT line_no, line,
                {_CLASSIFY} AS status
            FROM src),
        parsed AS (
            SELECT line_no, status,
                CASE WHEN status = 'ok'
                     THEN json_extract_string(line, ['$.resourceType', '$.id', '$.meta.lastUpdated']) END AS f,
                CASE WHEN status = 'ok' THEN hash(line) END AS line_hash,
                CASE WHEN status IN ('malformed', 'not_object') THEN left(line, 10000) END AS bad_text
            FROM classified WHERE status <> 'blank')
        -- The line text is gone before this second window, so it only orders compact rows.
        SELECT {index}, line_no, row_number() OVER (ORDER BY line_no), status, f[1], f[2], f[3], line_hash, bad_text
        FROM parsed"""
    )


def _aggregates(con: duckdb.DuckDBPyConnection, file_type: str, reader: str) -> None:
    """Pass 2: element presence, code systems, time ranges and reference targets of the file's well-formed lines.

    Lines are grouped by their set of elements and of code systems (few distinct combinations), times by plain
    min/max, references by their raw text (parsed once per distinct reference): nothing per line is kept.
    """
    rt = sql_literal(file_type)
    candidates = f"""SELECT line FROM (
            SELECT line, try(json_extract_string(line, ['$.resourceType', '$.id'])) AS f FROM {reader}
            WHERE line IS NOT NULL AND (starts_with(line, '{{') OR regexp_matches(line, '^[ \t\r]*[{{]')))
        WHERE f[1] = {rt} AND coalesce(f[2], '') <> ''"""
    json_paths = "[" + ", ".join(f"'$.{p}'" for p in TIME_PATHS) + "]"
    time_aggs = ", ".join(
        f"count(t[{i}]) AS n{i}, min(t[{i}]) AS lo{i}, max(t[{i}]) AS hi{i}" for i in range(1, len(TIME_PATHS) + 1)
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _sets AS
        SELECT ks, sys, count(*) AS n, {time_aggs}
        FROM (SELECT json_keys(line) AS ks, json_extract_string(line, '$..coding[*].system') AS sys,
                     json_extract_string(line, {json_paths}) AS t FROM ({candidates}))
        GROUP BY ks, sys"""
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
            FROM (SELECT unnest(json_extract_string(line, '$..reference')) AS r FROM ({candidates}))
            WHERE r IS NOT NULL AND NOT starts_with(r, '#') GROUP BY r)
        SELECT {rt}, 'ref', t, i, sum(n), NULL, NULL FROM (
            SELECT n,
                CASE WHEN starts_with(r, 'urn:uuid:') THEN NULL ELSE nullif(regexp_extract(r, $ref, 1), '') END AS t,
                CASE WHEN starts_with(r, 'urn:uuid:') THEN substr(r, 10)
                     ELSE nullif(regexp_extract(r, $ref, 2), '') END AS i
            FROM raw)
        GROUP BY ALL""",
        {"ref": _REF},
    )


def _rank(con: duckdb.DuckDBPyConnection) -> None:
    """Give each line its fate: quarantined (with a reason), superseded by another copy of its id, or kept.

    Several lines with one type and id are versions of one resource, not bad data (Synthea repeats shared
    Practitioner and Organization resources; exports concatenate): the copy with the latest
    ``meta.lastUpdated`` is kept, else the last one in file order, as an upsert stream would.
    """
    con.execute(
        """CREATE TABLE ranked AS
        WITH base AS (
            SELECT f.*, files.file_type, files.path,
                CASE
                    WHEN status = 'malformed' THEN 'malformed_json'
                    WHEN status = 'not_object' THEN 'not_an_object'
                    WHEN rt IS NULL THEN 'missing_resource_type'
                    WHEN rt <> files.file_type THEN 'type_mismatch'
                    WHEN id IS NULL OR id = '' THEN 'missing_id'
                END AS reason_kind
            FROM facts f JOIN files USING (file_idx)),
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
                WHEN 'malformed_json' THEN 'malformed JSON'
                WHEN 'not_an_object' THEN 'line is JSON but not an object'
                WHEN 'missing_resource_type' THEN 'no resourceType'
                WHEN 'type_mismatch' THEN 'resourceType ' || b.rt || ' in a ' || b.file_type || ' file'
                WHEN 'missing_id' THEN 'resource has no id'
            END AS reason
        FROM base b LEFT JOIN versions v USING (file_idx, line_no)"""
    )
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


def _write_quarantine(con: duckdb.DuckDBPyConnection, batch_dir: Path) -> None:
    """Quarantined lines with file, line, reason and the raw text (PHI: it stays in the batch folder)."""
    target = batch_dir / QUARANTINE_DIR
    staging = batch_dir / f".{QUARANTINE_DIR}-tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(mode=0o700)
    os.chmod(staging, 0o700)
    query = """SELECT path AS file, line_no AS line, reason_kind, reason, rt AS resource_type, id, bad_text AS text
               FROM ranked WHERE reason IS NOT NULL ORDER BY file_idx, line_no"""
    con.execute(f"COPY ({query}) TO '{staging / 'quarantine.ndjson'}' (FORMAT json)")
    con.execute(
        f"""COPY (SELECT path AS file, line_no AS line, record_no, coalesce(reason_kind, 'superseded') AS why
                  FROM ranked WHERE reason IS NOT NULL OR superseded ORDER BY file_idx, line_no)
            TO '{staging / EXCLUDED_FILE}' (FORMAT parquet)"""
    )
    for written in staging.iterdir():
        private_file(written)
    shutil.rmtree(target, ignore_errors=True)
    os.rename(staging, target)


def _duplicates(types: list[TypeCounts]) -> dict[str, int]:
    return {t.resource_type: t.superseded for t in types if t.superseded}


def _failures(result: ProfileResult) -> list[str]:
    failures = []
    limits = result.limits
    # An empty batch (an incremental export with nothing new) is structurally valid; it is reported as empty.
    if result.quarantine_rate > limits.max_quarantine_rate:
        failures.append(
            f"quarantine rate {result.quarantine_rate:.4%} exceeds {limits.max_quarantine_rate:.4%} "
            f"({result.quarantined} of {result.lines} lines: {result.quarantine_reasons})"
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
