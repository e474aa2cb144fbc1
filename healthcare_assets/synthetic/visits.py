"""Clinic and emergency visits outside hospital stays: when they happen and what each one records.

Problem visits diagnose chronic conditions at their onset (also before the simulated window: the recorded
history); check-ups, symptom, follow-up and ED visits fill the years between. Visits keep 12 hours away from stays;
a diagnosis due during a stay is recorded by the stay instead.
"""

from __future__ import annotations

import math

from healthcare_assets.synthetic import vocab as V
from healthcare_assets.synthetic.clock import DAY, HOUR, MINUTE, YEAR
from healthcare_assets.synthetic.fhir_resources import emit_condition, emit_encounter, emit_medication, emit_procedure
from healthcare_assets.synthetic.medications import still_active
from healthcare_assets.synthetic.observations import emit_bp_panel, emit_lab, emit_vital, vitals_set
from healthcare_assets.synthetic.patient_sim import PatientSim
from healthcare_assets.synthetic.scheduling import pick_hospital, pick_practitioner, weekday_daytime
from healthcare_assets.synthetic.stays import Seg, Visit


def schedule_visits(sim: PatientSim) -> list[Visit]:
    """The visits that happen: clear of stays, after birth, before death and the export."""
    rng, rt = sim.rng, sim.rt
    end = rt.end_utc
    start = max(rt.window_start, sim.person.birth)
    visits: list[Visit] = []
    adult = sim.person.age_end >= 18
    # Diagnosis visits, at onset (also before the simulated window: the patient's recorded history).
    for key, onset, variant in sim.conditions.items:
        if any(item[0] == key for stay in sim.stays for item in stay.acquired):
            continue
        visits.append(Visit("problem", onset, [(key, onset, variant)]))
    years = rt.config.history_years
    p_check = 0.8 if not adult else 0.55 + (0.15 if sim.person.age_end > 65 else 0.0)
    for k in range(years + 1):
        t = start + int((k + rng.random()) * YEAR)
        if rng.random() < p_check and t < end:
            visits.append(Visit("checkup", t))
    for kind, rate in (
        ("symptom", 0.3),
        ("ed", 0.07 * math.exp(0.4 * sim.person.frailty) * (1.3 if sim.person.age_end > 75 else 1.0)),
    ):
        t = start
        while True:
            t += int(rng.expovariate(rate) * YEAR) + 1
            if t >= end:
                break
            visits.append(Visit(kind, t))
    for t in sim.followups:
        visits.append(Visit("followup", t))

    zone = sim.person.clinic.zone
    kept: list[Visit] = []
    spans = [(s.start - 12 * HOUR, s.discharge + 12 * HOUR, s) for s in sim.stays]
    limit = min(end, sim.death) if sim.death is not None else end
    for v in visits:
        if v.kind != "ed":
            v.start = weekday_daytime(rng, v.start, zone)
        v_end = v.start + 8 * HOUR  # margin: a visit never ends later than this
        clash = next((s for lo, hi, s in spans if v.start < hi and v_end > lo), None)
        if clash is not None:
            # Too close to a hospital stay: a diagnosis due then is recorded during the stay instead.
            if v.kind == "problem":
                clash.extra_conditions.extend(v.conds)
            continue
        if v.start < sim.person.birth or v_end >= limit:
            continue
        kept.append(v)
    return kept


def emit_visit(sim: PatientSim, v: Visit) -> None:
    """Write a visit: its encounter, vitals, labs, diagnoses, procedures and medications."""
    rng = sim.rng
    w, body = sim.writer, sim.physiology
    t = v.start
    vital_keys = ("heart_rate", "systolic", "diastolic", "respiratory_rate", "temperature", "spo2")
    if v.kind == "ed":
        org = pick_hospital(rng, sim.person.hospital, sim.rt.world)
        dur = int(min(max(rng.lognormvariate(math.log(3.5 * HOUR), 0.4), 1.2 * HOUR), 8 * HOUR))
        r = rng.random()
        reason = ("chest_pain" if r < 0.25 else "syncope" if r < 0.35 else "ankle_sprain" if r < 0.5
                  else "laceration" if r < 0.62 else "back_pain" if r < 0.75 else "bronchitis" if r < 0.87
                  else "dehydration")  # fmt: skip
        seg = Seg(
            sim.ids.next(),
            "EMER",
            V.ENC_ED,
            t,
            t + dur,
            org,
            pick_practitioner(rng, org),
            reason=V.ACUTE[reason].reason,
        )
        seg.ref = {"reference": f"Encounter/{seg.id}"}
        seg.disposition = V.DISPOSITIONS["aadvice" if rng.random() < 0.03 else "home"]
        emit_encounter(w, seg)
        cid = emit_condition(w, V.ACUTE[reason], seg, t - rng.randint(1, 48) * HOUR, t + 30 * MINUTE,
                             t + rng.randint(2, 20) * DAY, False)  # fmt: skip
        vals = body.baseline_values(t, vital_keys)
        if reason == "dehydration":
            vals["heart_rate"] += 12
        vitals_set(w, seg, t + rng.randint(5, 20) * MINUTE, vals, True, ("temperature", "spo2"))
        if rng.random() < 0.45:
            tl = t + rng.randint(20, 60) * MINUTE
            for key in V.BMP + V.CBC:
                emit_lab(w, key, body.baseline(key, tl), seg, tl)
        proc = {
            "chest_pain": "ecg",
            "syncope": "ecg",
            "laceration": "suture",
            "ankle_sprain": "immobilization",
        }.get(reason)
        if proc:
            emit_procedure(w, proc, seg, t + rng.randint(15, 90) * MINUTE, rng.randint(10, 40))
        if rng.random() < 0.5:
            emit_medication(w, rng.choice(("ibuprofen", "acetaminophen")), seg, t + dur - 20 * MINUTE, False, cid)
        return

    org = sim.person.clinic
    dur = rng.randint(15, 45) * MINUTE
    etype = {"checkup": V.ENC_CHECKUP, "symptom": V.ENC_SYMPTOM, "problem": V.ENC_PROBLEM,
             "followup": V.ENC_FOLLOWUP}[v.kind]  # fmt: skip
    seg = Seg(sim.ids.next(), "AMB", etype, t, t + dur, org, pick_practitioner(rng, org))
    seg.ref = {"reference": f"Encounter/{seg.id}"}
    minor = None
    if v.kind == "symptom":
        minor = rng.choice(("sinusitis", "pharyngitis", "bronchitis", "back_pain", "ankle_sprain"))
        seg.reason = V.ACUTE[minor].reason
    elif v.kind == "problem" and v.conds:
        key, _, variant = v.conds[0]
        seg.reason = V.CHRONIC_VARIANTS[key][variant].reason
    emit_encounter(w, seg)
    tv = t + rng.randint(2, 10) * MINUTE
    vals = body.baseline_values(t, vital_keys)
    adult = (t - sim.person.birth) / YEAR >= 18
    if v.kind == "checkup":
        if not adult or rng.random() < 0.5:
            emit_vital(w, "height", sim.person.height, seg, tv)
        emit_vital(w, "weight", sim.person.weight, seg, tv)
        if adult:
            emit_vital(w, "bmi", sim.person.bmi, seg, tv)
        extra = tuple(k for k, p in (("temperature", 0.35), ("spo2", 0.3)) if rng.random() < p)
        vitals_set(w, seg, tv, vals, True, extra)
        _clinic_labs(sim, seg, t, 0.35, 0.25)
    elif v.kind == "symptom":
        if minor in ("sinusitis", "pharyngitis", "bronchitis"):
            vals["temperature"] += rng.uniform(0.0, 1.3)
        vitals_set(w, seg, tv, vals, True, ("temperature",))
        cid = emit_condition(
            w, V.ACUTE[minor], seg, t - rng.randint(1, 5) * DAY, t, t + rng.randint(7, 21) * DAY, False
        )
        if rng.random() < 0.5:
            med = (
                "amoxicillin"
                if minor in ("sinusitis", "pharyngitis") and rng.random() < 0.5
                else rng.choice(("ibuprofen", "acetaminophen", "naproxen"))
            )
            emit_medication(w, med, seg, t + dur - 5 * MINUTE, False, cid)
    elif v.kind == "followup":
        vitals_set(w, seg, tv, vals, True)
        if rng.random() < 0.6:
            emit_vital(w, "weight", sim.person.weight, seg, tv)
        _clinic_labs(sim, seg, t, 0.45, 0.3)
        if rng.random() < 0.5:
            emit_procedure(w, "medrec", seg, t + 5 * MINUTE, 15)
    else:  # problem: the diagnosis of chronic conditions
        emit_bp_panel(w, vals["systolic"], vals["diastolic"], seg, tv)
        emit_vital(w, "heart_rate", vals["heart_rate"], seg, tv)
        for key, onset, variant in v.conds:
            cid = emit_condition(w, V.CHRONIC_VARIANTS[key][variant], seg, onset, t, None, True)
            _diagnostic_labs(sim, key, seg, t)
            for med, start, cond in sim.meds.items:
                if cond == key and start == onset:
                    emit_medication(w, med, seg, t + dur - 5 * MINUTE, still_active(rng, sim.death), cid)
            if key in ("copd", "asthma") and rng.random() < 0.6:
                emit_procedure(w, "spirometry", seg, t + 10 * MINUTE, 20)
            if key in ("afib", "cad") and rng.random() < 0.6:
                emit_procedure(w, "ecg", seg, t + 10 * MINUTE, 10)


def _clinic_labs(sim: PatientSim, seg: Seg, t: int, p_bmp: float, p_cbc: float) -> None:
    """Routine labs of a clinic visit (LFTs and HbA1c more often for liver disease and diabetes)."""
    rng = sim.rng
    w, body = sim.writer, sim.physiology
    tl = t + rng.randint(10, 40) * MINUTE
    if rng.random() < p_bmp:
        for key in V.BMP:
            emit_lab(w, key, body.baseline(key, tl), seg, tl)
    if rng.random() < p_cbc:
        for key in V.CBC:
            emit_lab(w, key, body.baseline(key, tl), seg, tl)
    liver = sim.conditions.has("liver_mild", t) or sim.conditions.has("liver_severe", t)
    if rng.random() < (0.5 if liver else 0.1):
        for key in V.LFT:
            emit_lab(w, key, body.baseline(key, tl), seg, tl)
    if rng.random() < (0.7 if sim.conditions.has("dm", t) else 0.08):
        emit_lab(w, "hba1c", body.baseline("hba1c", tl), seg, tl)


def _diagnostic_labs(sim: PatientSim, key: str, seg: Seg, t: int) -> None:
    """The labs that back the diagnosis of chronic condition ``key``."""
    w, body = sim.writer, sim.physiology
    keys = {
        "dm": ("hba1c", "glucose"), "dm_comp": ("hba1c", "glucose", "creatinine"),
        "renal": ("creatinine", "bun", "potassium"), "anemia": ("hemoglobin",),
        "chf": ("sodium", "bun", "creatinine"),
        "liver_mild": ("alt", "ast"), "liver_severe": ("alt", "ast", "platelets"),
    }.get(key, ())  # fmt: skip
    tl = t + 20 * MINUTE
    for k in keys:
        emit_lab(w, k, body.baseline(k, tl), seg, tl)
