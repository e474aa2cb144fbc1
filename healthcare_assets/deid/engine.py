"""De-identify one landed batch: the project's views over the raw NDJSON, then the policy's transforms.

Everything runs in one in-memory DuckDB connection whose spill files stay in the PHI zone. Each view reads
only the elements it needs with ``read_json`` and skips the lines the profile excluded (quarantined or
superseded) by row number; the kept resources are then checked against the profile (count and id checksum),
so the de-identified tables hold exactly the resources the structural gate accepted. Identifiers go through
the pseudonymizer, times through the patient timeline; a dictionary of the batch's own PHI values is built in
the same connection (``inventory``) and every kept coded value is checked against its column's domain and that
dictionary (``validation``); then each table is written to a Parquet file in a PHI-zone staging folder and
scanned for residual PHI. Publishing to the warehouse is the caller's decision, made on the scan's result.
"""

from __future__ import annotations

import copy
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from healthcare_assets.deid import tombstones
from healthcare_assets.deid.geography import zip3_sql
from healthcare_assets.deid.ground_truth import GROUND_TRUTH_TABLE, stage_ground_truth
from healthcare_assets.deid.inventory import Inventory, build_inventory
from healthcare_assets.deid.policy import AGE_AT, FOLLOWUP, FOLLOWUP_DAYS, ColumnRule, Policy, TablePolicy
from healthcare_assets.deid.pseudonyms import Codebook, Pseudonymizer
from healthcare_assets.deid.scan import ScanResult, ScanRules, scan_tables
from healthcare_assets.deid.timeline import age_years_sql, ensure_timeline, fhir_time_sql, offset_hours_sql
from healthcare_assets.deid.validation import Validation, ValidationSettings, scan_rules, validate_columns
from healthcare_assets.errors import CleanError
from healthcare_assets.fhir.landing import LandedBatch
from healthcare_assets.fhir.profile import EXCLUDED_FILE, QUARANTINE_DIR, readable_files
from healthcare_assets.fhir.views import TableSource, ViewDefinition, compile_view, load_view, plan_view
from healthcare_assets.warehouse.duckdb_store import quiet, sql_literal, sql_name
from healthcare_assets.warehouse.duckdb_store import quote_ident as q

# read_json's largest object for a file the profile did not screen (one landed before screening existed). A
# screened file is read with its own longest line as the bound: DuckDB sizes its read buffers by this bound,
# and a file smaller than one buffer is parsed on ONE thread (Synthea x10's 121 MB observation file: 0.45 s on
# one core with 256 MiB, 0.40 s on 1.8 cores with its 5 KB longest line).
MAX_OBJECT_BYTES = 256 * 1024 * 1024


class DeidError(CleanError, RuntimeError):
    """The batch cannot be de-identified safely; the message says which resource type or file."""


@dataclass
class StagedTable:
    view: str
    table: str
    path: Path
    rows: int
    columns: list[tuple[str, str]]  # (name, DuckDB type) as written


@dataclass
class DeidResult:
    batch_id: str
    policy_version: str
    profile: str
    pseudonym_mode: str
    tables: dict[str, StagedTable]
    transformed: dict[str, dict[str, int]]  # table -> transform -> values transformed
    new_pseudonyms: int
    patients: int
    seconds: float
    scan: ScanResult
    inventory: Inventory
    timings: dict[str, float] = field(default_factory=dict)
    tombstones: tombstones.StagedTombstones | None = None  # deletions of an incremental export, staged
    validation: Validation = field(default_factory=Validation)


def deidentify_batch(
    batch: LandedBatch,
    type_counts: dict[str, dict[str, Any]],
    views: dict[str, ViewDefinition],
    policy: Policy,
    pseudonymizer: Pseudonymizer,
    codebook: Codebook,
    staging: Path,
    reference_time: datetime,
    threads: int = 2,
    memory_limit: str = "4GB",
    settings: ValidationSettings = ValidationSettings(),
    data_end: datetime | None = None,
) -> DeidResult:
    """Write one Parquet file per de-identified table into ``staging`` (a PHI-zone folder, replaced).

    ``data_end`` is when the batch's data ends (Bulk transactionTime, synthetic simulation end); unknown (None),
    it is the batch's latest event time, but not after ``reference_time``.
    """
    started = time.perf_counter()
    batch_id = batch.manifest["batch_id"]
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True, mode=0o700)
    con = quiet(duckdb.connect(":memory:"))
    timings: dict[str, float] = {}
    try:
        con.execute(f"SET threads = {int(threads)}")
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET preserve_insertion_order = true")
        con.execute("SET temp_directory = ?", [str(staging / ".spill")])
        con.execute(f"SET memory_limit = '{memory_limit}'")
        excluded = batch.batch_dir / QUARANTINE_DIR / EXCLUDED_FILE
        if not excluded.exists():
            raise DeidError(f"{excluded} is missing: profile the batch (fhir_profile) before de-identifying it")
        con.execute("CREATE TEMP TABLE _excluded AS SELECT file, record_no FROM read_parquet(?)", [str(excluded)])
        con.execute("CREATE TEMP TABLE _raw_identifiers (rtype VARCHAR, value VARCHAR)")

        tick = time.perf_counter()
        by_resource: dict[str, list[TablePolicy]] = {}
        for table in policy.tables:
            by_resource.setdefault(table.resource, []).append(table)
        for tables in by_resource.values():
            _flatten(con, batch, views, tables, type_counts)
        timings["flatten"] = time.perf_counter() - tick

        tick = time.perf_counter()
        _collect_keys(con, policy)
        # Tombstones hook: deleted ids are pseudonymized with the batch's keys (see tombstones.py).
        deletions = tombstones.collect_deleted_keys(con, batch, {t.resource for t in policy.tables}, "_keys")
        mapping = pseudonymizer.map_keys(con, "_keys", batch_id)
        timings["pseudonyms"] = time.perf_counter() - tick

        tick = time.perf_counter()
        patients = _timeline(con, policy, codebook, batch_id, reference_time, data_end)
        timings["timeline"] = time.perf_counter() - tick

        tick = time.perf_counter()
        inventory = build_inventory(con, batch, _extra_terms_sql(policy), staging)
        validation = validate_columns(con, policy, inventory, codebook, settings, batch_id)
        timings["validate"] = time.perf_counter() - tick

        tick = time.perf_counter()
        staged, transformed = {}, {}
        for table in policy.tables:
            staged[table.table], transformed[table.table] = _write_table(
                con, table, mapping, policy, batch_id, staging, validation
            )
        staged_tombstones = tombstones.stage_tombstones(con, mapping, batch_id, policy.version, staging, deletions)
        # The synthetic source's known truth (empty otherwise), staged and scanned with the rest.
        staged[GROUND_TRUTH_TABLE], transformed[GROUND_TRUTH_TABLE] = stage_ground_truth(con, batch, mapping, staging)
        timings["write"] = time.perf_counter() - tick

        tick = time.perf_counter()
        scan = scan_tables(
            con,
            {**{name: t.path for name, t in staged.items()}, tombstones.TOMBSTONE_TABLE: staged_tombstones.path},
            inventory,
            policy.profile.is_safe_harbor,
            rules=_with_tombstones(scan_rules(policy, settings), policy),
            terms_loaded=True,  # by validate_columns, in this connection
        )
        timings["scan"] = time.perf_counter() - tick
    finally:
        con.close()
        shutil.rmtree(staging / ".spill", ignore_errors=True)
    return DeidResult(
        batch_id=batch_id,
        policy_version=policy.version,
        profile=policy.profile.value,
        pseudonym_mode=pseudonymizer.mode,
        tables=staged,
        transformed=transformed,
        new_pseudonyms=getattr(pseudonymizer, "new_keys", 0),
        patients=patients,
        seconds=time.perf_counter() - started,
        scan=scan,
        inventory=inventory,
        timings=timings,
        tombstones=staged_tombstones,
        validation=validation,
    )


def _flatten(
    con: duckdb.DuckDBPyConnection,
    batch: LandedBatch,
    views: dict[str, ViewDefinition],
    tables: list[TablePolicy],
    type_counts: dict[str, dict[str, Any]],
) -> None:
    """``_flat_<view>`` for every view of one resource type, over its accepted resources read ONCE (the union of
    what the views need), after checking those resources against the profile."""
    resource = tables[0].resource
    columns = merged_read_columns([views[t.view] for t in tables])
    columns.setdefault("resourceType", "VARCHAR")
    columns.setdefault("id", "VARCHAR")
    # Identifier values are read alongside (never output) so the residual scan knows them.
    collect_identifiers = "identifier" not in columns
    if collect_identifiers:
        columns["identifier"] = "STRUCT(value VARCHAR)[]"
    schema = "{" + ", ".join(f"'{name}': '{kind}'" for name, kind in columns.items()) + "}"
    accepted = f"_acc_{resource}"
    files = [entry for entry in batch.manifest["files"] if entry["type"] == resource]
    empty = ", ".join(f"NULL::{kind} AS {sql_name(name)}" for name, kind in columns.items())
    con.execute(f"CREATE OR REPLACE TEMP TABLE {q(accepted)} AS SELECT {empty} LIMIT 0")
    readable = readable_files(batch)  # screened-out lines are `{}` there: no reader trips on or quotes them
    # Each file's records are appended in file order (insertion order is preserved, as the profile's record
    # numbers assume), so record n of a file appended from row id ``start`` is row ``start + n - 1``; the excluded
    # ones are deleted once every file is in. Numbering the records while reading (row_number(), WITH
    # ORDINALITY) made DuckDB read the file on one thread: a 1.5 GB file took twice as long.
    starts = []
    for entry in files:
        readable_file = readable[entry["path"]]
        path = str(readable_file.path)
        # A line longer than the bound would be skipped: the count check below would then fail loudly.
        largest = readable_file.max_line_bytes or MAX_OBJECT_BYTES
        starts.append((entry["path"], con.execute(f"SELECT count(*) FROM {q(accepted)}").fetchall()[0][0]))
        con.execute(
            f"""INSERT INTO {q(accepted)} SELECT * FROM read_json({sql_literal(path)}, format='newline_delimited',
                records=true, ignore_errors=true, maximum_object_size={int(largest)}, columns={schema})"""
        )
    if starts:
        offsets = " UNION ALL ".join(
            f"SELECT {sql_literal(path)} AS file, {int(start)} AS start" for path, start in starts
        )
        con.execute(
            f"""DELETE FROM {q(accepted)} WHERE rowid IN (
                    SELECT o.start + e.record_no - 1 FROM _excluded e JOIN ({offsets}) o USING (file))"""
        )
    _verify_against_profile(con, q(accepted), resource, type_counts)
    if collect_identifiers:
        con.execute(
            f"""INSERT INTO _raw_identifiers SELECT DISTINCT {sql_literal(resource)}, i.value
                FROM (SELECT unnest(identifier) AS i FROM {q(accepted)}) WHERE i.value IS NOT NULL"""
        )
    for table in tables:
        sql = compile_view(views[table.view], TableSource(accepted, json_column=None))
        con.execute(f"CREATE OR REPLACE TEMP TABLE {q('_flat_' + table.view)} AS {sql}")
    con.execute(f"DROP TABLE {q(accepted)}")


def merged_read_columns(views: list[ViewDefinition]) -> dict[str, str]:
    """The read schema covering every view of one resource type, so its files are parsed once.

    The views' selects are combined into one throw-away ViewDefinition (columns renamed apart) and the engine
    derives the schema for all their paths together; the merged view itself is never run.
    """
    if len(views) == 1:
        return dict(plan_view(views[0]).read_columns)
    merged: dict[str, Any] = {
        "resourceType": "ViewDefinition",
        "name": "merged_read",
        "status": "active",
        "resource": views[0].resource,
        "select": [],
        "where": [],
        "constant": [],
    }
    for index, view in enumerate(views):
        raw = copy.deepcopy(view.raw)
        merged["select"] += [_rename_columns(select, f"v{index}_") for select in raw.get("select", [])]
        merged["where"] += raw.get("where", [])
        merged["constant"] += [c for c in raw.get("constant", []) if c not in merged["constant"]]
    return dict(plan_view(load_view(merged)).read_columns)


def _rename_columns(select: dict[str, Any], prefix: str) -> dict[str, Any]:
    for column in select.get("column", []):
        column["name"] = prefix + column["name"]
    for key in ("select", "unionAll"):
        select[key] = [_rename_columns(inner, prefix) for inner in select.get(key, [])]
    return select


def _verify_against_profile(
    con: duckdb.DuckDBPyConnection, accepted: str, resource: str, type_counts: dict[str, dict[str, Any]]
) -> None:
    rows, checksum, bad_type = con.execute(
        f"""SELECT count(*), coalesce(bit_xor(hash(id)), 0)::VARCHAR,
                   count(*) FILTER (WHERE resourceType IS DISTINCT FROM {sql_literal(resource)} OR id IS NULL)
            FROM {accepted}"""
    ).fetchall()[0]
    expected = type_counts.get(resource)
    want_rows = int(expected["accepted"]) if expected else 0
    want_checksum = str(expected["id_checksum"]) if expected else "0"
    if bad_type or rows != want_rows or checksum != want_checksum:
        raise DeidError(
            f"{resource}: the resources read for de-identification ({rows}) are not the {want_rows} the profile "
            f"accepted (id checksum {'differs' if checksum != want_checksum else 'matches'}; "
            f"{bad_type} without the right type or an id); re-run fhir_profile for this batch"
        )


def _collect_keys(con: duckdb.DuckDBPyConnection, policy: Policy) -> None:
    selects = [
        f"SELECT {sql_literal(rule.namespace)} AS namespace, {q(rule.column)} AS original "
        f"FROM {q('_flat_' + table.view)} WHERE {q(rule.column)} IS NOT NULL"
        for table in policy.tables
        for rule in table.rules
        if rule.transform == "pseudonym"
    ]
    con.execute("CREATE OR REPLACE TEMP TABLE _keys AS SELECT DISTINCT * FROM (" + " UNION ALL ".join(selects) + ")")


def _extra_terms_sql(policy: Policy) -> str:
    """Dictionary rows the connection already holds: original ids, identifier values, dates of time columns."""
    parts = [
        "SELECT namespace AS rtype, 'resource_id' AS kind, original AS term FROM _keys",
        "SELECT DISTINCT rtype, 'identifier_or_contact', value FROM _raw_identifiers",
    ]
    for table in policy.tables:
        for rule in table.rules:
            if rule.transform in ("event_time", "birth_date", "death_date"):
                parts.append(
                    f"SELECT DISTINCT {sql_literal(table.resource)}, 'date', left({q(rule.column)}, 10) "
                    f"FROM {q('_flat_' + table.view)} WHERE {q(rule.column)} IS NOT NULL"
                )
    return " UNION ALL ".join(parts)


def _with_tombstones(rules: ScanRules, policy: Policy) -> ScanRules:
    """The tombstones table holds resource types of the views and surrogates."""
    types = frozenset(t.resource.lower() for t in policy.tables)
    rules.permitted[tombstones.TOMBSTONE_TABLE] = {"resource_type": types}
    rules.id_columns[tombstones.TOMBSTONE_TABLE] = frozenset({"resource_key"})
    return rules


def patient_column(table: TablePolicy) -> str | None:
    """The column holding the patient key: the pseudonym column in the Patient namespace."""
    for rule in table.rules:
        if rule.transform == "pseudonym" and rule.namespace == "Patient":
            return rule.column
    return None


def _timeline(
    con: duckdb.DuckDBPyConnection,
    policy: Policy,
    codebook: Codebook,
    batch_id: str,
    reference_time: datetime,
    data_end: datetime | None = None,
) -> int:
    """``_timeline`` (anchors, shifts), ``_births`` (birth time, 90+ flag) for every patient in the batch, and
    ``_data_end`` (one row: where the batch's data ends)."""
    events = []
    for table in policy.tables:
        patient = patient_column(table)
        times = [r.column for r in table.rules if r.transform == "event_time"]
        if times and patient is None:
            raise DeidError(f"{table.table}: event times need a patient column to anchor them")
        for column in times:
            events.append(
                f"SELECT {q(patient)} AS patient, {fhir_time_sql(q(column))} AS t FROM {q('_flat_' + table.view)}"
            )
        if patient:
            events.append(f"SELECT {q(patient)} AS patient, NULL::TIMESTAMPTZ AS t FROM {q('_flat_' + table.view)}")
    # One pass over every event time: each patient's first (the anchor candidate) and last; the latest of all,
    # rows without a patient included, is where ages over 89 are judged.
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _event_bounds AS SELECT patient, min(t) AS first_event, max(t) AS last_event "
        "FROM (" + " UNION ALL ".join(events) + ") GROUP BY patient"
    )
    con.execute(
        "CREATE OR REPLACE TEMP VIEW _first_events AS "
        "SELECT patient, first_event FROM _event_bounds WHERE patient IS NOT NULL"
    )
    ensure_timeline(con, codebook, "_first_events", batch_id)
    if data_end is None:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _data_end AS SELECT least(max(last_event), ?::TIMESTAMPTZ) AS t "
            "FROM _event_bounds",
            [reference_time],
        )
    else:
        con.execute("CREATE OR REPLACE TEMP TABLE _data_end AS SELECT ?::TIMESTAMPTZ AS t", [data_end])
    patient_table = next((t for t in policy.tables if t.resource == "Patient"), None)
    birth_rule = next((r for r in patient_table.rules if r.transform == "birth_date"), None) if patient_table else None
    if birth_rule is None:
        con.execute("CREATE OR REPLACE TEMP TABLE _births (patient VARCHAR, birth TIMESTAMPTZ, over_89 BOOLEAN)")
    else:
        latest = con.execute("SELECT max(last_event) FROM _event_bounds").fetchall()[0][0]
        reference = max([t for t in (latest, reference_time) if t is not None])
        flat = q("_flat_" + patient_table.view)
        birth = fhir_time_sql(q(birth_rule.column))
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _births AS
                SELECT {q(patient_column(patient_table))} AS patient, {birth} AS birth,
                       date_part('year', age(?::TIMESTAMPTZ, {birth})) >= 90 AS over_89
                FROM {flat}""",
            [reference],
        )
    return con.execute("SELECT count(*) FROM _first_events").fetchall()[0][0]


def _write_table(
    con: duckdb.DuckDBPyConnection,
    table: TablePolicy,
    mapping: str,
    policy: Policy,
    batch_id: str,
    staging: Path,
    validation: Validation,
) -> tuple[StagedTable, dict[str, int]]:
    query, counts = table_select(table, mapping, policy, batch_id, validation)
    flat = q("_flat_" + table.view)
    target = staging / f"{table.table}.parquet"
    # Rows keep the order of the source files (insertion order is preserved); a sort would only cost time.
    con.execute(f"COPY ({query}) TO {sql_literal(str(target))} (FORMAT parquet)")
    described = con.execute(f"DESCRIBE SELECT * FROM read_parquet({sql_literal(str(target))})").fetchall()
    rows = con.execute(f"SELECT count(*) FROM read_parquet({sql_literal(str(target))})").fetchall()[0][0]
    transformed = {}
    if counts:
        values = con.execute(
            f"SELECT {', '.join(f'{v} AS {q(k)}' for k, v in counts.items())} FROM {flat} f"
        ).fetchall()[0]
        transformed = dict(zip(counts, (int(v) for v in values), strict=True))
    return StagedTable(table.view, table.table, target, rows, [(c[0], c[1]) for c in described]), transformed


def table_select(
    table: TablePolicy, mapping: str, policy: Policy, batch_id: str, validation: Validation
) -> tuple[str, dict[str, str]]:
    """The SELECT that turns ``_flat_<view>`` into the de-identified table (needs ``mapping``, ``_timeline``,
    ``_births`` and ``_data_end`` in the connection), and per transform the SQL counting its values. The batch
    writer stages it as Parquet; the serving API runs it in memory on one patient's Bundle (serving/fhir.py)."""
    flat = q("_flat_" + table.view)
    patient = patient_column(table)
    selects = [f"{sql_literal(batch_id)} AS batch_id"]
    joins = []
    counts: dict[str, str] = {}
    shifted = not policy.profile.is_safe_harbor
    for index, rule in enumerate(table.rules):
        source = f"f.{q(rule.column)}"
        replacement = validation.replacements.get((table.view, rule.column))
        if replacement is not None:
            # Values outside the column's domain: NULL or local-code-<n> / local-system-<n> (validation.py).
            alias = f"r{index}"
            on = f"{alias}.original = {source}"
            if replacement.system_column:
                on += f" AND {alias}.system IS NOT DISTINCT FROM f.{q(replacement.system_column)}"
            joins.append(f"LEFT JOIN {q(replacement.table)} {alias} ON {on}")
            source = f"(CASE WHEN {alias}.original IS NULL THEN {source} ELSE {alias}.published END)"
        selects += _transform(rule, source, index, shifted)
        if rule.transform == "pseudonym":
            alias = f"m{index}"
            joins.append(
                f"LEFT JOIN {mapping} {alias} ON {alias}.namespace = {sql_literal(rule.namespace)} "
                f"AND {alias}.original = {source}"
            )
        if rule.transform != "keep":
            counts.setdefault(rule.transform, "0")
            counts[rule.transform] += f" + count(f.{q(rule.column)})"
    if table.view in AGE_AT:
        event, name = AGE_AT[table.view]
        selects.append(f"{age_years_sql(fhir_time_sql('f.' + q(event)), 'b.birth')} AS {q(name)}")
    if table.view in FOLLOWUP:
        event, name = FOLLOWUP[table.view]
        end = fhir_time_sql("f." + q(event))
        selects.append(
            f"CASE WHEN {end} IS NULL THEN NULL "
            f"ELSE {end} + INTERVAL {FOLLOWUP_DAYS} DAY <= (SELECT t FROM _data_end) END AS {q(name)}"
        )
    selects.append(f"{sql_literal(policy.version)} AS deid_policy")
    if patient:
        joins.append(f"LEFT JOIN _timeline tl ON tl.patient = f.{q(patient)}")
        joins.append(f"LEFT JOIN _births b ON b.patient = f.{q(patient)}")
    return f"SELECT {', '.join(selects)} FROM {flat} f {' '.join(joins)}", counts


def _transform(rule: ColumnRule, source: str, index: int, shifted: bool) -> list[str]:
    name = rule.column
    if rule.transform in ("keep", "state"):
        return [f"{source} AS {q(name)}"]
    if rule.transform == "pseudonym":
        return [f"m{index}.surrogate AS {q(name)}"]
    if rule.transform in ("event_time", "death_date"):
        moment = fhir_time_sql(source)
        out = [f"{offset_hours_sql(moment, 'tl.anchor')} AS {q(name + '_offset_h')}"]
        if shifted:
            out.append(f"({moment} + to_days(tl.shift_days))::TIMESTAMP AS {q(name + '_shifted')}")
        return out
    if rule.transform == "birth_date":
        out = [
            "CASE WHEN b.over_89 THEN NULL ELSE year(b.birth) END::INTEGER AS birth_year",
            "coalesce(b.over_89, false) AS age_90_or_older",
        ]
        if shifted:
            out.append("(b.birth + to_days(tl.shift_days))::DATE AS birth_date_shifted")
        return out
    if rule.transform == "zip3":
        return [f"{zip3_sql(source)} AS zip3"]
    raise DeidError(f"no transform {rule.transform!r}")
