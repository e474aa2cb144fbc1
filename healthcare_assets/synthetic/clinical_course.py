"""A patient's clinical course: when admissions happen, readmissions drawn from the true risk, and death.

Admissions arrive as a thinned Poisson process whose rate grows with age, comorbidity, frailty and the case-mix
shift. After each discharge the 30-day readmission is drawn from the known true probability (``ground_truth``):
that draw is what makes the ground truth true. Death comes in hospital (``admission``) or later, at a hazard that
is highest in the 30 days after a discharge.
"""

from __future__ import annotations

import math
from typing import Any

from healthcare_assets.synthetic.admission import simulate_stay
from healthcare_assets.synthetic.clock import DAY, HOUR, YEAR
from healthcare_assets.synthetic.ground_truth import (
    GT_DAYS_TO_READMISSION,
    GT_DISCHARGE_UTC,
    GT_PROBABILITY,
    GT_READMISSION_ENCOUNTER,
    GT_READMITTED,
    ground_truth_row,
)
from healthcare_assets.synthetic.patient_sim import PatientSim
from healthcare_assets.synthetic.risk import charlson_index

READMISSION_MIN_DAYS = 1.0
READMISSION_MAX_DAYS = 29.4  # stay start; its IMP encounter (after at most 13 h of ED) starts before day 30


def admission_rate(sim: PatientSim, t: int) -> float:
    """Spontaneous admissions per year at instant t."""
    age = (t - sim.person.birth) / YEAR
    if age < 18:
        return math.exp(-4.2 + 0.5 * sim.person.frailty)
    ch = min(sim.conditions.charlson_at(t), 8)
    return math.exp(-2.55 + 0.022 * (age - 60.0) + 0.22 * ch + 0.5 * sim.person.frailty + 0.25 * sim.rt.shift)


def simulate_stays(sim: PatientSim) -> None:
    """All stays in the window, each discharge's ground-truth row and its drawn readmission, and follow-ups."""
    rt, rng = sim.rt, sim.rng
    end = rt.end_utc
    start = max(rt.window_start, sim.person.birth + 30 * DAY)
    if start >= end:
        return
    age_max = sim.person.age_end
    ch_max = min(charlson_index(k for k, _, _ in sim.conditions.items) + 4, 8)
    if age_max < 18:
        lam_max = math.exp(-4.2 + 0.5 * sim.person.frailty)
    else:
        lam_max = math.exp(
            -2.55 + 0.022 * (age_max - 60.0) + 0.22 * ch_max + 0.5 * sim.person.frailty + 0.25 * rt.shift
        )
    t_cand = start
    block_until = start
    forced: int | None = None
    discharges: list[int] = []
    pending_row: list[Any] | None = None
    while True:
        readmit = forced is not None
        if forced is not None:
            t_adm = forced
            forced = None
        else:
            t_adm = None
            while True:
                t_cand += int(rng.expovariate(lam_max) * YEAR) + 1
                if t_cand >= end:
                    break
                if t_cand < block_until:
                    continue
                if rng.random() * lam_max < admission_rate(sim, t_cand):
                    t_adm = t_cand
                    break
            if t_adm is None:
                break
        if t_adm >= end:
            break
        prior = sum(1 for d in discharges if t_adm - 365 * DAY <= d < t_adm)
        stay = simulate_stay(sim, t_adm, readmit)
        if stay is None:
            break
        sim.stays.append(stay)
        if pending_row is not None:
            # The readmission drawn for the previous discharge: realized if its IMP starts before the end.
            first_imp = next((s for s in stay.segs if s.cls == "IMP"), None)
            if first_imp is not None:
                prev_discharge = pending_row[GT_DISCHARGE_UTC]
                pending_row[GT_READMITTED] = 1
                pending_row[GT_DAYS_TO_READMISSION] = round((stay.start - prev_discharge) / DAY, 4)
                pending_row[GT_READMISSION_ENCOUNTER] = first_imp.id
            pending_row = None
        if stay.died or stay.in_progress:
            break
        discharges.append(stay.discharge)
        row = ground_truth_row(sim, stay, prior)
        sim.gt_rows.append(row)
        p = row[GT_PROBABILITY]
        if rng.random() < p:
            d = READMISSION_MIN_DAYS + (READMISSION_MAX_DAYS - READMISSION_MIN_DAYS) * rng.random() ** 1.6
            forced = stay.discharge + int(d * DAY)
            pending_row = row
            if forced >= end:
                sim.readmission_censored = True
        elif stay.disposition not in ("hosp", "other-hcf") and rng.random() < 0.55:
            sim.followups.append(stay.discharge + int(rng.uniform(5, 20) * DAY))
        block_until = stay.discharge + 30 * DAY + HOUR
        t_cand = max(t_cand, stay.discharge)


def draw_death(sim: PatientSim) -> None:
    """``sim.death`` if the patient dies before the export: in hospital, or after the last discharge."""
    rng, rt = sim.rng, sim.rt
    if sim.stays and sim.stays[-1].died:
        sim.death = sim.stays[-1].discharge
        sim.death_zone = sim.stays[-1].org.zone
        return
    if (sim.stays and sim.stays[-1].in_progress) or sim.readmission_censored:
        return
    age = sim.person.age_end
    ch = min(sim.conditions.charlson_at(rt.end_utc), 10)
    h = math.exp(-5.6 + 0.075 * (age - 60.0) + 0.28 * ch + 0.4 * sim.person.frailty)  # per year
    if sim.stays:
        t0 = sim.stays[-1].discharge
        h_post = max(5.0 * h, 11.0 if sim.stays[-1].disposition == "hosp" else 0.0)
    else:
        t0 = max(rt.window_start, sim.person.birth)
        h_post = h
    window = 30.0 / 365.2425
    u = rng.expovariate(1.0)
    if u < h_post * window:
        t = t0 + int(u / h_post * YEAR) + HOUR
    else:
        t = t0 + int((window + (u - h_post * window) / h) * YEAR)
    if t < rt.end_utc:
        sim.death = t
