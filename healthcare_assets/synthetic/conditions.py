"""Chronic conditions: who has which, since when, in which coded variant; and queries of them by time.

Prevalence follows age, sex, race and ethnicity, frailty and the case-mix shift; dependencies between conditions
(an MI implies CAD, ...) are applied afterwards. A hospital stay may add a condition later (``admission``).
"""

from __future__ import annotations

import math
import random

from healthcare_assets.synthetic import vocab as V
from healthcare_assets.synthetic.clock import DAY, YEAR
from healthcare_assets.synthetic.demographics import Person
from healthcare_assets.synthetic.risk import charlson_index
from healthcare_assets.synthetic.runtime import Runtime

# Chronic-condition prevalence: logit at age 70, change per decade, sex effect (female +, male -), span of onset
# ages before now in years. Children get asthma only.
_PREVALENCE: dict[str, tuple[float, float, float, float]] = {
    "htn": (0.30, 0.50, 0.0, 25),
    "hld": (-0.10, 0.30, 0.0, 20),
    "cad": (-1.80, 0.50, -0.5, 15),
    "mi": (-2.70, 0.45, -0.5, 15),
    "chf": (-2.20, 0.60, 0.0, 10),
    "pvd": (-2.70, 0.50, 0.0, 12),
    "cvd": (-2.50, 0.60, 0.0, 12),
    "dementia": (-3.00, 1.00, 0.2, 8),
    "copd": (-1.90, 0.30, 0.0, 15),
    "rheum": (-3.40, 0.10, 0.6, 20),
    "pud": (-3.50, 0.20, 0.0, 15),
    "liver_mild": (-3.10, -0.10, -0.2, 15),
    "liver_severe": (-4.60, 0.00, -0.2, 6),
    "dm": (-1.10, 0.25, 0.0, 20),
    "hemiplegia": (-4.30, 0.30, 0.0, 10),
    "renal": (-2.20, 0.60, 0.0, 10),
    "cancer": (-2.50, 0.45, 0.0, 8),
    "hiv": (-5.00, -0.40, -0.6, 20),
    "afib": (-2.30, 0.80, -0.2, 10),
    "depression": (-1.90, -0.10, 0.4, 20),
    "anemia": (-2.40, 0.40, 0.3, 10),
    "hypothyroid": (-2.60, 0.20, 0.9, 20),
    "osteoarthritis": (-1.40, 0.50, 0.2, 15),
    "osteoporosis": (-1.80, 0.70, 0.0, 15),  # women only (see ChronicConditions)
    "asthma": (-2.60, -0.20, 0.1, 30),
    "alcohol": (-3.30, -0.30, -0.8, 20),
}
_RACE_ADJ: dict[str, dict[str, float]] = {
    "2054-5": {"htn": 0.45, "dm": 0.40, "renal": 0.45, "chf": 0.25},
    "2028-9": {"dm": 0.20, "chf": -0.30, "cad": -0.20},
    "1002-5": {"dm": 0.50, "liver_mild": 0.40, "alcohol": 0.40},
}
_HISPANIC_ADJ = {"dm": 0.40, "liver_mild": 0.30}


def sigmoid(x: float) -> float:
    """The logistic function (0 far below zero, where ``math.exp`` would overflow)."""
    if x < -40:
        return 0.0
    return 1.0 / (1.0 + math.exp(-x))


class ChronicConditions:
    """``items``: (key, onset, variant) of every chronic condition, in onset order; ``renal_stage``: -1 if none."""

    def __init__(self, rng: random.Random, rt: Runtime, person: Person) -> None:
        age = person.age_end
        conds: dict[str, tuple[int, int]] = {}  # key -> (onset utc, variant)

        def onset_for(span: float, min_age: float = 18.0) -> int:
            lo = max(min_age, age - span)
            if lo >= age:
                lo = max(0.5, age - 1.0)
            onset_age = rng.uniform(lo, age)
            t = person.birth + int(onset_age * YEAR)
            return min(t, rt.end_utc - 2 * DAY)

        if age < 18:
            if rng.random() < 0.09:
                conds["asthma"] = (onset_for(age, 2.0), 0)
        else:
            adj = dict(_RACE_ADJ.get(person.race_key, {}))
            if person.hispanic:
                for k, v in _HISPANIC_ADJ.items():
                    adj[k] = adj.get(k, 0.0) + v
            s = rt.shift
            for key, (a, b, sex, span) in _PREVALENCE.items():
                if key == "osteoporosis" and not person.female:
                    continue
                sex_eff = (sex if person.female else -sex) / 2.0
                logit = a + b * (age - 70.0) / 10.0 + sex_eff + 0.55 * person.frailty + 0.35 * s + adj.get(key, 0.0)
                if key in ("liver_mild", "liver_severe") and "alcohol" in conds:
                    logit += 1.2
                if rng.random() < sigmoid(logit):
                    conds[key] = (onset_for(span), 0)
            if person.bmi >= 30.0:
                conds["obesity"] = (onset_for(15), 0)
            # Dependencies between conditions.
            if "mi" in conds and "cad" not in conds:
                conds["cad"] = (conds["mi"][0] - rng.randrange(30 * DAY), 0)
            if "dm" in conds and rng.random() < sigmoid(-0.6 + 0.5 * person.frailty + 0.3 * (age - 65) / 10):
                t = conds["dm"][0]
                conds["dm_comp"] = (t + int(rng.uniform(0.1, 1.0) * (rt.end_utc - t)), 0)
            if "cancer" in conds and rng.random() < 0.22 + 0.1 * s:
                t = conds["cancer"][0]
                conds["metastatic"] = (t + int(rng.uniform(0.05, 0.9) * (rt.end_utc - t)), 0)
            if "hemiplegia" in conds and "cvd" not in conds and rng.random() < 0.8:
                conds["cvd"] = (conds["hemiplegia"][0], 0)
            if "liver_severe" in conds and "liver_mild" not in conds and rng.random() < 0.7:
                conds["liver_mild"] = (conds["liver_severe"][0] - rng.randrange(365 * DAY), 2)
        for key, (onset, variant) in list(conds.items()):
            variants = V.CHRONIC_VARIANTS[key]
            if key == "renal":
                r = rng.random()
                variant = 0 if r < 0.7 else 1 if r < 0.9 else 2
            elif key == "cancer":
                r = rng.random()
                if person.female:
                    variant = 0 if r < 0.45 else 1 if r < 0.7 else 2
                else:
                    variant = 3 if r < 0.45 else 1 if r < 0.75 else 2
            elif variant == 0 and len(variants) > 1:
                variant = rng.randrange(len(variants))
            conds[key] = (max(onset, person.birth + DAY), variant)
        # (key, onset, variant), in onset order.
        self.items: list[tuple[str, int, int]] = sorted(((k, o, v) for k, (o, v) in conds.items()), key=lambda c: c[1])
        self.renal_stage = conds["renal"][1] if "renal" in conds else -1

    def at(self, t: int) -> list[str]:
        """Keys of the conditions present at ``t``."""
        return [k for k, o, _ in self.items if o <= t]

    def charlson_at(self, t: int) -> int:
        """The Charlson comorbidity index at ``t``."""
        return charlson_index(k for k, o, _ in self.items if o <= t)

    def has(self, key: str, t: int) -> bool:
        """Whether condition ``key`` is present at ``t``."""
        for k, o, _ in self.items:
            if k == key and o <= t:
                return True
        return False
