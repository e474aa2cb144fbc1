"""Labs and vital signs as FHIR R4 Observations: measurement noise, units, assay bias, and rare PHI in free text.

``emit_lab`` and ``emit_vital`` turn a true value (``physiology``) into a reported one: within-person noise,
physiological limits, the facility's unit conventions (SI creatinine and glucose, Fahrenheit) and
``creatinine_shift``.
"""

from __future__ import annotations

from typing import Any

from healthcare_assets.synthetic import people
from healthcare_assets.synthetic import vocab as V
from healthcare_assets.synthetic.clock import DAY, HOUR, MINUTE, date_string, fmt, fmt_ms
from healthcare_assets.synthetic.fhir_writer import FhirWriter
from healthcare_assets.synthetic.stays import Seg

_SI_CREATININE = 88.42  # umol/L per mg/dL
_SI_GLUCOSE = 18.016  # mg/dL per mmol/L

# Within-person variation of a measurement: (kind, size): "cv" relative, "sd" absolute.
_NOISE: dict[str, tuple[str, float]] = {
    "creatinine": ("cv", 0.05), "bun": ("cv", 0.08), "sodium": ("sd", 1.2), "potassium": ("sd", 0.2),
    "glucose": ("cv", 0.10), "wbc": ("cv", 0.10), "hemoglobin": ("sd", 0.3), "platelets": ("cv", 0.06),
    "alt": ("cv", 0.12), "ast": ("cv", 0.12), "hba1c": ("sd", 0.15), "heart_rate": ("sd", 6.0),
    "respiratory_rate": ("sd", 1.5), "temperature": ("sd", 0.25), "spo2": ("sd", 1.0), "systolic": ("sd", 9.0),
    "diastolic": ("sd", 6.0), "weight": ("sd", 0.8),
}  # fmt: skip
_LIMITS: dict[str, tuple[float, float]] = {
    "creatinine": (0.2, 15.0), "bun": (2.0, 180.0), "sodium": (110.0, 165.0), "potassium": (2.2, 7.5),
    "glucose": (35.0, 900.0), "wbc": (0.5, 60.0), "hemoglobin": (4.0, 19.5), "platelets": (8.0, 900.0),
    "alt": (5.0, 900.0), "ast": (5.0, 900.0), "hba1c": (4.0, 15.0), "heart_rate": (35.0, 190.0),
    "respiratory_rate": (8.0, 40.0), "temperature": (34.5, 41.5), "spo2": (70.0, 100.0),
    "systolic": (70.0, 220.0), "diastolic": (35.0, 130.0), "weight": (2.0, 250.0),
}  # fmt: skip

_PHI_NOTES = (
    "Critical value called to floor; patient {name} notified at {phone}.",
    "Specimen hemolyzed, redraw requested. Contact {name} {phone}.",
    "Results discussed with {name} (MRN {mrn}) by phone {phone}.",
    "Spoke with daughter {relative} re: {name}'s results, call back {phone}.",
    "Pt {name}, DOB {dob}, lives at {line}, {city}; prefers calls to {phone}.",
)


def _round(value: float, decimals: int) -> float | int:
    if decimals == 0:
        return int(round(value))
    return round(value, decimals)


def _observation(
    w: FhirWriter, category: list[Any], code: dict[str, Any], seg: Seg, t: int, issued_delay: int
) -> dict[str, Any]:
    """The elements every Observation shares."""
    miss = w.miss
    zone = seg.org.zone
    res: dict[str, Any] = {"resourceType": "Observation", "id": w.ids.next(), "status": "final"}
    if not miss(0.5):
        res["category"] = category
    res["code"] = code
    res["subject"] = w.subject
    if not miss(0.25):
        res["encounter"] = seg.ref
    res["effectiveDateTime"] = fmt(t, zone)
    millis = int(w.rng.random() * 1000)  # drawn whether or not "issued" is then left out
    if not miss():
        res["issued"] = fmt_ms(t + issued_delay, millis, zone)
    return res


def _measured(w: FhirWriter, key: str, true_value: float) -> float:
    """A measurement of ``true_value``: within-person noise, clipped to physiological limits."""
    kind, size = _NOISE.get(key, ("sd", 0.0))
    if kind == "cv":
        v = true_value * (1.0 + w.rng.gauss(0.0, size))
    else:
        v = true_value + w.rng.gauss(0.0, size)
    lo, hi = _LIMITS.get(key, (-1e9, 1e9))
    return min(max(v, lo), hi)


def emit_lab(w: FhirWriter, key: str, true_value: float, seg: Seg, t: int) -> None:
    """A laboratory Observation as the facility reports it (noise, units, ``creatinine_shift``)."""
    rng, rt = w.rng, w.rt
    value = _measured(w, key, true_value)
    mkey = key
    org = seg.org
    if key == "creatinine":
        value = max(0.05, value + rt.creatinine_shift)
        if org.creatinine_si or rng.random() < 0.02:
            mkey, value = "creatinine_si", value * _SI_CREATININE
    elif key == "glucose" and (org.glucose_si or rng.random() < 0.02):
        mkey, value = "glucose_si", value / _SI_GLUCOSE
    m = V.MEASURES[mkey]
    res = _observation(w, V.CATEGORY_LAB, V.MEASURE_CODES[mkey], seg, t, 20 * MINUTE + int(rng.random() * 13_200))
    res["valueQuantity"] = {"value": _round(value, m.decimals), "unit": m.unit, "system": V.UCUM, "code": m.unit}
    if rng.random() < 0.003:
        res["note"] = [{"text": _phi_text(w)}]
    w.emit("Observation", res)


def emit_vital(w: FhirWriter, key: str, true_value: float, seg: Seg, t: int, noisy: bool = True) -> None:
    """A vital-sign Observation (Fahrenheit and SpO2 coding per facility)."""
    rng = w.rng
    value = _measured(w, key, true_value) if noisy else true_value
    mkey = key
    if key == "temperature" and (seg.org.temperature_f or rng.random() < 0.02):
        mkey, value = "temperature_f", value * 9.0 / 5.0 + 32.0
    m = V.MEASURES[mkey]
    code = V.SPO2_US_CORE_CODE if key == "spo2" and not seg.org.spo2_single_code else V.MEASURE_CODES[mkey]
    res = _observation(w, V.CATEGORY_VITALS, code, seg, t, int(rng.random() * 30 * MINUTE))
    res["valueQuantity"] = {"value": _round(value, m.decimals), "unit": m.unit, "system": V.UCUM, "code": m.unit}
    w.emit("Observation", res)


def emit_bp_panel(w: FhirWriter, systolic: float, diastolic: float, seg: Seg, t: int) -> None:
    """Blood pressure as one panel Observation with two components."""
    s = round(_measured(w, "systolic", systolic))
    d = round(min(_measured(w, "diastolic", diastolic), s - 10))
    res = _observation(w, V.CATEGORY_VITALS, V.BP_PANEL_CODE, seg, t, w.rng.randint(0, 30 * MINUTE))
    res["component"] = [
        {
            "code": V.MEASURE_CODES["diastolic"],
            "valueQuantity": {"value": d, "unit": "mm[Hg]", "system": V.UCUM, "code": "mm[Hg]"},
        },
        {
            "code": V.MEASURE_CODES["systolic"],
            "valueQuantity": {"value": s, "unit": "mm[Hg]", "system": V.UCUM, "code": "mm[Hg]"},
        },
    ]
    w.emit("Observation", res)


def emit_comment(w: FhirWriter, seg: Seg, t: int) -> None:
    """A lab "Service comment" carrying free-text PHI, for the residual-PHI scan to catch."""
    res = _observation(w, V.CATEGORY_LAB, V.SERVICE_COMMENT_CODE, seg, t, w.rng.randint(0, 2 * HOUR))
    res["valueString"] = _phi_text(w)
    w.emit("Observation", res)


def _phi_text(w: FhirWriter) -> str:
    """A free-text note that names the patient, their phone, MRN or address."""
    rng = w.rng
    template = _PHI_NOTES[rng.randrange(len(_PHI_NOTES))]
    return template.format(
        name=w.person.full_name,
        phone=w.person.phone,
        mrn=w.person.mrn,
        relative=f"{rng.choice(people.FEMALE_GIVEN)} {w.person.family}",
        dob=date_string(w.person.birth // DAY),
        line=w.person.line,
        city=w.person.place.city,
    )


def vitals_set(
    w: FhirWriter, seg: Seg, t: int, values: dict[str, float], panel: bool, extra: tuple[str, ...] = ()
) -> None:
    """One round of vitals: BP as a panel (``panel``, clinic and ED) or as two flowsheet rows."""
    emit_vital(w, "heart_rate", values["heart_rate"], seg, t)
    if panel:
        emit_bp_panel(w, values["systolic"], values["diastolic"], seg, t)
    else:
        s = _measured(w, "systolic", values["systolic"])
        d = min(_measured(w, "diastolic", values["diastolic"]), s - 10)
        emit_vital(w, "systolic", s, seg, t, noisy=False)
        emit_vital(w, "diastolic", d, seg, t, noisy=False)
    emit_vital(w, "respiratory_rate", values["respiratory_rate"], seg, t)
    for key in extra:
        emit_vital(w, key, values[key], seg, t)
