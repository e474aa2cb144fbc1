"""True physiology: a patient's baseline labs and vitals, how chronic conditions move them, and a stay's course.

These are the values the risk model sees (``lab_true`` at discharge); what gets reported adds measurement noise,
units and assay bias on top (``observations``).
"""

from __future__ import annotations

import math
import random

from healthcare_assets.synthetic.conditions import ChronicConditions
from healthcare_assets.synthetic.demographics import Person
from healthcare_assets.synthetic.stays import Stay

# Baseline lab/vital effects of chronic conditions (additive), applied from the condition's onset.
_EFFECTS: dict[str, dict[str, float]] = {
    "anemia": {"hemoglobin": -2.0},
    "cancer": {"hemoglobin": -0.6},
    "metastatic": {"hemoglobin": -1.0, "alt": 10.0},
    "chf": {"sodium": -1.5, "bun": 5.0, "hemoglobin": -0.3},
    "liver_mild": {"alt": 18.0, "ast": 14.0},
    "liver_severe": {"sodium": -3.0, "platelets": -100.0, "hemoglobin": -1.2, "alt": 10.0, "ast": 30.0},
    "dm": {"glucose": 55.0, "hba1c": 2.0},
    "dm_comp": {"glucose": 20.0, "hba1c": 0.6},
    "copd": {"spo2": -3.0},
    "afib": {"heart_rate": 8.0},
    "htn": {"systolic": 12.0, "diastolic": 6.0},
}
_RENAL_EFFECTS = (
    {"creatinine": 0.8, "bun": 12.0, "hemoglobin": -1.0, "potassium": 0.2},
    {"creatinine": 1.9, "bun": 25.0, "hemoglobin": -1.8, "potassium": 0.4},
    {"creatinine": 5.5, "bun": 45.0, "hemoglobin": -2.5, "potassium": 0.8},
)
# Acute deviations at admission, multiplied by the severity factor (creatinine, platelets, alt/ast: ratios).
_ACUTE_LABS: dict[str, dict[str, float]] = {
    "sepsis": {"wbc": 9.0, "creatinine": 0.5, "sodium": -2.0, "bun": 12.0, "platelets": -0.3, "glucose": 40.0,
               "heart_rate": 25.0, "temperature": 1.6, "systolic": -22.0, "respiratory_rate": 6.0, "spo2": -3.0},
    "pneumonia": {"wbc": 6.0, "sodium": -2.0, "bun": 5.0, "temperature": 1.3, "heart_rate": 12.0,
                  "respiratory_rate": 5.0, "spo2": -5.0},
    "uti": {"wbc": 4.0, "creatinine": 0.15, "temperature": 0.9, "heart_rate": 8.0},
    "chf_exac": {"sodium": -3.0, "bun": 14.0, "creatinine": 0.35, "hemoglobin": -0.5, "respiratory_rate": 5.0,
                 "spo2": -4.0, "weight": 3.0},
    "copd_exac": {"wbc": 3.0, "glucose": 30.0, "respiratory_rate": 7.0, "spo2": -6.0, "heart_rate": 12.0},
    "ami": {"glucose": 30.0, "wbc": 2.0, "creatinine": 0.1, "heart_rate": 10.0},
    "stroke": {"glucose": 20.0, "systolic": 25.0},
    "aki": {"creatinine": 1.2, "bun": 25.0, "potassium": 0.7, "sodium": -1.0},
    "cellulitis": {"wbc": 5.0, "temperature": 0.8},
    "gi_bleed": {"hemoglobin": -3.8, "bun": 18.0, "heart_rate": 18.0, "systolic": -15.0},
    "hip_fracture": {"hemoglobin": -1.8, "wbc": 2.0, "heart_rate": 8.0},
    "syncope": {"sodium": -1.0},
    "dka": {"glucose": 320.0, "potassium": 0.9, "sodium": -5.0, "creatinine": 0.3, "bun": 10.0, "wbc": 4.0,
            "respiratory_rate": 8.0, "heart_rate": 20.0},
    "afib_rvr": {"heart_rate": 45.0},
    "hyponatremia": {"sodium": -13.0},
    "dehydration": {"sodium": 5.0, "bun": 14.0, "creatinine": 0.4, "heart_rate": 12.0},
    "asthma_exac": {"wbc": 2.0, "glucose": 20.0, "respiratory_rate": 8.0, "spo2": -5.0},
    "appendicitis": {"wbc": 6.0, "temperature": 0.8},
    "hip_oa": {"hemoglobin": -2.0},
    "chemo": {"wbc": -3.0, "hemoglobin": -1.0, "platelets": -0.4},
}  # fmt: skip
_RATIO_KEYS = frozenset({"creatinine", "platelets"})


class Physiology:
    """Baselines (``base``) and the condition effects (``effects``, from each onset) that move them."""

    def __init__(self, rng: random.Random, person: Person, conditions: ChronicConditions) -> None:
        self.conditions = conditions
        male = not person.female
        self.base = {
            "creatinine": (1.0 if male else 0.8)
            * math.exp(rng.gauss(0.0, 0.12))
            * (1.1 if person.age_end > 75 else 1.0),
            "bun": max(6.0, rng.gauss(14.0, 3.5)),
            "sodium": rng.gauss(139.5, 1.8),
            "potassium": rng.gauss(4.2, 0.3),
            "glucose": rng.gauss(94.0, 8.0),
            "wbc": max(3.5, rng.gauss(7.2, 1.5)),
            "hemoglobin": rng.gauss(14.6, 1.0) if male else rng.gauss(13.2, 0.9),
            "platelets": max(120.0, rng.gauss(250.0, 50.0)),
            "alt": max(8.0, rng.gauss(22.0, 6.0)),
            "ast": max(10.0, rng.gauss(24.0, 5.0)),
            "hba1c": rng.gauss(5.4, 0.3),
            "heart_rate": rng.gauss(74.0, 8.0),
            "respiratory_rate": rng.gauss(15.5, 1.5),
            "temperature": rng.gauss(36.8, 0.2),
            "spo2": min(99.5, rng.gauss(97.5, 1.0)),
            "systolic": rng.gauss(122.0 + 0.25 * max(person.age_end - 40, 0), 11.0),
            "diastolic": rng.gauss(76.0, 7.0),
        }
        if person.age_end < 18:
            self.base["heart_rate"] += 20.0
            self.base["respiratory_rate"] += 5.0
            self.base["systolic"] -= 15.0
            self.base["creatinine"] *= 0.5
        self.rebuild_effects()

    def rebuild_effects(self) -> None:
        """(onset, {key: delta}) of the chronic conditions that move baselines."""
        self.effects: list[tuple[int, dict[str, float]]] = []
        for key, onset, variant in self.conditions.items:
            if key == "renal":
                self.effects.append((onset, _RENAL_EFFECTS[variant]))
            elif key in _EFFECTS:
                self.effects.append((onset, _EFFECTS[key]))

    def baseline(self, key: str, t: int) -> float:
        """Outside any stay: the baseline of ``key`` plus the effects of conditions present at ``t``."""
        v = self.base[key]
        for onset, eff in self.effects:
            if onset <= t and key in eff:
                v += eff[key]
        return v

    def baseline_values(self, t: int, keys: tuple[str, ...]) -> dict[str, float]:
        """``baseline`` of several keys at once."""
        return {k: self.baseline(k, t) for k in keys}

    def lab_true(self, key: str, t: int, stay: Stay, x: float) -> float:
        """True value of a lab/vital at fraction ``x`` (0 admission .. 1 discharge) of a stay."""
        base = self.baseline(key, t)
        factor = max(0.3, 1.0 + 0.35 * stay.sev)
        off = stay.offsets.get(key)
        if off is not None:  # this stay's own deviation, lasting the whole stay
            base = base * off if key in _RATIO_KEYS else base + off
        # Hospital course common to every stay: haemodilution and phlebotomy lower hemoglobin as the stay goes on.
        if key == "hemoglobin":
            base -= (0.6 + 0.08 * min(stay.los, 12.0)) * factor * x
        dev = _ACUTE_LABS.get(stay.reason, {}).get(key)
        if dev is None:
            return base
        remaining = 1.0 - stay.rec * x
        if key in _RATIO_KEYS:
            return base * (1.0 + dev * factor) ** remaining
        return base + dev * factor * remaining
