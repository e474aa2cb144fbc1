"""The current de-identified rows: the union of export batches, where a resource that arrived again counts once.

The de-identified zone keeps every batch's rows (column ``batch_id``). A resource re-sent by a later batch
(a full re-export, an updated encounter in an incremental one) must count once, in its latest version: for each
key, only the rows of the latest batch holding that key are current. This module is the ONE place that says
so (``current_rows_sql``), so every reader of the zone agrees. Resources a Bulk export reported deleted need
no filter here: publishing their tombstones removes their rows from every batch (``deid/tombstones.py``); a
future kind of row that stays but is no longer current would be excluded here.

Batch order is given by the caller (the order batches were registered); batches the caller does not list come
first, by batch id. Everything here reads tables shaped like the ``deidentified_*`` tables from any DuckDB
schema (the warehouse attached read-only, or an in-memory connection holding one patient's Bundle).
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

from healthcare_assets.deid.policy import FOLLOWUP
from healthcare_assets.features import measurements
from healthcare_assets.features.encounter_codes import INPATIENT_CLASSES
from healthcare_assets.warehouse.duckdb_store import quote_ident, sql_literal

ORDER_TABLE = "_fx_batch_order"
FOLLOWUP_COLUMN = FOLLOWUP["encounter"][1]  # de-identification's follow-up flag (the label's limit)

# table -> (key column, {column: DuckDB type}) : what the features read from each deidentified_<table>.
SOURCES: dict[str, tuple[str, dict[str, str]]] = {
    "patient": (
        "patient_id",
        {
            "patient_id": "VARCHAR", "gender": "VARCHAR", "deceased": "BOOLEAN",
            "deceased_datetime_offset_h": "DOUBLE",
        },
    ),
    "encounter": (
        "encounter_id",
        {
            "encounter_id": "VARCHAR", "patient_id": "VARCHAR", "status": "VARCHAR", "class_code": "VARCHAR",
            "type_code": "VARCHAR", "period_start_offset_h": "DOUBLE", "period_end_offset_h": "DOUBLE",
            "admit_source_code": "VARCHAR", "discharge_disposition_code": "VARCHAR", "age_years": "INTEGER",
            FOLLOWUP_COLUMN: "BOOLEAN",
        },
    ),
    "condition": (
        "condition_id",
        {
            "condition_id": "VARCHAR", "patient_id": "VARCHAR", "encounter_id": "VARCHAR", "snomed_code": "VARCHAR",
            "icd10cm_code": "VARCHAR", "verification_status": "VARCHAR", "onset_datetime_offset_h": "DOUBLE",
            "recorded_date_offset_h": "DOUBLE",
        },
    ),
    "observation": (
        "observation_id",
        {
            "observation_id": "VARCHAR", "patient_id": "VARCHAR", "status": "VARCHAR", "code": "VARCHAR",
            "code_system": "VARCHAR", "value_quantity": "DOUBLE", "value_unit": "VARCHAR",
            "effective_datetime_offset_h": "DOUBLE", "effective_period_start_offset_h": "DOUBLE",
            "issued_offset_h": "DOUBLE",
        },
    ),
    "observation_component": (
        "observation_id",
        {
            "observation_id": "VARCHAR", "patient_id": "VARCHAR", "code": "VARCHAR", "code_system": "VARCHAR",
            "value_quantity": "DOUBLE", "value_unit": "VARCHAR", "effective_datetime_offset_h": "DOUBLE",
        },
    ),
    "medication_request": (
        "medication_request_id",
        {
            "medication_request_id": "VARCHAR", "patient_id": "VARCHAR", "status": "VARCHAR",
            "medication_code": "VARCHAR", "authored_on_offset_h": "DOUBLE",
        },
    ),
    "procedure": (
        "procedure_id",
        {
            "procedure_id": "VARCHAR", "patient_id": "VARCHAR", "status": "VARCHAR", "code": "VARCHAR",
            "performed_start_offset_h": "DOUBLE", "performed_datetime_offset_h": "DOUBLE",
        },
    ),
}  # fmt: skip
# Columns a source must have that are not copied: the observation tables' key serves only to find current rows
# (and these are the largest tables); nothing after loading reads it.
NOT_COPIED = {"observation": ("observation_id",), "observation_component": ("observation_id",)}
BATCH_COPIED = ("encounter",)  # the tables whose batch_id is read after loading (a stay's batch)


class FeatureInputError(RuntimeError):
    """The de-identified tables cannot feed the features (names the table and column)."""


def source_table(source: str, table: str) -> str:
    return f"{quote_ident(source)}.{quote_ident('deidentified_' + table)}"


def current_rows_sql(
    table: str, source: str = "main", columns: Sequence[str] | None = None, dedupe: bool = True
) -> str:
    """SELECT the current rows of ``deidentified_<table>`` in schema ``source``: for each key, the rows of the
    latest batch that holds it (all of them: an observation's components travel together). Needs the
    ``_fx_batch_order(batch_id, seq)`` table (``register_batch_order``) when ``dedupe``."""
    key = quote_ident(SOURCES[table][0])
    if not dedupe:
        wanted = ", ".join(quote_ident(c) for c in (columns or SOURCES[table][1])) + ", batch_id"
        return f"SELECT {wanted} FROM {source_table(source, table)}"
    # Each key's latest batch by GROUP BY and a semi-join: about twice as fast as a window over every row.
    wanted = ", ".join(f"t.{quote_ident(c)}" for c in (columns or SOURCES[table][1])) + ", t.batch_id"
    return f"""SELECT {wanted} FROM {source_table(source, table)} t JOIN {ORDER_TABLE} o USING (batch_id)
               SEMI JOIN (SELECT s.{key}, max(so.seq) AS latest
                          FROM {source_table(source, table)} s JOIN {ORDER_TABLE} so USING (batch_id)
                          GROUP BY s.{key}) m
                   ON m.{key} IS NOT DISTINCT FROM t.{key} AND m.latest = o.seq"""


def _existing_columns(con: duckdb.DuckDBPyConnection, source: str, table: str) -> set[str] | None:
    rows = con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE schema_name = 'main' AND table_name = ? AND database_name = ?",
        ["deidentified_" + table, source],
    ).fetchall()
    return {r[0] for r in rows} or None


def register_batch_order(con: duckdb.DuckDBPyConnection, source: str, batch_order: Sequence[str] | None) -> int:
    """``_fx_batch_order``: every batch present in the source tables with its rank (listed batches last, in the
    given order). Returns how many batches there are."""
    present = []
    for table in SOURCES:
        if _existing_columns(con, source, table):
            present.append(f"SELECT DISTINCT batch_id FROM {source_table(source, table)}")
    listed = list(batch_order or [])
    con.execute(f"CREATE OR REPLACE TEMP TABLE {ORDER_TABLE} (batch_id VARCHAR, seq INTEGER)")
    if not present:
        return 0
    rows = con.execute(" UNION ".join(present) + " ORDER BY 1").fetchall()
    unknown = [r[0] for r in rows if r[0] not in set(listed)]
    ordered = unknown + [b for b in listed if b in {r[0] for r in rows}]
    con.executemany(f"INSERT INTO {ORDER_TABLE} VALUES (?, ?)", [(b, i) for i, b in enumerate(ordered)])
    return len(ordered)


def load_current(
    con: duckdb.DuckDBPyConnection,
    source: str,
    batch_order: Sequence[str] | None = None,
    tables: Sequence[str] | None = None,
) -> dict[str, int]:
    """Copy the current rows the features need into temp tables ``_fx_src_<table>`` of ``con`` (tables missing
    from ``source``, or not among ``tables``, are empty). Returns row counts. Run it while holding the warehouse
    lock; everything after it reads only the temp tables.

    Only patients with an inpatient encounter are loaded (nobody else can have an index stay), renumbered:
    ``patient_id`` is an INTEGER in the ``_fx_src_*`` tables and ``_fx_pid(patient_id, pid)`` maps it back, so
    the large joins and groupings run on integers rather than 32-character surrogates."""
    batches = register_batch_order(con, source, batch_order)
    dedupe = batches > 1
    counts: dict[str, int] = {}
    # Current encounters are read twice (patients, then their rows): worth a copy only when finding them is work.
    kind = "TABLE" if dedupe else "VIEW"
    _load_table(con, source, "encounter", "_fx_cur_encounter", dedupe, kind=kind)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _fx_pid AS
        SELECT patient_id, (row_number() OVER (ORDER BY patient_id))::INTEGER AS pid
        FROM (SELECT DISTINCT patient_id FROM _fx_cur_encounter
              WHERE patient_id IS NOT NULL AND class_code IN {_in(INPATIENT_CLASSES)})"""
    )
    for table in SOURCES:
        wanted = tables is None or table in tables
        source_sql = "_fx_cur_encounter" if table == "encounter" else None
        _load_table(con, source if wanted else None, table, f"_fx_src_{table}", dedupe, source_sql, renumber=True)
        counts[table] = con.execute(f"SELECT count(*) FROM _fx_src_{table}").fetchall()[0][0]
    con.execute(f"DROP {kind} _fx_cur_encounter")
    _first_batches(con, source, dedupe)
    return counts


def _in(values: Sequence[str]) -> str:
    return "(" + ", ".join(sql_literal(v) for v in values) + ")"


def _load_table(
    con: duckdb.DuckDBPyConnection,
    source: str | None,
    table: str,
    target: str,
    dedupe: bool,
    from_table: str | None = None,
    renumber: bool = False,
    kind: str = "TABLE",
) -> None:
    """``target`` (a temp TABLE or VIEW) := the current rows of ``deidentified_<table>`` (observations: only
    the codes the features read; ``renumber``: only loaded patients, ``patient_id`` as their number, and only the
    columns read after loading); empty when ``source`` is None or lacks the table."""
    columns = SOURCES[table][1]
    copied = {c: t for c, t in columns.items() if not (renumber and c in NOT_COPIED.get(table, ()))}
    batch = not renumber or table in BATCH_COPIED
    present = _existing_columns(con, source, table) if source is not None else None
    name = quote_ident(target)
    if present is None and from_table is None:
        empty = ", ".join(
            f"NULL::{'INTEGER' if renumber and c == 'patient_id' else dtype} AS {quote_ident(c)}"
            for c, dtype in copied.items()
        )
        empty += ", NULL::VARCHAR AS batch_id" if batch else ""
        con.execute(f"CREATE OR REPLACE TEMP {kind} {name} AS SELECT {empty} LIMIT 0")
        return
    if from_table is None:
        missing = [c for c in columns if c not in present]
        if missing:
            raise FeatureInputError(
                f"deidentified_{table} has no column {', '.join(missing)}: it was de-identified by an older "
                "version; re-run de-identification for its batches (or start a fresh data directory)"
            )
        from_table = f"({current_rows_sql(table, source, dedupe=dedupe)})"
    where = ""
    if table in ("observation", "observation_component"):
        where = f" WHERE t.code IN {_in([code for code, _ in measurements.loinc_rows()])}"
    if renumber:
        others = ", ".join(f"t.{quote_ident(c)}" for c in copied if c != "patient_id") + (
            ", t.batch_id" if batch else ""
        )
        sql = f"SELECT p.pid AS patient_id, {others} FROM {from_table} t JOIN _fx_pid p USING (patient_id)"
    else:
        sql = f"SELECT * FROM {from_table} t"
    con.execute(f"CREATE OR REPLACE TEMP {kind} {name} AS {sql}{where}")


def _first_batches(con: duckdb.DuckDBPyConnection, source: str, dedupe: bool) -> None:
    """``_fx_first_batch(encounter_id, first_batch_id)``: the first batch that carried each encounter finished
    (the batch an index stay belongs to)."""
    if _existing_columns(con, source, "encounter") is None:
        con.execute("CREATE OR REPLACE TEMP TABLE _fx_first_batch (encounter_id VARCHAR, first_batch_id VARCHAR)")
        return
    finished = "status = 'finished' AND period_end_offset_h IS NOT NULL"
    if not dedupe:
        sql = f"SELECT encounter_id, any_value(batch_id) AS first_batch_id FROM {source_table(source, 'encounter')} "
        sql += f"WHERE {finished} GROUP BY encounter_id"
    else:
        sql = (
            f"SELECT encounter_id, arg_min(batch_id, o.seq) AS first_batch_id FROM {source_table(source, 'encounter')} "
            f"JOIN {ORDER_TABLE} o USING (batch_id) WHERE {finished} GROUP BY encounter_id"
        )
    con.execute(f"CREATE OR REPLACE TEMP TABLE _fx_first_batch AS {sql}")
