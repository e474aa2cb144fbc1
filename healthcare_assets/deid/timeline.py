"""Clinical time inside the PHI zone: FHIR dateTimes, per-patient anchors and shifts, offsets and ages.

Safe Harbor keeps no element of a date but the year, and not even the year beside an offset (a year next to
an offset pins down the date). So every event time becomes hours since a per-patient anchor: the earliest
event time seen for the patient in the first batch that contained them. The anchor is kept in the PHI-zone
codebook so that later batches use the same origin (intervals such as days to readmission then span batches)
and never leaves it. The date-shift profile adds a consistent random shift of 1-365 days either way.
"""

from __future__ import annotations

import secrets

import duckdb
import pyarrow as pa

from healthcare_assets.deid.policy import AGE_CAP
from healthcare_assets.deid.pseudonyms import Codebook, insert_with_fresh_values
from healthcare_assets.warehouse.duckdb_store import transaction

MAX_SHIFT_DAYS = 365


def fhir_time_sql(column: str) -> str:
    """A FHIR date/dateTime/instant string as TIMESTAMPTZ (UTC session); partial dates at their period's start."""
    return (
        f"CASE WHEN regexp_full_match({column}, '[0-9]{{4}}') THEN try_cast({column} || '-01-01' AS TIMESTAMPTZ) "
        f"WHEN regexp_full_match({column}, '[0-9]{{4}}-[0-9]{{2}}') THEN try_cast({column} || '-01' AS TIMESTAMPTZ) "
        f"ELSE try_cast({column} AS TIMESTAMPTZ) END"
    )


def offset_hours_sql(time_sql: str, anchor_sql: str) -> str:
    """Hours from the anchor, at one-minute resolution (what clinical intervals need, nothing finer)."""
    return f"round((epoch({time_sql}) - epoch({anchor_sql})) / 60.0) / 60.0"


def age_years_sql(time_sql: str, birth_sql: str) -> str:
    """Whole years of age at an event, capped at 90 ("90 or older")."""
    return f"least(date_part('year', age({time_sql}, {birth_sql}))::INTEGER, {AGE_CAP})"


def random_shifts(count: int) -> pa.Array:
    """Per-patient shifts in days, uniform over [-365, -1] and [1, 365], from the OS CSPRNG."""
    shifts = []
    for _ in range(count):
        magnitude = 1 + secrets.randbelow(MAX_SHIFT_DAYS)
        shifts.append(magnitude if secrets.randbelow(2) else -magnitude)
    return pa.array(shifts, type=pa.int32())


def ensure_timeline(con: duckdb.DuckDBPyConnection, codebook: Codebook, first_events_table: str, batch_id: str) -> str:
    """Record anchors (and shifts) for patients not yet in the codebook and return a temp table
    ``_timeline(patient, anchor, shift_days)`` for every patient of ``first_events_table(patient, first_event)``.

    A patient already known keeps their anchor, so offsets stay comparable across batches; a patient first
    seen without any event gets an anchor as soon as a batch brings one.
    """
    with codebook.attached(con):
        with transaction(con):
            con.execute(
                f"""CREATE OR REPLACE TEMP TABLE _new_patients AS
                    SELECT f.patient, f.first_event, row_number() OVER () AS n FROM {first_events_table} f
                    WHERE NOT EXISTS (SELECT 1 FROM cb.patient_timeline t WHERE t.patient = f.patient)"""
            )
            new = con.execute("SELECT count(*) FROM _new_patients").fetchall()[0][0]
            if new:
                insert_with_fresh_values(
                    con,
                    random_shifts(new),
                    """INSERT INTO cb.patient_timeline
                       SELECT p.patient, p.first_event, f.value, ? FROM _new_patients p JOIN _fresh f USING (n)""",
                    [batch_id],
                )
            con.execute(
                f"""UPDATE cb.patient_timeline t SET anchor = f.first_event FROM {first_events_table} f
                    WHERE t.patient = f.patient AND t.anchor IS NULL AND f.first_event IS NOT NULL"""
            )
            con.execute(
                f"""CREATE OR REPLACE TEMP TABLE _timeline AS
                    SELECT t.patient, t.anchor, t.shift_days FROM cb.patient_timeline t
                    JOIN (SELECT DISTINCT patient FROM {first_events_table}) f USING (patient)"""
            )
    return "_timeline"
