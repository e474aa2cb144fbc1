"""The ground truth: one row per index stay, with the true readmission probability and the realized outcome.

``clinical_course`` makes a row at every inpatient discharge, draws the readmission from its probability and fills
the outcome columns in when the readmission happens. The generator writes the rows outside the export
(``generator.write_ground_truth``); nothing downstream may read them as an input.
"""

from __future__ import annotations

from typing import Any

from healthcare_assets.synthetic.clock import DAY, YEAR, fmt
from healthcare_assets.synthetic.patient_sim import PatientSim
from healthcare_assets.synthetic.risk import DischargeState, true_readmission_probability
from healthcare_assets.synthetic.stays import Stay

GROUND_TRUTH_COLUMNS: tuple[str, ...] = (
    "stay_id",  # id of the stay's first encounter
    "patient_id",
    "encounter_ids",  # the chain, in order (EMER?, IMP, IMP?)
    "admission_encounter_id",
    "discharge_encounter_id",
    "admission_time",  # FHIR dateTime with offset, as in Encounter.period.start
    "discharge_time",  # as in the discharge encounter's period.end
    "discharge_epoch_s",  # the same instant in seconds since 1970-01-01T00:00:00Z
    "true_probability",
    "readmitted_30d",  # 1 if an IMP encounter of the patient starts within 30 days (drawn from the probability)
    "days_to_readmission",  # from discharge to the readmission stay's first encounter, when readmitted
    "readmission_encounter_id",  # the readmission's first IMP encounter
    "followup_complete",  # discharge + 30 days <= end of the simulation (otherwise the label is censored)
    "age_years",
    "charlson",
    "prior_admissions_12m",
    "los_days",
    "ed_admission",
    "icu_stay",
    "creatinine_mg_dl",
    "hemoglobin_g_dl",
    "sodium_mmol_l",
    "discharge_disposition",
    "active_medications",
    "admission_reason",
)
GT_DISCHARGE_UTC = 7
GT_PROBABILITY = 8
GT_READMITTED = 9
GT_DAYS_TO_READMISSION = 10
GT_READMISSION_ENCOUNTER = 11
GT_FOLLOWUP = 12


def ground_truth_row(sim: PatientSim, stay: Stay, prior: int) -> list[Any]:
    """The row of a discharge, with the true probability; the outcome columns say "not readmitted" until one is."""
    t = stay.discharge
    state = DischargeState(
        age_years=(t - sim.person.birth) / YEAR,
        charlson=sim.conditions.charlson_at(t),
        prior_admissions_12m=prior,
        los_days=(t - stay.start) / DAY,
        ed_admission=stay.ed,
        icu_stay=stay.icu,
        creatinine_mg_dl=sim.physiology.lab_true("creatinine", t, stay, 1.0),
        hemoglobin_g_dl=sim.physiology.lab_true("hemoglobin", t, stay, 1.0),
        sodium_mmol_l=sim.physiology.lab_true("sodium", t, stay, 1.0),
        disposition=stay.disposition,
        active_medications=sim.meds.active_at(t),
    )
    p = true_readmission_probability(state, sim.rt.signal)
    zone = stay.org.zone
    row: list[Any] = [None] * len(GROUND_TRUTH_COLUMNS)
    row[0] = stay.segs[0].id
    row[1] = sim.pid
    row[2] = [s.id for s in stay.segs]
    row[3] = stay.segs[0].id
    row[4] = stay.segs[-1].id
    row[5] = fmt(stay.start, zone)
    row[6] = fmt(t, zone)
    row[GT_DISCHARGE_UTC] = t
    row[GT_PROBABILITY] = p
    row[GT_READMITTED] = 0
    row[GT_DAYS_TO_READMISSION] = None
    row[GT_READMISSION_ENCOUNTER] = None
    row[GT_FOLLOWUP] = t + 30 * DAY <= sim.rt.end_utc
    row[13] = round(state.age_years, 3)
    row[14] = state.charlson
    row[15] = prior
    row[16] = round(state.los_days, 4)
    row[17] = stay.ed
    row[18] = stay.icu
    row[19] = round(state.creatinine_mg_dl, 3)
    row[20] = round(state.hemoglobin_g_dl, 3)
    row[21] = round(state.sodium_mmol_l, 3)
    row[22] = stay.disposition
    row[23] = state.active_medications
    row[24] = stay.reason
    return row
