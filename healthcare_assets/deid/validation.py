"""Validate every kept coded value against its column's domain before anything is written (``domains.py``).

Dirty source data is normal: free text typed into coded fields, local code systems, mis-mapped columns. A value
is published as is only when its domain vouches for it; otherwise it becomes NULL, ``local-code-<n>`` or
``local-system-<n>``, and the rows are counted per column and reason (asset metadata, audit ledger). The work
is done on each column's distinct values (few, even for millions of rows): the domain checks in Python, the
dictionary and pattern checks in the same SQL the residual scan uses, so a value kept here is one the scan
accepts. Only columns with something to replace get a lookup table; the table writer joins it.

Reasons: ``not_in_value_set``, ``not_a_us_state``, ``unknown_system`` (a system URI, or a code of one, that is
neither a known terminology nor a declared local system), ``invalid_code`` (wrong shape or check digit for its
system), ``rare_local_code`` (a declared local code seen for fewer than k patients), ``matches_phi`` (a
well-formed code equal to, or holding, a PHI value of the batch), ``number_matches_identifier``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import pyarrow as pa

from healthcare_assets.deid.code_systems import KNOWN_SYSTEM_URIS, valid_code
from healthcare_assets.deid.domains import Domain
from healthcare_assets.deid.geography import STATE_VALUES
from healthcare_assets.deid.inventory import Inventory
from healthcare_assets.deid.policy import Policy, TablePolicy
from healthcare_assets.deid.pseudonyms import Codebook
from healthcare_assets.deid.scan import MIN_NUMBER_DIGITS, ScanRules, load_terms, match_values, numbers_sql
from healthcare_assets.warehouse.duckdb_store import quote_ident as q
from healthcare_assets.warehouse.duckdb_store import sql_literal, transaction

DEFAULT_MIN_PATIENTS = 5


@dataclass(frozen=True)
class ValidationSettings:
    """``local_code_systems``: system URIs of the hospital's own code systems, whose codes may be published;
    ``min_patients``: k, the fewest distinct patients of the batch a local code must be seen for."""

    local_code_systems: tuple[str, ...] = ()
    min_patients: int = DEFAULT_MIN_PATIENTS

    def __post_init__(self) -> None:
        if self.min_patients < 1:
            raise ValueError(f"min_patients (k) must be at least 1, got {self.min_patients}")
        for uri in self.local_code_systems:
            if not uri or uri != uri.strip():
                raise ValueError("local_code_systems: every entry must be a non-empty URI without surrounding spaces")


@dataclass
class Replacement:
    table: str  # temp table (original[, system], published)
    system_column: str | None  # the flat column the lookup is also keyed on


@dataclass
class Validation:
    replacements: dict[tuple[str, str], Replacement] = field(default_factory=dict)  # (view, column) ->
    counts: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)  # table -> column -> reason -> rows

    def replaced(self, table: str) -> int:
        return sum(n for column in self.counts.get(table, {}).values() for k, n in column.items() if k != "rows")


@dataclass
class _Decision:
    view: str
    table: str
    column: str
    original: object
    system: str | None
    rows: int
    reason: str
    becomes: str  # null | local-code | local-system


def validate_columns(
    con: duckdb.DuckDBPyConnection,
    policy: Policy,
    inventory: Inventory,
    codebook: Codebook,
    settings: ValidationSettings,
    batch_id: str,
) -> Validation:
    """Decide, per kept column with a domain, which distinct values cannot be published as is, and register
    lookup tables ``_repl_<view>__<column>`` for the table writer."""
    load_terms(con, inventory)
    local = frozenset(settings.local_code_systems)
    decisions: list[_Decision] = []
    candidates: list[tuple[_Decision, str]] = []  # well-formed codes, still to be checked against the dictionary
    validation = Validation()
    for table in policy.tables:
        for rule in table.rules:
            domain = rule.domain
            if domain is None:
                continue
            counts = validation.counts.setdefault(table.table, {}).setdefault(rule.column, {"rows": 0})
            if domain.kind == "measurement":
                decisions += _numbers(con, table, rule.column)
                counts["rows"] = _count(con, table, rule.column)
                continue
            for value, system, rows, patients in _distinct(con, table, rule.column, domain, local):
                counts["rows"] += rows
                reason, becomes = _judge(domain, value, system, patients, local, settings.min_patients)
                decision = _Decision(table.view, table.table, rule.column, value, system, rows, reason, becomes)
                if reason == "candidate":
                    candidates.append((decision, f"{table.view}.{rule.column}"))
                elif reason:
                    decisions.append(decision)
    decisions += _dictionary_hits(con, candidates)
    for d in decisions:
        column = validation.counts[d.table][d.column]
        column[d.reason] = column.get(d.reason, 0) + d.rows
    numbers = _number_local_values(con, codebook, decisions, batch_id)
    by_column: dict[tuple[str, str], list[_Decision]] = {}
    for d in decisions:
        by_column.setdefault((d.view, d.column), []).append(d)
    for (view, column), items in by_column.items():
        domain = policy.table(view).rules[[r.column for r in policy.table(view).rules].index(column)].domain
        validation.replacements[(view, column)] = _register(con, view, column, domain, items, numbers)
    return validation


def _distinct(
    con: duckdb.DuckDBPyConnection, table: TablePolicy, column: str, domain: Domain, local: frozenset[str]
) -> list[tuple[str, str | None, int, int]]:
    """(value, system, rows, distinct patients when the system is a declared local one) of one column."""
    flat = q("_flat_" + table.view)
    system = q(domain.system_column) if domain.system_column else "NULL::VARCHAR"
    patient = _patient(table)
    patients = "0"
    if local and domain.system_column and patient:
        systems = ", ".join(sql_literal(s) for s in sorted(local))
        patients = f"count(DISTINCT {q(patient)}) FILTER (WHERE {system} IN ({systems}))"
    return con.execute(
        f"""SELECT {q(column)}, {system}, count(*), {patients} FROM {flat}
            WHERE {q(column)} IS NOT NULL GROUP BY ALL"""
    ).fetchall()


def _judge(
    domain: Domain, value: str, system: str | None, patients: int, local: frozenset[str], k: int
) -> tuple[str | None, str]:
    """(reason, what it becomes); reason None = published as is, "candidate" = well-formed, check the dictionary."""
    if domain.kind == "value_set":
        return (None if value in domain.values else "not_in_value_set"), "null"
    if domain.kind == "state":
        return (None if value.strip().lower() in STATE_VALUES else "not_a_us_state"), "null"
    if domain.kind == "system":
        return (None if value in KNOWN_SYSTEM_URIS or value in local else "unknown_system"), "local-system"
    systems = (system,) if domain.system_column else domain.systems
    if domain.system_column and system in local:
        return ("candidate" if patients >= k else "rare_local_code"), "local-code"
    if not any(s in KNOWN_SYSTEM_URIS for s in systems if s):
        return "unknown_system", "local-code"
    if any(valid_code(s, value) for s in systems if s):
        return "candidate", "local-code"
    return "invalid_code", "local-code"


def _dictionary_hits(con: duckdb.DuckDBPyConnection, candidates: list[tuple[_Decision, str]]) -> list[_Decision]:
    """Well-formed codes that equal or hold a PHI value of the batch (the scan's own matching)."""
    if not candidates:
        return []
    keys = [key for _, key in candidates]
    values = [str(d.original).strip().lower() for d, _ in candidates]
    con.register("_val_candidates_arrow", pa.table({"col": keys, "v": values}))
    try:
        con.execute("CREATE OR REPLACE TEMP TABLE _val_candidates AS SELECT * FROM _val_candidates_arrow")
    finally:
        con.unregister("_val_candidates_arrow")
    con.execute("CREATE OR REPLACE TEMP TABLE _val_permitted (col VARCHAR, v VARCHAR)")
    hits = match_values(con, "_val_candidates", "_val_permitted", set(), frozenset())
    found = {(col, v) for col, v in con.execute(f"SELECT DISTINCT col, v FROM {hits}").fetchall()}
    out = []
    for (decision, key), value in zip(candidates, values, strict=True):
        if (key, value) in found:
            decision.reason = "matches_phi"
            out.append(decision)
    return out


def _numbers(con: duckdb.DuckDBPyConnection, table: TablePolicy, column: str) -> list[_Decision]:
    rows = con.execute(
        f"""SELECT f.{q(column)}, count(*) FROM {q("_flat_" + table.view)} f
            JOIN _scan_digit_terms t ON t.term = {numbers_sql("f." + q(column))}
            WHERE abs(f.{q(column)}) >= 1e{MIN_NUMBER_DIGITS - 1} GROUP BY 1"""
    ).fetchall()
    return [
        _Decision(table.view, table.table, column, value, None, int(n), "number_matches_identifier", "null")
        for value, n in rows
    ]


def _count(con: duckdb.DuckDBPyConnection, table: TablePolicy, column: str) -> int:
    return int(con.execute(f"SELECT count({q(column)}) FROM {q('_flat_' + table.view)}").fetchall()[0][0])


def _patient(table: TablePolicy) -> str | None:
    for rule in table.rules:
        if rule.transform == "pseudonym" and rule.namespace == "Patient":
            return rule.column
    return None


def _number_local_values(
    con: duckdb.DuckDBPyConnection, codebook: Codebook, decisions: list[_Decision], batch_id: str
) -> dict[tuple[str, str], int]:
    """``<n>`` of each replaced code or system, per column, from the PHI-zone codebook: the same value gets the
    same number in every batch, and the number says nothing about the value."""
    wanted = sorted({(f"{d.table}.{d.column}", str(d.original)) for d in decisions if d.becomes != "null"})
    if not wanted:
        return {}
    con.register(
        "_local_wanted_arrow", pa.table({"namespace": [w[0] for w in wanted], "original": [w[1] for w in wanted]})
    )
    try:
        with codebook.attached(con), transaction(con):
            con.execute(
                """CREATE TABLE IF NOT EXISTS cb.local_values (
                    namespace VARCHAR NOT NULL, original VARCHAR NOT NULL, n INTEGER NOT NULL, first_batch VARCHAR)"""
            )
            con.execute(
                """INSERT INTO cb.local_values
                   SELECT w.namespace, w.original,
                          coalesce(m.top, 0) + row_number() OVER (PARTITION BY w.namespace ORDER BY hash(w.original)),
                          ?
                   FROM _local_wanted_arrow w
                   LEFT JOIN (SELECT namespace, max(n) AS top FROM cb.local_values GROUP BY 1) m USING (namespace)
                   WHERE NOT EXISTS (SELECT 1 FROM cb.local_values l
                                     WHERE l.namespace = w.namespace AND l.original = w.original)""",
                [batch_id],
            )
            rows = con.execute(
                """SELECT l.namespace, l.original, l.n FROM cb.local_values l
                   JOIN _local_wanted_arrow w USING (namespace, original)"""
            ).fetchall()
    finally:
        con.unregister("_local_wanted_arrow")
    return {(namespace, original): int(n) for namespace, original, n in rows}


def _register(
    con: duckdb.DuckDBPyConnection,
    view: str,
    column: str,
    domain: Domain,
    decisions: list[_Decision],
    numbers: dict[tuple[str, str], int],
) -> Replacement:
    name = f"_repl_{view}__{column}"
    keyed = domain.system_column if domain.kind == "code" else None
    published = [
        None if d.becomes == "null" else f"{d.becomes}-{numbers[(f'{d.table}.{d.column}', str(d.original))]}"
        for d in decisions
    ]
    kind = pa.float64() if domain.kind == "measurement" else pa.string()
    data = {"original": pa.array([d.original for d in decisions], kind), "published": pa.array(published, kind)}
    if keyed:
        data["system"] = pa.array([d.system for d in decisions], pa.string())
    con.register("_repl_arrow", pa.table(data))
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {q(name)} AS SELECT * FROM _repl_arrow")
    finally:
        con.unregister("_repl_arrow")
    return Replacement(name, keyed)


def scan_rules(policy: Policy, settings: ValidationSettings) -> ScanRules:
    """What each column may hold, for the residual scan: value-set codes, states, system URIs; id columns."""
    uris = frozenset(u.lower() for u in KNOWN_SYSTEM_URIS | set(settings.local_code_systems))
    permitted: dict[str, dict[str, frozenset[str]]] = {}
    ids: dict[str, frozenset[str]] = {}
    for table in policy.tables:
        ids[table.table] = frozenset(r.column for r in table.rules if r.transform == "pseudonym")
        for rule in table.rules:
            if rule.domain is None:
                continue
            if rule.domain.kind == "value_set":
                values = frozenset(v.lower() for v in rule.domain.values)
            elif rule.domain.kind == "state":
                values = STATE_VALUES
            elif rule.domain.kind == "system":
                values = uris
            else:
                continue
            permitted.setdefault(table.table, {})[rule.column] = values
    return ScanRules(permitted=permitted, id_columns=ids, uris=uris)
