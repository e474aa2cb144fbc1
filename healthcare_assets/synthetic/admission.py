"""One hospital admission: reason, severity, ICU, length of stay, its encounters, disposition, what it changes.

``simulate_stay`` plans the encounters of a stay; the stay may diagnose chronic conditions (an MI, a stroke) and
start long-term medications. When admissions happen is decided in ``clinical_course``.
"""

from __future__ import annotations

import math
from typing import Any

from healthcare_assets.synthetic import vocab as V
from healthcare_assets.synthetic.clock import DAY, HOUR, MINUTE, YEAR
from healthcare_assets.synthetic.conditions import sigmoid
from healthcare_assets.synthetic.patient_sim import PatientSim
from healthcare_assets.synthetic.scheduling import daytime, pick_hospital, pick_practitioner
from healthcare_assets.synthetic.stays import Seg, Stay

# Admission reasons: base weight, weight added per relevant condition.
_REASON_WEIGHTS: dict[str, tuple[float, dict[str, float]]] = {
    "pneumonia": (1.0, {"copd": 1.2, "dementia": 0.6, "hiv": 1.5}),
    "sepsis": (0.5, {"renal": 0.5, "dm": 0.3, "cancer": 0.6, "dementia": 0.5, "hiv": 1.0}),
    "uti": (0.5, {"dementia": 0.8, "dm": 0.2}),
    "chf_exac": (0.0, {"chf": 3.0}),
    "copd_exac": (0.0, {"copd": 2.5}),
    "ami": (0.15, {"cad": 0.9, "mi": 0.6, "dm": 0.2}),
    "stroke": (0.15, {"cvd": 0.7, "afib": 0.6, "htn": 0.15}),
    "aki": (0.15, {"renal": 0.9, "chf": 0.3}),
    "cellulitis": (0.3, {"dm": 0.5, "pvd": 0.5}),
    "gi_bleed": (0.2, {"pud": 1.5, "liver_severe": 1.5, "afib": 0.3}),
    "hip_fracture": (0.1, {"osteoporosis": 1.0, "dementia": 0.5}),
    "syncope": (0.3, {"afib": 0.3}),
    "dka": (0.0, {"dm": 0.25}),
    "afib_rvr": (0.0, {"afib": 1.0}),
    "hyponatremia": (0.1, {"chf": 0.3, "liver_severe": 0.6, "alcohol": 0.5}),
    "dehydration": (0.2, {"dementia": 0.4}),
    "chest_pain": (0.3, {"cad": 0.4}),
}
_REASON_PARAMS: dict[str, tuple[float, float, float, float]] = {
    # severity mean, ICU logit bump, in-hospital death logit bump, LOS log-multiplier
    "pneumonia": (0.1, 0.2, 0.4, 0.15), "sepsis": (0.8, 1.4, 1.2, 0.35), "uti": (-0.3, -0.5, -0.3, -0.05),
    "chf_exac": (0.2, 0.3, 0.5, 0.15), "copd_exac": (0.1, 0.4, 0.3, 0.05), "ami": (0.5, 1.5, 0.9, 0.05),
    "stroke": (0.4, 0.7, 0.9, 0.25), "aki": (0.1, 0.0, 0.3, 0.05), "cellulitis": (-0.4, -1.0, -1.0, 0.0),
    "gi_bleed": (0.2, 0.6, 0.5, -0.05), "hip_fracture": (0.2, -0.3, 0.4, 0.3), "syncope": (-0.6, -0.8, -1.5, -0.4),
    "dka": (0.3, 1.2, 0.0, -0.1), "afib_rvr": (-0.2, 0.2, -0.5, -0.2), "hyponatremia": (0.0, 0.0, 0.2, 0.0),
    "dehydration": (-0.4, -1.0, -0.5, -0.25), "chest_pain": (-0.8, -1.0, -2.5, -0.6),
    "asthma_exac": (-0.3, 0.0, -2.0, -0.4), "appendicitis": (-0.2, -1.5, -3.0, -0.3),
    "hip_oa": (-0.8, -2.0, -2.5, -0.1), "chemo": (-0.3, -1.5, -0.5, -0.2), "pci": (-0.5, -1.0, -1.5, -0.6),
}  # fmt: skip

_DISPOSITION_BASE = {
    "home": 0.74, "snf": 0.09, "rehab": 0.04, "aadvice": 0.022, "other-hcf": 0.02, "hosp": 0.012,
    "long": 0.01, "alt-home": 0.01, "psy": 0.004,
}  # fmt: skip


def simulate_stay(sim: PatientSim, t0: int, readmit: bool) -> Stay | None:
    """The stay admitted at ``t0`` (None if it would start after the export); also records what it changes."""
    rt, rng = sim.rt, sim.rng
    end = rt.end_utc
    age = (t0 - sim.person.birth) / YEAR
    p_elective = 0.0 if readmit or age < 18 else 0.12
    elective = rng.random() < p_elective
    reason = _pick_reason(sim, t0, elective)
    elective = reason in ("chemo", "hip_oa", "pci")
    ed = not elective and rng.random() < (0.82 if readmit else 0.75)
    org = pick_hospital(rng, sim.person.hospital, sim.rt.world)
    zone = org.zone
    sev_mean, icu_bump, death_bump, los_adj = _REASON_PARAMS[reason]
    sev = rng.gauss(sev_mean, 1.0)
    ch = sim.conditions.charlson_at(t0)
    icu = rng.random() < sigmoid(-2.6 + 0.9 * sev + icu_bump)
    mu = math.log(2.8) + 0.22 * sev + 0.006 * (age - 65.0) + 0.04 * min(ch, 10) + los_adj + (0.3 if icu else 0.0)
    los = min(max(rng.lognormvariate(mu, 0.55), 0.35), 45.0)
    died = rng.random() < sigmoid(-5.0 + 0.045 * (age - 65.0) + 0.15 * min(ch, 10) + 0.8 * sev + death_bump
                                  + (0.8 if icu else 0.0))  # fmt: skip
    segs: list[Seg] = []
    reason_concept = V.ACUTE[reason].reason if reason in V.ACUTE else _elective_reason_concept(sim, reason, t0)

    # Emergency department.
    if ed:
        ed_end = t0 + int(min(max(rng.lognormvariate(math.log(4.5 * HOUR), 0.4), 1.5 * HOUR), 10 * HOUR))
        segs.append(
            Seg(sim.ids.next(), "EMER", V.ENC_ED, t0, ed_end, org, pick_practitioner(rng, org), reason=reason_concept)
        )
        r = rng.random()
        gap = 0 if r < 0.55 else rng.randint(1, 20) * MINUTE if r < 0.9 else rng.randint(21, 180) * MINUTE
        imp_start = ed_end + gap
        source = "emd"
    else:
        # Planned and direct admissions arrive in the day; a readmission keeps its drawn instant.
        if readmit:
            imp_start = t0
        else:
            imp_start = daytime(rng, t0, zone, 7.0, 10.0) if elective else daytime(rng, t0, zone, 8.0, 20.0)
        r = rng.random()
        if elective:
            source = "gp" if r < 0.4 else "mp" if r < 0.8 else "outp"
        else:
            prev = sim.stays[-1].disposition if sim.stays else ""
            if prev in ("snf", "long") and r < 0.6:
                source = "nursing"
            else:
                source = (
                    "gp"
                    if r < 0.35
                    else "mp"
                    if r < 0.65
                    else "outp"
                    if r < 0.8
                    else "hosp-trans"
                    if r < 0.92
                    else "other"
                )
    stay_start = segs[0].start if segs else imp_start

    # Inpatient part.
    discharge = imp_start + int(los * DAY)
    if died:
        discharge = imp_start + int(los * rng.uniform(0.3, 1.0) * DAY) + MINUTE
    else:
        discharge = daytime(rng, discharge, zone, 10.0, 17.0)
        if discharge < imp_start + 3 * HOUR:
            discharge = daytime(rng, imp_start + 3 * HOUR, zone, 10.0, 17.0)
    if icu:
        split = imp_start + int((discharge - imp_start) * rng.uniform(0.25, 0.6))
        first_type, split_prob = V.ENC_ICU, 1.0
    else:
        split = imp_start + int((discharge - imp_start) * rng.uniform(0.25, 0.75))
        first_type = V.ENC_EMERGENCY_ADMISSION if ed else V.ENC_ELECTIVE_ADMISSION if elective else V.ENC_ADMISSION
        split_prob = 0.2
    first = Seg(sim.ids.next(), "IMP", first_type, imp_start, discharge, org, pick_practitioner(rng, org),
                reason=reason_concept, admit_source=source)  # fmt: skip
    segs.append(first)
    if rng.random() < split_prob and split - imp_start > 2 * HOUR and discharge - split > 3 * HOUR:
        gap = 0 if rng.random() < 0.7 else rng.randint(1, 15) * MINUTE
        first.end = split
        second = Seg(sim.ids.next(), "IMP", V.ENC_ADMISSION, split + gap, discharge, org, pick_practitioner(rng, org),
                     reason=reason_concept if rng.random() < 0.5 else None)  # fmt: skip
        segs.append(second)
    for prev_seg, seg in zip(segs, segs[1:], strict=False):
        if rng.random() < 0.1:
            seg.part_of = prev_seg.id
        prev_seg.disposition = V.DISPOSITION_ADMITTED if prev_seg.cls == "EMER" else V.DISPOSITION_UNIT_TRANSFER
        if rng.random() < 0.5:
            prev_seg.disposition = None

    # Disposition.
    if died:
        disposition = "exp"
    else:
        disposition = _pick_disposition(sim, age, reason, ch, t0)
    segs[-1].disposition = V.DISPOSITIONS[disposition]
    rec = min(max(rng.gauss(0.75 - 0.12 * sev, 0.2), 0.05), 1.0)
    stay = Stay(
        segs,
        stay_start,
        discharge,
        reason,
        ed,
        icu,
        elective,
        died,
        False,
        sev,
        rec,
        org,
        (discharge - stay_start) / DAY,
        disposition,
    )
    stay.offsets = {
        "sodium": rng.gauss(-1.0, 2.6),
        "hemoglobin": rng.gauss(-0.2, 0.7),
        "creatinine": math.exp(rng.gauss(0.03, 0.13)),
        "potassium": rng.gauss(0.0, 0.25),
        "wbc": rng.gauss(0.5, 1.2),
    }
    for seg in segs:
        seg.ref = {"reference": f"Encounter/{seg.id}"}

    # Conditions acquired and medications started.
    if reason == "ami":
        _acquire(sim, "mi", stay_start, stay)
        _acquire(sim, "cad", stay_start, stay)
    elif reason == "stroke":
        _acquire(sim, "cvd", stay_start, stay)
        if rng.random() < 0.15:
            _acquire(sim, "hemiplegia", stay_start, stay)
    elif reason == "afib_rvr" and not sim.conditions.has("afib", t0):
        _acquire(sim, "afib", stay_start, stay)
    if stay.acquired:
        sim.physiology.rebuild_effects()
    if not died:
        new = {
            "ami": ("aspirin81", "clopidogrel", "atorvastatin80"),
            "chf_exac": ("furosemide",),
            "afib_rvr": ("apixaban",),
            "dka": ("insulin",),
            "stroke": ("aspirin81", "atorvastatin80"),
            "copd_exac": ("albuterol",),
        }.get(reason, ())
        for med in new:
            if sim.meds.add(med, discharge - 2 * HOUR, reason):
                stay.new_meds.append(med)

    # Open at export time?
    if discharge >= end:
        stay.in_progress = True
        stay.died = False
        kept = [s for s in segs if s.start < end]
        if not kept:  # the admission itself would come after the export
            return None
        if len(kept) < len(segs):  # the next unit's encounter had not started yet: this one is still open
            kept[-1].end = end
        for s in kept:
            if s.end >= end:
                s.in_progress = True
                s.disposition = None
        stay.segs = kept
    return stay


def _pick_reason(sim: PatientSim, t: int, elective: bool) -> str:
    """The admission reason, weighted by the conditions present (planned reasons when ``elective``)."""
    rng = sim.rng
    age = (t - sim.person.birth) / YEAR
    if age < 18:
        r = rng.random()
        return "asthma_exac" if r < 0.35 else "appendicitis" if r < 0.65 else "pneumonia" if r < 0.85 else "cellulitis"
    conds = set(sim.conditions.at(t))
    if elective:
        options = []
        if "cancer" in conds or "metastatic" in conds:
            options.append(("chemo", 2.0))
        if "osteoarthritis" in conds or age > 60:
            options.append(("hip_oa", 1.0 if "osteoarthritis" in conds else 0.3))
        if "cad" in conds:
            options.append(("pci", 1.0))
        if options:
            total = sum(w for _, w in options)
            r = rng.random() * total
            for key, w in options:
                r -= w
                if r < 0:
                    return key
            return options[-1][0]
    weights = []
    for key, (base, extra) in _REASON_WEIGHTS.items():
        w = base + sum(v for c, v in extra.items() if c in conds)
        if key == "hip_fracture" and age < 60:
            w *= 0.2
        if key == "uti" and sim.person.female:
            w *= 1.5
        if w > 0:
            weights.append((key, w))
    total = sum(w for _, w in weights)
    r = rng.random() * total
    for key, w in weights:
        r -= w
        if r < 0:
            return key
    return weights[-1][0]


def _elective_reason_concept(sim: PatientSim, reason: str, t: int) -> dict[str, Any]:
    """The reasonCode of a planned admission: the chronic condition it treats."""
    key = {"chemo": "cancer", "pci": "cad"}.get(reason, "osteoarthritis")
    for k, _, variant in sim.conditions.items:
        if k == key:
            return V.CHRONIC_VARIANTS[k][variant].reason
    return V.ACUTE["hip_oa"].reason


def _pick_disposition(sim: PatientSim, age: float, reason: str, ch: int, t: int) -> str:
    """Where a living patient goes at discharge (a risk-model input), by age, reason and conditions."""
    rng = sim.rng
    w = dict(_DISPOSITION_BASE)
    conds = set(sim.conditions.at(t))
    if age > 75:
        w["snf"] *= 2.5
        w["long"] *= 2.0
    if "dementia" in conds:
        w["snf"] *= 2.0
        w["long"] *= 3.0
    if reason in ("hip_fracture", "hip_oa"):
        w["snf"] *= 3.0
        w["rehab"] *= 4.0
    if reason == "stroke":
        w["rehab"] *= 4.0
        w["snf"] *= 1.5
    if age < 50:
        w["aadvice"] *= 2.0
        w["snf"] *= 0.2
    if "alcohol" in conds:
        w["aadvice"] *= 3.0
        w["psy"] *= 3.0
    if "metastatic" in conds:
        w["hosp"] *= 8.0
    if ch >= 6:
        w["hosp"] *= 3.0
    if age < 18:
        w = {"home": 0.97, "aadvice": 0.01, "other-hcf": 0.02}
    total = sum(w.values())
    r = rng.random() * total
    for key, v in w.items():
        r -= v
        if r < 0:
            return key
    return "home"


def _acquire(sim: PatientSim, key: str, t: int, stay: Stay) -> None:
    """The stay diagnoses chronic condition ``key`` (or finds it earlier than its planned onset)."""
    existing = next((c for c in sim.conditions.items if c[0] == key), None)
    if existing is not None and existing[1] <= t:
        return
    variant = existing[2] if existing is not None else sim.rng.randrange(len(V.CHRONIC_VARIANTS[key]))
    if existing is not None:  # diagnosed earlier than planned: its long-term medications start now too
        sim.conditions.items.remove(existing)
        sim.meds.items = [(m, t if c == key and start == existing[1] else start, c) for m, start, c in sim.meds.items]
    item = (key, t, variant)
    sim.conditions.items.append(item)
    sim.conditions.items.sort(key=lambda c: c[1])
    stay.acquired.append(item)
