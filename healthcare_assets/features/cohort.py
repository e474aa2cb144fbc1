"""The readmission cohort in SQL: merged stays, index discharges, exclusions, labels and the attrition table.

Reads the temp tables ``load_current`` made (``_fx_src_*``) and writes ``_fx_stays`` (every merged stay of every
patient, for utilization counts) and ``_fx_cohort`` (every inpatient stay, with its exclusion, label and the
batch it belongs to). The definition is ``CohortSpec``; ``CohortSpec.describe()`` says the same in words.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from healthcare_assets.features import encounter_codes as E
from healthcare_assets.features.current import FOLLOWUP_COLUMN
from healthcare_assets.features.spec import CohortSpec
from healthcare_assets.warehouse.duckdb_store import sql_literal

STAY_CLASSES = E.INPATIENT_CLASSES + E.EMERGENCY_CLASSES + E.OBSERVATION_CLASSES
EXCLUSION_LABELS = {
    "open": "stay not finished (an encounter in progress or without an end)",
    "under_min_age": "age at admission under the minimum",
    "expired": "died in hospital",
    "against_advice": "discharged against medical advice",
    "acute_transfer": "transferred to another acute hospital",
}


def _in(values: tuple[str, ...] | list[str]) -> str:
    return "(" + ", ".join(sql_literal(v) for v in values) + ")"


def build_cohort(con: duckdb.DuckDBPyConnection, spec: CohortSpec) -> None:
    """``_fx_stays`` and ``_fx_cohort`` from the ``_fx_src_*`` tables."""
    gap = float(spec.merge_gap_hours)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _fx_disposition AS SELECT * FROM (VALUES "
        + ", ".join(f"({sql_literal(k)}, {sql_literal(v)})" for k, v in E.DISPOSITION_CATEGORY.items())
        + ") t(code, category)"
    )
    # Stay encounters, each with the stay number of its patient (gaps and islands over the running max end).
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _fx_stay_enc AS
        WITH e AS (
            SELECT encounter_id, patient_id, class_code, type_code, admit_source_code, discharge_disposition_code,
                   age_years, batch_id, {FOLLOWUP_COLUMN} AS followup_complete, period_start_offset_h AS s,
                   CASE WHEN period_end_offset_h IS NULL OR status IN {_in(E.OPEN_STATUSES)} THEN NULL
                        ELSE greatest(period_end_offset_h, period_start_offset_h) END AS e
            FROM _fx_src_encounter
            WHERE class_code IN {_in(STAY_CLASSES)} AND period_start_offset_h IS NOT NULL
              AND patient_id IS NOT NULL AND coalesce(status, '') NOT IN {_in(E.VOID_STATUSES)}
        ), m AS (
            SELECT *, max(coalesce(e, 'infinity'::DOUBLE)) OVER (
                PARTITION BY patient_id ORDER BY s, encounter_id ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
            ) AS prev_end
            FROM e
        )
        SELECT *, sum(CASE WHEN prev_end IS NULL OR s > prev_end + {gap} THEN 1 ELSE 0 END) OVER (
            PARTITION BY patient_id ORDER BY s, encounter_id ROWS UNBOUNDED PRECEDING) AS stay_no
        FROM m"""
    )
    inpatient = f"class_code IN {_in(E.INPATIENT_CLASSES)}"
    # Admitted via the ED: the stay's first encounter is an emergency one (an ED and a ward encounter starting
    # the same minute count as via the ED, so the answer never depends on row order).
    emergency = _in(E.EMERGENCY_CLASSES)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _fx_stays AS
        SELECT patient_id, stay_no,
               min(s) AS admission_h,
               CASE WHEN bool_or(e IS NULL) THEN NULL ELSE max(e) END AS discharge_h,
               bool_or({inpatient}) AS inpatient,
               bool_or(e IS NULL) AS open,
               count(*) AS encounters,
               arg_max(encounter_id, [coalesce(e, 'infinity'::DOUBLE), ({inpatient})::DOUBLE, s]) AS last_encounter_id,
               arg_max(discharge_disposition_code, [coalesce(e, 'infinity'::DOUBLE), ({inpatient})::DOUBLE, s])
                   AS disposition_code,
               arg_max(batch_id, [coalesce(e, 'infinity'::DOUBLE), ({inpatient})::DOUBLE, s]) AS last_batch_id,
               arg_max(followup_complete, [coalesce(e, 'infinity'::DOUBLE), ({inpatient})::DOUBLE, s])
                   AS followup_complete,
               coalesce(arg_min(class_code IN {emergency}, [s, (class_code NOT IN {emergency})::DOUBLE]), false)
                   OR coalesce(bool_or({inpatient} AND admit_source_code IN {_in(E.ED_ADMIT_SOURCES)}), false)
                   AS via_ed,
               coalesce(bool_or(type_code IN {_in(E.EMERGENCY_ADMISSION_TYPES)}), false) AS emergency_type,
               coalesce(bool_or(type_code IN {_in(E.ICU_TYPES)}), false) AS icu,
               arg_min(age_years, [s, 0.0]) AS age_at_admission
        FROM _fx_stay_enc GROUP BY patient_id, stay_no"""
    )
    horizon = float(spec.horizon_hours)
    exclusions = [f"WHEN age_at_admission < {int(spec.min_age_years)} THEN 'under_min_age'"]
    for category in spec.exclude_dispositions:
        condition = f"disposition_category = {sql_literal(category)}"
        if category == "expired":
            condition += " OR (death_h IS NOT NULL AND death_h <= discharge_h)"
        exclusions.append(f"WHEN {condition} THEN {sql_literal(category)}")
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _fx_cohort AS
        WITH ip AS (
            SELECT s.*, lead(admission_h) OVER (PARTITION BY patient_id ORDER BY admission_h) AS next_admission_h
            FROM _fx_stays s WHERE inpatient
        ), j AS (
            SELECT ip.*, ip.last_encounter_id AS stay_id,
                   coalesce(fb.first_batch_id, ip.last_batch_id) AS batch_id,
                   coalesce(d.category, CASE WHEN ip.disposition_code IS NULL THEN 'unknown' ELSE 'other' END)
                       AS disposition_category,
                   p.deceased_datetime_offset_h AS death_h, coalesce(p.deceased, false) AS deceased, p.gender
            FROM ip
            LEFT JOIN _fx_first_batch fb ON fb.encounter_id = ip.last_encounter_id
            LEFT JOIN _fx_disposition d ON d.code = ip.disposition_code
            LEFT JOIN _fx_src_patient p ON p.patient_id = ip.patient_id
        ), x AS (
            SELECT j.*,
                   CASE WHEN open THEN 'open' {" ".join(exclusions)} ELSE NULL END AS exclusion,
                   next_admission_h - discharge_h AS gap_h
            FROM j
        )
        SELECT stay_id, patient_id, batch_id, admission_h, discharge_h AS index_h, discharge_h - admission_h AS los_h,
               encounters, via_ed, via_ed OR emergency_type AS emergent, icu, disposition_code, disposition_category,
               age_at_admission, gender, exclusion, exclusion IS NULL AS included,
               CASE WHEN open THEN NULL
                    WHEN gap_h <= {horizon} THEN 'observed'
                    WHEN (death_h IS NOT NULL AND death_h <= discharge_h + {horizon}) OR (deceased AND death_h IS NULL)
                        THEN 'censored'
                    WHEN coalesce(followup_complete, false) THEN 'observed'
                    ELSE 'pending' END AS label_status,
               CASE WHEN open THEN NULL
                    WHEN gap_h <= {horizon} THEN 1
                    WHEN (death_h IS NOT NULL AND death_h <= discharge_h + {horizon}) OR (deceased AND death_h IS NULL)
                        THEN NULL
                    WHEN coalesce(followup_complete, false) THEN 0
                    ELSE NULL END::INTEGER AS label,
               CASE WHEN gap_h <= {horizon} THEN round(gap_h / 24.0, 4) END AS days_to_readmission,
               coalesce(death_h > discharge_h AND death_h <= discharge_h + {horizon}, false) AS death_within_horizon,
               coalesce(followup_complete, false) AS followup_complete
        FROM x"""
    )


@dataclass(frozen=True)
class AttritionStep:
    step: str
    stays: int
    patients: int
    outcomes: int  # observed label 1
    non_outcomes: int  # observed label 0
    pending: int
    censored: int


def attrition(con: duckdb.DuckDBPyConnection, spec: CohortSpec, batch_id: str | None = None) -> list[AttritionStep]:
    """Stays, patients and outcomes left after each step (of one batch, or all)."""
    where = "" if batch_id is None else f"WHERE batch_id = {sql_literal(batch_id)}"
    order = ["open", "under_min_age", *spec.exclude_dispositions]
    rows = con.execute(
        f"""SELECT coalesce(exclusion, ''), count(*), list(patient_id),
                   count(*) FILTER (WHERE label_status = 'observed' AND label = 1),
                   count(*) FILTER (WHERE label_status = 'observed' AND label = 0),
                   count(*) FILTER (WHERE label_status = 'pending'),
                   count(*) FILTER (WHERE label_status = 'censored')
            FROM _fx_cohort {where} GROUP BY 1"""
    ).fetchall()
    by_reason = {r[0]: r for r in rows}
    steps = []
    remaining = list(order)
    label = "inpatient stays (merged)"
    while True:
        kept = [r for key, r in by_reason.items() if key == "" or key in remaining]
        patients: set[str] = set()
        for r in kept:
            patients.update(r[2])
        steps.append(
            AttritionStep(
                label,
                sum(r[1] for r in kept),
                len(patients),
                sum(r[3] for r in kept),
                sum(r[4] for r in kept),
                sum(r[5] for r in kept),
                sum(r[6] for r in kept),
            )
        )
        if not remaining:
            break
        reason = remaining.pop(0)
        label = f"minus {EXCLUSION_LABELS.get(reason, reason)}"
    return steps


def cohort_rows_sql(spec_version: str, batch_id: str | None = None) -> str:
    """The ``readmission_cohort`` table's rows (of one batch, or all): every inpatient stay with its exclusion,
    label status and label."""
    where = "" if batch_id is None else f"WHERE batch_id = {sql_literal(batch_id)}"
    return f"""SELECT batch_id, stay_id, px.patient_id, admission_h AS admission_offset_h, index_h AS index_offset_h,
                   round(los_h / 24.0, 4) AS los_days, encounters, via_ed AS admitted_via_ed,
                   emergent AS emergent_admission, icu AS icu_stay, disposition_code, disposition_category,
                   age_at_admission,
                   CASE WHEN gender IN ('female', 'male', 'other') THEN gender ELSE 'unknown' END AS sex,
                   included, exclusion, label_status, label, days_to_readmission, death_within_horizon,
                   followup_complete, {sql_literal(spec_version)} AS feature_spec
               FROM _fx_cohort c JOIN _fx_pid px ON px.pid = c.patient_id {where}
               ORDER BY px.patient_id, admission_h, stay_id"""
