"""Residual-PHI scan of de-identified tables: the batch's own PHI values, and patterns, in every column.

Findings are reported as counts with table, column and detector, never with the values. Detectors:
``dictionary:<kind>`` (an actual value of the raw batch: a name word, identifier, phone or email, address
part, city, ZIP5, date in every common written form, original resource id, free text), patterns for SSNs,
phone numbers, e-mail addresses, URLs (known code-system URIs excepted), IPv4 addresses and dates finer than a
year, ``number:identifier`` (a number whose digits are an identifier, phone number or date of the batch) and
``value:too_long`` (no de-identified column holds free text).
Under the Safe Harbor profile a DATE/TIMESTAMP column is itself a finding.

How values meet the dictionary: values and terms are normalised alike (lower case, every run of characters that
are not letters or digits becomes one space), then a term matches a whole value or any run of up to
``MAX_NGRAM`` consecutive words inside a longer one ("12 Elm Street, Springfield" holds the address and the
city; "dob 14-Mar-1961" holds the date). Original resource ids (compared in lower case, not normalised) and free
text match whole values only, and so
does a value shaped like a code of a numbered terminology (LOINC, SNOMED CT, ICD, RxNorm, ...), whose parts
are numbers by construction. Terms of
``MIN_TERM_LENGTH - 1`` characters or fewer match only whole values of id columns, so a ZIP3 never collides with
a three-character id. Values a column's domain permits (a value-set code, a US state, a known system URI, a
``local-code-<n>`` replacement) are codes, not PHI, there: the dictionary is not applied to them (patterns are),
which is how the surname Long and the disposition code ``long`` are told apart without dropping either.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from healthcare_assets.deid.code_systems import KNOWN_SYSTEM_URIS, NUMBERED_CODE_SQL
from healthcare_assets.deid.inventory import Inventory
from healthcare_assets.deid.normalize import normalized_sql
from healthcare_assets.warehouse.duckdb_store import sql_literal, sql_name

_MONTH = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
PATTERNS: dict[str, str] = {
    "ssn": r"(^|[^0-9])[0-9]{3}-[0-9]{2}-[0-9]{4}([^0-9]|$)",
    "phone": r"(^|[^0-9])(\+?1[ .-]?)?\(?[0-9]{3}\)?[ .-][0-9]{3}[ .-][0-9]{4}([^0-9]|$)",
    "email": r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}",
    "url": r"(https?://|www\.|mailto:)[^ ]+",
    "ipv4": r"(^|[^0-9.])[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}([^0-9.]|$)",
    "date_day": r"(^|[^0-9])(1[89]|20)[0-9]{2}[-/.](0?[1-9]|1[0-2])[-/.](0?[1-9]|[12][0-9]|3[01])([^0-9]|$)",
    "date_month": r"(^|[^0-9])(1[89]|20)[0-9]{2}-(0[1-9]|1[0-2])([^0-9]|$)",
    "date_us": r"(^|[^0-9])(0?[1-9]|1[0-2])/(0?[1-9]|[12][0-9]|3[01])/([0-9]{2}|[0-9]{4})([^0-9]|$)",
    "date_dmy": r"(^|[^0-9.])(0?[1-9]|[12][0-9]|3[01])[-.](0?[1-9]|1[0-2])[-.]((1[89]|20)[0-9]{2}|[0-9]{2})([^0-9.]|$)",
    "date_month_name": (
        r"(^|[^a-z])(" + _MONTH + r"[ -]?[0-9]{1,2}(st|nd|rd|th)?,?[ -]+([0-9]{4}|[0-9]{2})"
        r"|[0-9]{1,2}(st|nd|rd|th)?[ -]" + _MONTH + r",?[ -]+([0-9]{4}|[0-9]{2}))([^0-9]|$)"
    ),
}
# Replacements the engine writes for values outside a column's domain: never PHI.
PLACEHOLDER = "local-(code|system)-[0-9]+"
MIN_TERM_LENGTH = 4
MAX_NGRAM = 6
WHOLE_VALUE_KINDS = ("resource_id", "free_text")
# No de-identified column holds free text: a longer string is itself a finding (and is not split into words).
MAX_VALUE_LENGTH = 1000
# Numbers with at least this many digits are compared with the digit terms (identifiers, phones, dates).
MIN_NUMBER_DIGITS = 7
SURROGATE = "[0-9a-f]{32}"
DATE_TYPES = ("DATE", "TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "TIME", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S")


@dataclass(frozen=True)
class Finding:
    table: str
    column: str
    detector: str
    rows: int


@dataclass
class ScanResult:
    findings: list[Finding] = field(default_factory=list)
    tables: int = 0
    string_columns: int = 0
    numeric_columns: int = 0
    values_scanned: int = 0
    dictionary_terms: dict[str, int] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.findings

    def for_table(self, table: str) -> list[Finding]:
        return [f for f in self.findings if f.table == table]

    def summary(self, table: str | None = None) -> str:
        findings = self.findings if table is None else self.for_table(table)
        if not findings:
            return "no residual PHI found"
        return "; ".join(f"{f.table}.{f.column}: {f.detector} in {f.rows} rows" for f in findings)


@dataclass(frozen=True)
class ScanRules:
    """What the policy lets each column hold. ``permitted[table][column]``: lower-case values that are codes there
    (the dictionary is not applied to them); ``id_columns[table]``: columns holding surrogates, where short terms
    are matched too; ``uris``: lower-case system URIs the URL pattern does not report."""

    permitted: dict[str, dict[str, frozenset[str]]] = field(default_factory=dict)
    id_columns: dict[str, frozenset[str]] = field(default_factory=dict)
    uris: frozenset[str] = frozenset(u.lower() for u in KNOWN_SYSTEM_URIS)


def load_terms(con: duckdb.DuckDBPyConnection, inventory: Inventory) -> None:
    """``_scan_terms(kind, term, len, tokens)`` and ``_scan_digit_terms(term)`` from the inventory's PHI-zone file."""
    whole = ", ".join(f"'{k}'" for k in WHOLE_VALUE_KINDS)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _scan_terms AS
            SELECT kind, term, length(term) AS len, kind NOT IN ({whole}) AS tokens
            FROM read_parquet({sql_literal(inventory.terms_path)})"""
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _scan_digit_terms AS SELECT DISTINCT term FROM _scan_terms
            WHERE kind IN ('identifier_or_contact', 'date') AND len >= {MIN_NUMBER_DIGITS}
              AND regexp_full_match(term, '[0-9]+')"""
    )


def match_values(
    con: duckdb.DuckDBPyConnection, values: str, permitted: str, id_columns: set[str], uris: frozenset[str]
) -> str:
    """Dictionary and pattern hits for ``values(col, v)`` (``v`` lower-case and trimmed), given ``permitted(col, v)``:
    a temp table ``_phi_hits(col, v, detector)``, one row per distinct hit. ``_scan_terms`` must be loaded."""
    ids = "[" + ", ".join(sql_literal(c) for c in sorted(id_columns)) + "]::VARCHAR[]"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _match AS
            SELECT s.col, s.v, {normalized_sql("s.v")} AS norm,
                   p.v IS NOT NULL OR regexp_full_match(s.v, '{PLACEHOLDER}') AS permitted,
                   list_contains({ids}, s.col) AS id_column,
                   regexp_full_match(s.v, {sql_literal(NUMBERED_CODE_SQL)}, 'i') AS numbered_code
            FROM (SELECT DISTINCT col, v FROM {values}) s LEFT JOIN {permitted} p ON p.col = s.col AND p.v = s.v"""
    )
    ngrams = (
        f"flatten(list_transform(range(1, len(toks) + 1), lambda i: list_transform("
        f"range(0, least({MAX_NGRAM}, len(toks) - i + 1)), lambda k: array_to_string(toks[i:i + k], ' '))))"
    )
    uri_list = "[" + ", ".join(sql_literal(u) for u in sorted(uris)) + "]::VARCHAR[]"
    patterns = " UNION ALL ".join(
        f"SELECT col, v, 'pattern:{name}' FROM _match WHERE regexp_matches(v, {sql_literal(pattern)})"
        + (f" AND NOT list_contains({uri_list}, v)" if name == "url" else "")
        for name, pattern in PATTERNS.items()
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _phi_hits AS
            SELECT DISTINCT * FROM (
                SELECT m.col, m.v, 'dictionary:' || t.kind AS detector
                FROM _match m JOIN _scan_terms t ON t.term = m.norm
                WHERE NOT m.permitted AND t.kind <> 'resource_id' AND (t.len >= {MIN_TERM_LENGTH} OR m.id_column)
                UNION ALL
                SELECT m.col, m.v, 'dictionary:resource_id'
                FROM _match m JOIN _scan_terms t ON t.term = m.v
                WHERE NOT m.permitted AND t.kind = 'resource_id' AND (t.len >= {MIN_TERM_LENGTH} OR m.id_column)
                UNION ALL
                SELECT g.col, g.v, 'dictionary:' || t.kind
                FROM (SELECT col, v, unnest({ngrams}) AS gram
                      FROM (SELECT col, v, string_split(norm, ' ') AS toks FROM _match
                            WHERE NOT permitted AND NOT numbered_code AND contains(norm, ' ')
                              AND length(v) <= {MAX_VALUE_LENGTH})) g
                JOIN _scan_terms t ON t.term = g.gram AND t.tokens AND t.len >= {MIN_TERM_LENGTH}
                UNION ALL
                SELECT col, v, 'value:too_long' FROM _match WHERE length(v) > {MAX_VALUE_LENGTH}
                UNION ALL {patterns})"""
    )
    return "_phi_hits"


def numbers_sql(expr: str) -> str:
    """SQL: the digits of a whole number of at least ``MIN_NUMBER_DIGITS`` digits, else NULL."""
    return (
        f"CASE WHEN abs({expr}) >= 1e{MIN_NUMBER_DIGITS - 1} AND abs({expr}) < 1e30 AND {expr} = trunc({expr}) "
        f"THEN CAST(CAST(abs({expr}) AS HUGEINT) AS VARCHAR) END"
    )


NUMERIC_TYPES = ("DOUBLE", "FLOAT", "REAL", "BIGINT", "INTEGER", "HUGEINT", "UBIGINT", "DECIMAL")


def scan_tables(
    con: duckdb.DuckDBPyConnection,
    tables: dict[str, Path],
    inventory: Inventory,
    safe_harbor: bool = True,
    allowed: dict[str, dict[str, frozenset[str]]] | None = None,
    rules: ScanRules | None = None,
    terms_loaded: bool = False,
) -> ScanResult:
    """Scan each Parquet file in ``tables`` (name -> path) against the inventory's dictionary.

    ``rules`` say what each column may hold (``allowed`` is a shorthand for ``rules.permitted``);
    ``terms_loaded``: ``load_terms`` already ran on ``con`` for this inventory.
    """
    rules = rules or ScanRules(permitted=allowed or {})
    result = ScanResult(dictionary_terms=inventory.terms_by_kind)
    if not terms_loaded:
        load_terms(con, inventory)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _scan_hex_terms AS SELECT DISTINCT term FROM _scan_terms "
        f"WHERE regexp_full_match(term, '{SURROGATE}')"
    )
    for table, path in sorted(tables.items()):
        result.tables += 1
        source = f"read_parquet({sql_literal(path)})"
        strings, numbers = [], []
        for column, kind, *_ in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall():
            upper = kind.upper()
            if upper in DATE_TYPES or upper.startswith("TIMESTAMP"):
                if safe_harbor:
                    rows = con.execute(f"SELECT count({sql_name(column)}) FROM {source}").fetchall()[0][0]
                    result.findings.append(Finding(table, column, f"type:{kind.lower()}_column", int(rows)))
            elif upper == "VARCHAR" and column not in ("batch_id", "deid_policy"):
                strings.append(column)
            elif upper.split("(")[0] in NUMERIC_TYPES:
                numbers.append(column)
        found: list[Finding] = []
        if strings:
            result.string_columns += len(strings)
            found += _scan_table(con, table, source, strings, result, rules)
        if numbers:
            result.numeric_columns += len(numbers)
            found += _scan_numbers(con, table, source, numbers)
        order = {c: i for i, c in enumerate(strings + numbers)}
        result.findings += sorted(found, key=lambda f: (order[f.column], f.detector))
    return result


def _scan_numbers(con: duckdb.DuckDBPyConnection, table: str, source: str, columns: list[str]) -> list[Finding]:
    """Whole numbers of ``MIN_NUMBER_DIGITS`` or more digits equal to the digits of a batch identifier or date."""
    if not con.execute("SELECT count(*) FROM _scan_digit_terms").fetchall()[0][0]:
        return []
    cells = " UNION ALL ".join(
        f"SELECT {sql_literal(c)} AS col, {numbers_sql(sql_name(c))} AS digits FROM {source} "
        f"WHERE abs({sql_name(c)}) >= 1e{MIN_NUMBER_DIGITS - 1}"
        for c in columns
    )
    rows = con.execute(
        f"""SELECT col, count(*) FROM ({cells}) c JOIN _scan_digit_terms t ON t.term = c.digits
            WHERE c.digits IS NOT NULL GROUP BY col"""
    ).fetchall()
    return [Finding(table, column, "number:identifier", int(n)) for column, n in rows]


def _scan_table(
    con: duckdb.DuckDBPyConnection,
    table: str,
    source: str,
    columns: list[str],
    result: ScanResult,
    rules: ScanRules,
) -> list[Finding]:
    """Every string column of one table at once: its cells unpivoted, then matched per column."""
    cells = (
        f"(SELECT col, v, regexp_full_match(v, '{SURROGATE}') AS s FROM "
        f"(UNPIVOT (SELECT {', '.join(sql_name(c) for c in columns)} FROM {source}) "
        f"ON {', '.join(sql_name(c) for c in columns)} INTO NAME col VALUE v))"
    )
    # Surrogates (32 lower-case hex digits) are the bulk of the id columns and cannot match a pattern; they are
    # only compared with the dictionary's surrogate-shaped terms (an original id that happens to look like one),
    # and when the dictionary has none (the usual case) that comparison is skipped.
    found: list[Finding] = []
    counts = con.execute(f"SELECT {', '.join(f'count({sql_name(c)})' for c in columns)} FROM {source}").fetchall()[0]
    result.values_scanned += sum(int(n) for n in counts)
    if con.execute("SELECT count(*) FROM _scan_hex_terms").fetchall()[0][0]:
        for column, hits in con.execute(
            f"""SELECT c.col, count(*) FROM {cells} c JOIN _scan_hex_terms t ON t.term = c.v
                WHERE c.s GROUP BY c.col"""
        ).fetchall():
            found.append(Finding(table, column, "dictionary:resource_id", int(hits)))
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _scan_values AS
            SELECT col, lower(trim(v)) AS v, count(*) AS n FROM {cells} WHERE NOT s GROUP BY ALL"""
    )
    permitted_rows = [(c, v) for c, values in rules.permitted.get(table, {}).items() for v in sorted(values)]
    rows = pa.table(
        {
            "col": pa.array([c for c, _ in permitted_rows], pa.string()),
            "v": pa.array([v for _, v in permitted_rows], pa.string()),
        }
    )
    con.register("_scan_permitted_arrow", rows)
    try:
        con.execute("CREATE OR REPLACE TEMP TABLE _scan_permitted AS SELECT * FROM _scan_permitted_arrow")
    finally:
        con.unregister("_scan_permitted_arrow")
    hits = match_values(con, "_scan_values", "_scan_permitted", set(rules.id_columns.get(table, ())), rules.uris)
    for column, detector, n in con.execute(
        f"""SELECT h.col, h.detector, sum(s.n) FROM {hits} h JOIN _scan_values s ON s.col = h.col AND s.v = h.v
            GROUP BY ALL ORDER BY ALL"""
    ).fetchall():
        found.append(Finding(table, column, detector, int(n)))
    return found
