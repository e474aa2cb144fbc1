"""What a hospital stay records: its encounters, diagnoses, vital signs, lab draws, procedures and medications.

Vitals on arrival and daily, labs on admission, early mornings and the day of discharge, all from the true course
of the stay (``physiology.lab_true``); procedures and medications by admission reason.
"""

from __future__ import annotations

from healthcare_assets.synthetic import vocab as V
from healthcare_assets.synthetic.clock import DAY, HOUR, MINUTE
from healthcare_assets.synthetic.fhir_resources import emit_condition, emit_encounter, emit_medication, emit_procedure
from healthcare_assets.synthetic.medications import still_active
from healthcare_assets.synthetic.observations import emit_comment, emit_lab, emit_vital, vitals_set
from healthcare_assets.synthetic.patient_sim import PatientSim
from healthcare_assets.synthetic.scheduling import daytime
from healthcare_assets.synthetic.stays import Seg, Stay


def _seg_at(stay: Stay, t: int) -> Seg:
    """The stay's encounter under way at ``t``."""
    for seg in reversed(stay.segs):
        if seg.start <= t:
            return seg
    return stay.segs[0]


def emit_stay(sim: PatientSim, stay: Stay) -> None:
    """Write a stay's encounters and everything recorded during it."""
    rng, rt = sim.rng, sim.rt
    w, body = sim.writer, sim.physiology
    end = rt.end_utc
    for seg in stay.segs:
        emit_encounter(w, seg)
    first_imp = next((s for s in stay.segs if s.cls == "IMP"), stay.segs[0])
    zone = stay.org.zone
    start, discharge = stay.start, stay.discharge
    span = max(discharge - start, 1)
    horizon = min(discharge, end - 1)

    # Diagnoses: the reason, comorbidities coded again on this stay, new chronic conditions.
    abate = None if stay.died or stay.in_progress else discharge
    reason = stay.reason
    if reason in V.ACUTE and reason != "hip_oa":
        reason_cid = emit_condition(w, V.ACUTE[reason], first_imp, start - rng.randint(0, 36) * HOUR,
                                    first_imp.start, abate, False)  # fmt: skip
    else:
        key = {"chemo": "cancer", "pci": "cad"}.get(reason, "osteoarthritis")
        variant = next((v for k, _, v in sim.conditions.items if k == key), 0)
        dxc = V.CHRONIC_VARIANTS[key][variant] if reason != "hip_oa" else V.ACUTE["hip_oa"]
        reason_cid = emit_condition(w, dxc, first_imp, start - rng.randint(30, 900) * DAY, first_imp.start, None, False)
    for key, onset, variant in sim.conditions.items:
        if onset <= start and key not in ("obesity",) and rng.random() < 0.25:
            emit_condition(w, V.CHRONIC_VARIANTS[key][variant], first_imp, onset, first_imp.start, None, False)
    for key, onset, variant in stay.acquired + stay.extra_conditions:
        cid = emit_condition(w, V.CHRONIC_VARIANTS[key][variant], first_imp, onset, first_imp.start, None, True)
        for med, mstart, cond in sim.meds.items:
            if cond == key and mstart == onset and mstart < end:
                emit_medication(
                    w, med, first_imp, min(max(mstart, first_imp.start), horizon), still_active(rng, sim.death), cid
                )

    # Vital signs: on arrival, then once a day (every other day in long stays).
    vital_keys = ("heart_rate", "systolic", "diastolic", "respiratory_rate", "temperature", "spo2")

    def vitals_at(t: int) -> dict[str, float]:
        x = (t - start) / span
        return {k: body.lab_true(k, t, stay, x) for k in vital_keys}

    t = start + rng.randint(5, 20) * MINUTE
    if t < end:
        seg = _seg_at(stay, t)
        vitals_set(w, seg, t, vitals_at(t), seg.cls == "EMER", ("temperature", "spo2"))
        if rng.random() < 0.5:
            emit_vital(w, "weight", sim.person.weight + (3.0 if reason == "chf_exac" else 0.0), seg, t)
    step = DAY if span < 10 * DAY else 2 * DAY
    t = daytime(rng, first_imp.start + 6 * HOUR, zone, 7.5, 9.5)
    while t < horizon:
        seg = _seg_at(stay, t)
        vitals_set(w, seg, t, vitals_at(t), False, ("temperature", "spo2"))
        t += step + rng.randint(-30, 30) * MINUTE

    # Laboratory draws: on admission, early mornings, and on the day of discharge.
    draws: list[tuple[int, float, float]] = []  # (time, p BMP, p CBC)
    draws.append((start + rng.randint(20, 90) * MINUTE, 0.95, 0.9))
    t = daytime(rng, start + 8 * HOUR, zone, 5.0, 6.5)
    last_morning = daytime(rng, discharge - 14 * HOUR, zone, 5.0, 6.5) if not stay.died else discharge
    while t < discharge - 2 * HOUR and t < last_morning - 20 * HOUR:
        draws.append((t, 0.55, 0.45))
        t = daytime(rng, t + (DAY if span < 10 * DAY else 2 * DAY) - 2 * HOUR, zone, 5.0, 6.5)
    if not stay.died and last_morning < discharge and last_morning > draws[-1][0] + 6 * HOUR:
        draws.append((last_morning, 0.75, 0.6))
    liver = sim.conditions.has("liver_mild", start) or sim.conditions.has("liver_severe", start)
    diabetic = sim.conditions.has("dm", start)
    for i, (t, p_bmp, p_cbc) in enumerate(draws):
        if t >= end:
            break
        seg = _seg_at(stay, t)
        x = (t - start) / span
        if rng.random() < p_bmp:
            for key in V.BMP:
                emit_lab(w, key, body.lab_true(key, t, stay, x), seg, t)
        if rng.random() < p_cbc:
            for key in V.CBC:
                emit_lab(w, key, body.lab_true(key, t, stay, x), seg, t)
        if i == 0 and rng.random() < (0.8 if liver else 0.35):
            for key in V.LFT:
                emit_lab(w, key, body.lab_true(key, t, stay, x), seg, t)
        if i == 0 and diabetic and rng.random() < 0.35:
            emit_lab(w, "hba1c", body.baseline("hba1c", t), seg, t)
    if rng.random() < 0.06:
        t = start + int(span * rng.random())
        if t < end:
            emit_comment(w, _seg_at(stay, t), t)

    # Procedures.
    def proc(key: str, p: float, lo: float, hi: float, minutes: int) -> None:
        if rng.random() < p:
            t = start + int(span * rng.uniform(lo, hi))
            if t + minutes * MINUTE < end:
                emit_procedure(w, key, _seg_at(stay, t), t, minutes)

    plan = {
        "ami": (("ecg", 0.95, 0.0, 0.02, 10), ("pci", 0.6, 0.02, 0.2, 90), ("echo", 0.5, 0.1, 0.6, 40),
                ("cabg", 0.05, 0.2, 0.5, 240)),
        "chest_pain": (("ecg", 0.95, 0.0, 0.05, 10),),
        "syncope": (("ecg", 0.9, 0.0, 0.05, 10),),
        "afib_rvr": (("ecg", 0.9, 0.0, 0.05, 10), ("cardioversion", 0.3, 0.1, 0.5, 30)),
        "chf_exac": (("chest_xray", 0.8, 0.0, 0.05, 15), ("echo", 0.5, 0.1, 0.6, 40)),
        "pneumonia": (("chest_xray", 0.9, 0.0, 0.05, 15), ("sputum", 0.5, 0.05, 0.3, 10),
                      ("oxygen", 0.5, 0.02, 0.4, 60)),
        "copd_exac": (("chest_xray", 0.7, 0.0, 0.05, 15), ("oxygen", 0.7, 0.02, 0.4, 60)),
        "sepsis": (("urine_culture", 0.8, 0.0, 0.05, 10), ("chest_xray", 0.6, 0.0, 0.05, 15)),
        "uti": (("urine_culture", 0.8, 0.0, 0.05, 10),),
        "gi_bleed": (("colonoscopy", 0.6, 0.1, 0.5, 45), ("transfusion", 0.6, 0.02, 0.3, 120)),
        "hip_fracture": (("hip_replacement", 0.85, 0.05, 0.3, 150),),
        "hip_oa": (("hip_replacement", 1.0, 0.02, 0.1, 150),),
        "chemo": (("chemotherapy", 1.0, 0.05, 0.3, 180),),
        "pci": (("pci", 1.0, 0.05, 0.3, 90),),
        "appendicitis": (("appendectomy", 0.9, 0.02, 0.2, 75),),
    }.get(reason, ())  # fmt: skip
    for key, p, lo, hi, minutes in plan:
        proc(key, p, lo, hi, minutes)
    if sim.conditions.renal_stage == 2 and sim.conditions.has("renal", start):
        t = start + 6 * HOUR
        for _ in range(min(5, int(span / (2 * DAY)) + 1)):
            if t + 4 * HOUR < horizon:
                emit_procedure(w, "dialysis", _seg_at(stay, t), t, 240)
            t += 2 * DAY
    if not stay.died and not stay.in_progress and rng.random() < 0.6:
        emit_procedure(w, "medrec", stay.segs[-1], discharge - rng.randint(30, 180) * MINUTE, 20)

    # Medications given in hospital, then those started for after discharge.
    inpatient = {
        "pneumonia": ("ceftriaxone", "acetaminophen"), "sepsis": ("piperacillin_tazobactam", "acetaminophen"),
        "uti": ("ceftriaxone",), "cellulitis": ("ceftriaxone",), "copd_exac": ("albuterol",),
        "ami": ("nitroglycerin",), "afib_rvr": ("amiodarone",), "dka": ("insulin",),
        "hip_fracture": ("oxycodone_apap",), "hip_oa": ("oxycodone_apap",), "chemo": ("docetaxel",),
        "appendicitis": ("hydrocodone_apap",), "chf_exac": ("furosemide",), "gi_bleed": ("acetaminophen",),
    }.get(reason, ("acetaminophen",))  # fmt: skip
    for med in inpatient:
        t = first_imp.start + rng.randint(10, 120) * MINUTE
        if t < end:
            emit_medication(w, med, first_imp, t, False, reason_cid)
    if reason == "stroke" and stay.ed and rng.random() < 0.25:
        emit_medication(w, "alteplase", stay.segs[0], stay.segs[0].start + 40 * MINUTE, False, reason_cid)
    if not stay.died and not stay.in_progress:
        last = stay.segs[-1]
        oral = {"pneumonia": "amoxicillin_clavulanate", "cellulitis": "amoxicillin_clavulanate",
                "uti": "nitrofurantoin" if rng.random() < 0.3 else "cefuroxime"}.get(reason)  # fmt: skip
        if oral:
            emit_medication(w, oral, last, discharge - rng.randint(30, 120) * MINUTE,
                            discharge + 14 * DAY > end and sim.death is None, reason_cid)  # fmt: skip
        for med in stay.new_meds:
            emit_medication(w, med, last, discharge - 2 * HOUR, still_active(rng, sim.death), reason_cid)
