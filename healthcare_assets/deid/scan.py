"""Residual-PHI scan of de-identified tables: the batch's own PHI values, and patterns, in every string column.

Findings are reported as counts with table, column and detector, never with the values. Detectors:
``dictionary:<kind>`` (an actual value of the raw batch: a name word, identifier, phone or email, address
part, city, ZIP5, full date in common formats, original resource id, free text), and patterns for SSNs,
phone numbers, e-mail addresses, URLs (code-system URIs of the batch excepted), IPv4 addresses and dates
finer than a year. Under the Safe Harbor profile a DATE/TIMESTAMP column is itself a finding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from healthcare_assets.deid.inventory import Inventory
from healthcare_assets.warehouse.duckdb_store import sql_literal, sql_name

PATTERNS: dict[str, str] = {
    "ssn": r"(^|[^0-9])[0-9]{3}-[0-9]{2}-[0-9]{4}([^0-9]|$)",
    "phone": r"(^|[^0-9])(\+?1[ .-]?)?\(?[0-9]{3}\)?[ .-][0-9]{3}[ .-][0-9]{4}([^0-9]|$)",
    "email": r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}",
    "url": r"(https?://|www\.)[^ ]+",
    "ipv4": r"(^|[^0-9.])[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}([^0-9.]|$)",
    "date_day": r"(^|[^0-9])(1[89]|20)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])",
    "date_month": r"(^|[^0-9])(1[89]|20)[0-9]{2}-(0[1-9]|1[0-2])([^0-9]|$)",
    "date_us": r"(^|[^0-9])(0?[1-9]|1[0-2])/(0?[1-9]|[12][0-9]|3[01])/([0-9]{2}|[0-9]{4})([^0-9]|$)",
}
# Code-system and naming-system URIs are not web addresses of a person: values starting with these are not
# reported by the URL pattern (the batch's own person-resource systems are allowed too).
TERMINOLOGY_URI_PREFIXES = (
    "http://loinc.org",
    "http://snomed.info/",
    "http://www.nlm.nih.gov/research/umls/",
    "http://hl7.org/fhir/",
    "http://terminology.hl7.org/",
    "http://unitsofmeasure.org",
    "http://www.ama-assn.org/go/cpt",
    "http://www.whocc.no/atc",
    "http://www.cms.gov/medicare/coding/",
    "http://id.who.int/icd",
    "http://nucc.org/provider-taxonomy",
    "http://ncimeta.nci.nih.gov",
    "http://fdasis.nlm.nih.gov",
    "http://va.gov/terminology/",
    "http://www.ada.org/cdt",
    "http://www.nubc.org/",
    "https://www.cdc.gov/nhsn/",
    "urn:oid:",
    "urn:iso:",
    "urn:ietf:",
)
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
    values_scanned: int = 0
    dictionary_terms: dict[str, int] = field(default_factory=dict)
    ambiguous_terms_dropped: int = 0

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


def scan_tables(
    con: duckdb.DuckDBPyConnection,
    tables: dict[str, Path],
    inventory: Inventory,
    safe_harbor: bool = True,
    allowed: dict[str, dict[str, frozenset[str]]] | None = None,
) -> ScanResult:
    """Scan each Parquet file in ``tables`` (name -> path) against the inventory's dictionary.

    ``allowed[table][column]`` lists values the policy lets that column hold (US states in a state column):
    they are not matched against the dictionary there; patterns still apply to them.
    """
    result = ScanResult(
        dictionary_terms=inventory.terms_by_kind, ambiguous_terms_dropped=inventory.ambiguous_terms_dropped
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _scan_terms AS SELECT * FROM read_parquet({sql_literal(inventory.terms_path)})"
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _scan_hex_terms AS SELECT DISTINCT term FROM _scan_terms "
        f"WHERE regexp_full_match(term, '{SURROGATE}')"
    )
    prefixes = "[" + ", ".join(f"'{p.lower()}'" for p in TERMINOLOGY_URI_PREFIXES) + "]"
    vocab = f"read_parquet({sql_literal(inventory.vocab_path)})"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _allowed_uris AS SELECT term FROM {vocab}
            WHERE term LIKE 'http%' OR term LIKE 'urn:%'"""
    )
    for table, path in sorted(tables.items()):
        result.tables += 1
        source = f"read_parquet({sql_literal(path)})"
        strings = []
        for column, kind, *_ in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall():
            upper = kind.upper()
            if upper in DATE_TYPES or upper.startswith("TIMESTAMP"):
                if safe_harbor:
                    rows = con.execute(f"SELECT count({sql_name(column)}) FROM {source}").fetchall()[0][0]
                    result.findings.append(Finding(table, column, f"type:{kind.lower()}_column", int(rows)))
            elif upper == "VARCHAR" and column not in ("batch_id", "deid_policy"):
                strings.append(column)
        if strings:
            result.string_columns += len(strings)
            result.findings += _scan_table(
                con, table, source, strings, result, prefixes, (allowed or {}).get(table, {})
            )
    return result


def _scan_table(
    con: duckdb.DuckDBPyConnection,
    table: str,
    source: str,
    columns: list[str],
    result: ScanResult,
    uri_prefixes: str,
    permitted: dict[str, frozenset[str]],
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
    allowed_rows = [(c, v) for c, values in permitted.items() for v in sorted(values)]
    con.execute("CREATE OR REPLACE TEMP TABLE _scan_permitted (col VARCHAR, v VARCHAR)")
    if allowed_rows:
        con.executemany("INSERT INTO _scan_permitted VALUES (?, ?)", allowed_rows)
    dictionary = con.execute(
        """WITH candidates AS (SELECT * FROM _scan_values s ANTI JOIN _scan_permitted p ON p.col = s.col AND p.v = s.v)
           SELECT col, kind, sum(n) FROM (
                SELECT DISTINCT s.col, t.kind, s.v, s.n FROM candidates s JOIN _scan_terms t ON t.term = s.v
                UNION
                SELECT DISTINCT s.col, t.kind, s.v, s.n
                FROM (SELECT * FROM candidates WHERE regexp_matches(v, '[^[:alnum:]]')) s,
                     unnest(regexp_split_to_array(s.v, '[^[:alnum:]]+')) AS u(w)
                JOIN _scan_terms t ON t.term = u.w AND t.kind = 'name')
            GROUP BY ALL ORDER BY ALL"""
    ).fetchall()
    found += [Finding(table, column, f"dictionary:{kind}", int(n)) for column, kind, n in dictionary]
    filters = []
    for name, pattern in PATTERNS.items():
        condition = f"regexp_matches(v, '{pattern}')"
        if name == "url":
            condition += (
                " AND v NOT IN (SELECT term FROM _allowed_uris)"
                f" AND len(list_filter({uri_prefixes}, lambda p: starts_with(v, p))) = 0"
            )
        filters.append(f"coalesce(sum(n) FILTER (WHERE {condition}), 0)")
    for column, *counts in con.execute(
        f"SELECT col, {', '.join(filters)} FROM _scan_values GROUP BY col ORDER BY col"
    ).fetchall():
        found += [
            Finding(table, column, f"pattern:{name}", int(n)) for name, n in zip(PATTERNS, counts, strict=True) if n
        ]
    order = {c: i for i, c in enumerate(columns)}
    return sorted(found, key=lambda f: (order[f.column], f.detector))
