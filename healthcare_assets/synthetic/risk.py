"""The known truth: each discharge's true probability of an unplanned-or-not inpatient readmission within 30 days.

The generator calls ``true_readmission_probability`` once per inpatient discharge (the end of a merged stay,
deaths excluded) with the patient's *true* clinical state at that moment, and then draws the outcome from it:
with that probability a new inpatient stay is scheduled 1 to 29.5 days after the discharge (its inpatient
encounter starts within 30 days). Outcomes are never stored in a field; downstream code recovers them from the
Encounter resources. The probabilities are written to the ground-truth file only, to measure models against the
oracle.

Model (logistic), with ``signal`` the cohort's signal strength (``SyntheticConfig.signal_strength``)::

    logit p = intercept(signal) + AGE + (1 + signal) / 2 * CHRONIC + signal * ACUTE

    AGE     = 0.020 * (clamp(age, 18, 100) - 65)
    CHRONIC = 0.13  * min(charlson, 10)
            + 0.30  * min(prior_admissions_12m, 4)
            + 0.30  * [active_medications >= 10] + 0.15 * [5 <= active_medications < 10]
    ACUTE   = 0.30  * ln(1 + los_days)
            + 0.35  * ed_admission
            + 0.20  * icu_stay
            + 0.60  * [creatinine >= 2.0 mg/dL]  + 0.25 * [1.3 <= creatinine < 2.0]
            + 0.55  * [hemoglobin < 9 g/dL]      + 0.25 * [9 <= hemoglobin < 11]
            + 0.45  * [sodium < 133 mmol/L]      + 0.20 * [sodium > 145]
            + disposition:  aadvice +1.00, snf +0.40, long +0.25, alt-home +0.25, psy +0.25,
                            rehab +0.15, other-hcf +0.10, home 0, oth 0, hosp (hospice) -1.50

where

* ``age`` is in years at discharge;
* ``charlson`` is the Charlson comorbidity index (1987 weights, hierarchies applied: see ``charlson_index``)
  of the chronic conditions with onset at or before the discharge;
* ``prior_admissions_12m`` counts the patient's inpatient stays discharged in the 365 days before this stay
  started;
* ``los_days`` is the merged stay's length, from its first encounter's start (ED arrival included) to the
  discharge, in days;
* ``ed_admission``: the stay began in the emergency department; ``icu_stay``: it included an ICU encounter;
* creatinine, hemoglobin and sodium are the patient's *true* values on the day of discharge (what the discharge
  labs measure, when they are drawn; a creatinine assay shift changes the reported values, not these);
* ``disposition`` is the discharge-disposition code of the stay's last encounter;
* ``active_medications`` counts the distinct long-term medications the patient has been prescribed by then.

The signal strength sets how far apart low- and high-risk discharges are, and so how well anyone (the oracle
included) can tell them apart: it multiplies the effects of the stay (ACUTE) fully, the chronic burden half as
fast, and leaves age alone. Scaling everything alike made age and comorbidity, which pile up together in old
age, dominate: at an oracle AUROC of 0.93 the 30-day rate ran from 1% under 45 to 42% over 80, and even the true
probabilities differed by 0.06 in AUROC between age bands (45-64 against 65-79), more than the clinical gate's
subgroup limit; with the stay's effects leading, the true probabilities are about equally informative in every
age band (measured: 0.90-0.93). ``intercept(signal)`` is interpolated from ``INTERCEPT_BY_SIGNAL``, calibrated so
that every setting keeps the realized 30-day readmission rate near 14%. Oracle AUROC (true probability vs
realized outcome; 20,000 patients):

* ``SIGNAL_DEFAULT`` (3.0): about 0.94 (sensitivity at 90% specificity about 0.83; age bands within 0.03 of each
  other). A model that recovers the drivers from the FHIR data can pass the seed's clinical gate, so the demo
  can promote a model. (An oracle of 0.90 would not do: it would itself miss the gate's sensitivity and subgroup
  criteria at times.)
* ``SIGNAL_REALISTIC`` (0.5): about 0.70, what published 30-day readmission models achieve on real EHR data
  (LACE and HOSPITAL reach 0.65-0.72); no model can pass the gate, and the tests use it for the failing case.
* 1.0: about 0.78, the generator's cohort before the option existed (byte-identical output).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from healthcare_assets.synthetic.vocab import CHARLSON_WEIGHTS

INTERCEPT = -3.85  # at signal strength 1.0
SIGNAL_DEFAULT = 3.0
SIGNAL_REALISTIC = 0.5
SIGNAL_RANGE = (0.25, 4.0)
# (signal strength, intercept), measured by generating 8,000 patients at each point and solving for a realized
# rate of 13.9% (the rate at 1.0); readmissions feed back into prior admissions, so a closed form would drift.
# Linear interpolation in between.
INTERCEPT_BY_SIGNAL: tuple[tuple[float, float], ...] = (
    (0.25, -2.562), (0.50, -2.961), (0.75, -3.323), (1.00, INTERCEPT), (1.50, -4.589), (2.00, -5.579),
    (2.50, -6.522), (3.00, -7.653), (3.50, -8.687), (4.00, -9.664),
)  # fmt: skip

DISPOSITION_EFFECT: Mapping[str, float] = {
    "aadvice": 1.00,
    "snf": 0.40,
    "long": 0.25,
    "alt-home": 0.25,
    "psy": 0.25,
    "rehab": 0.15,
    "other-hcf": 0.10,
    "home": 0.0,
    "oth": 0.0,
    "hosp": -1.50,
}


@dataclass(frozen=True)
class DischargeState:
    """The patient's true clinical state at an inpatient discharge: the inputs of the readmission model."""

    age_years: float
    charlson: int
    prior_admissions_12m: int
    los_days: float
    ed_admission: bool
    icu_stay: bool
    creatinine_mg_dl: float
    hemoglobin_g_dl: float
    sodium_mmol_l: float
    disposition: str
    active_medications: int


def intercept(signal: float) -> float:
    """The intercept that keeps the readmission rate near 14% at this signal strength."""
    lo, hi = SIGNAL_RANGE
    if not lo <= signal <= hi:
        raise ValueError(f"signal strength must be in [{lo}, {hi}], got {signal!r}")
    points = INTERCEPT_BY_SIGNAL
    for (s0, c0), (s1, c1) in zip(points, points[1:], strict=False):
        if signal <= s1:
            return c0 + (c1 - c0) * (signal - s0) / (s1 - s0)
    return points[-1][1]


def readmission_logit(s: DischargeState, signal: float = 1.0) -> float:
    """The linear predictor of the model in the module docstring."""
    if signal == 1.0:
        return _effects(s, INTERCEPT)  # the pre-option arithmetic, in its order: old cohorts stay byte-identical
    age, chronic, acute = _parts(s)
    return intercept(signal) + age + (1.0 + signal) / 2.0 * chronic + signal * acute


def _parts(s: DischargeState) -> tuple[float, float, float]:
    """(AGE, CHRONIC, ACUTE) of the module docstring."""
    age = 0.020 * (min(max(s.age_years, 18.0), 100.0) - 65.0)
    meds = s.active_medications
    chronic = 0.13 * min(s.charlson, 10) + 0.30 * min(s.prior_admissions_12m, 4)
    chronic += 0.30 if meds >= 10 else 0.15 if meds >= 5 else 0.0
    return age, chronic, _effects(s, 0.0) - age - chronic


def _effects(s: DischargeState, z: float) -> float:
    """``z`` plus every effect at signal strength 1.0 (everything but the intercept)."""
    z += 0.020 * (min(max(s.age_years, 18.0), 100.0) - 65.0)
    z += 0.13 * min(s.charlson, 10)
    z += 0.30 * min(s.prior_admissions_12m, 4)
    z += 0.30 * math.log1p(max(s.los_days, 0.0))
    z += 0.35 * s.ed_admission
    z += 0.20 * s.icu_stay
    cr = s.creatinine_mg_dl
    z += 0.60 if cr >= 2.0 else 0.25 if cr >= 1.3 else 0.0
    hb = s.hemoglobin_g_dl
    z += 0.55 if hb < 9.0 else 0.25 if hb < 11.0 else 0.0
    na = s.sodium_mmol_l
    z += 0.45 if na < 133.0 else 0.20 if na > 145.0 else 0.0
    z += DISPOSITION_EFFECT.get(s.disposition, 0.0)
    meds = s.active_medications
    z += 0.30 if meds >= 10 else 0.15 if meds >= 5 else 0.0
    return z


def true_readmission_probability(s: DischargeState, signal: float = 1.0) -> float:
    """P(inpatient readmission within 30 days of this discharge) = 1 / (1 + exp(-logit))."""
    return 1.0 / (1.0 + math.exp(-readmission_logit(s, signal)))


def charlson_index(categories: Iterable[str]) -> int:
    """Charlson comorbidity index of a set of category keys (see ``vocab.CHARLSON_WEIGHTS``).

    Hierarchies: ``dm_comp`` (2) replaces ``dm`` (1), ``liver_severe`` (3) replaces ``liver_mild`` (1),
    ``metastatic`` (6) replaces ``cancer`` (2). Keys outside the index are ignored.
    """
    cats = set(categories)
    if "dm_comp" in cats:
        cats.discard("dm")
    if "liver_severe" in cats:
        cats.discard("liver_mild")
    if "metastatic" in cats:
        cats.discard("cancer")
    return sum(CHARLSON_WEIGHTS.get(c, 0) for c in cats)
