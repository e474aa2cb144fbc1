"""One patient's life in the hospital system, simulated and written as FHIR R4 resources.

``simulate_patient(runtime, index)`` is a pure function of the run's seed, its configuration and the patient's
index: it builds the patient's demographics, chronic conditions (with onsets), baseline physiology and a
timeline of clinic visits, emergency visits and hospital stays, and turns them into serialized resources
(one list of NDJSON lines per resource type) plus the ground-truth rows of the patient's index stays.

Random streams: ``rng`` drives everything clinical; ``mrng`` drives only the mess (missing elements,
duplicates, malformed lines), so changing a mess rate leaves the clinical content untouched. Neither stream is
affected by ``creatinine_shift`` or ``icd10_dropped``, which change how facts are reported, not the facts.

Stays. A hospital stay is written as a chain of contiguous encounters, as EHRs split one stay:
``EMER`` (when the patient came through the emergency department) then one or two ``IMP`` encounters (ICU or
ward, then a ward transfer). Each encounter starts when the previous one ends, or 1-20 minutes later, or (rarely,
ED boarding) up to 3 hours later; ``partOf`` links the pieces only sometimes. Separate stays of a patient are at
least 24 hours apart, and clinic/emergency visits are kept 12 hours away from stays. Downstream code recovers
stays with the rule in ``STAY_MERGE_RULE`` (gap <= 6 h between EMER/IMP encounters of the same patient).
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any

import orjson

from healthcare_assets.synthetic import people
from healthcare_assets.synthetic import vocab as V
from healthcare_assets.synthetic.clock import DAY, HOUR, MINUTE, YEAR, Zone, date_string, day_number, fmt, fmt_ms
from healthcare_assets.synthetic.config import SyntheticConfig
from healthcare_assets.synthetic.ids import KIND_PATIENT, IdFactory, stream_seed
from healthcare_assets.synthetic.mess import add_mess
from healthcare_assets.synthetic.risk import DischargeState, charlson_index, true_readmission_probability
from healthcare_assets.synthetic.world import Organization, Practitioner, World

RESOURCE_TYPES = ("Patient", "Encounter", "Condition", "Observation", "MedicationRequest", "Procedure")

STAY_MERGE_GAP_HOURS = 6
STAY_MERGE_RULE = (
    "Encounters of class EMER or IMP of the same patient, sorted by period.start, belong to one stay when an "
    "encounter starts no later than 6 hours after the latest end of the stay so far; a stay is an inpatient "
    "stay when it contains at least one IMP encounter; it is admitted at its first start and discharged at its "
    "last end, with the dischargeDisposition of its last encounter. Stays still open at export time "
    "(an encounter in-progress, without period.end) are not discharges."
)
READMISSION_MIN_DAYS = 1.0
READMISSION_MAX_DAYS = 29.4  # stay start; its IMP encounter (after at most 13 h of ED) starts before day 30

_STREAM_CLINICAL = 1
_STREAM_MESS = 2
_SI_CREATININE = 88.42  # umol/L per mg/dL
_SI_GLUCOSE = 18.016  # mg/dL per mmol/L

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
    "osteoporosis": (-1.80, 0.70, 0.0, 15),  # women only (see _chronic_conditions)
    "asthma": (-2.60, -0.20, 0.1, 30),
    "alcohol": (-3.30, -0.30, -0.8, 20),
}
_RACE_ADJ: dict[str, dict[str, float]] = {
    "2054-5": {"htn": 0.45, "dm": 0.40, "renal": 0.45, "chf": 0.25},
    "2028-9": {"dm": 0.20, "chf": -0.30, "cad": -0.20},
    "1002-5": {"dm": 0.50, "liver_mild": 0.40, "alcohol": 0.40},
}
_HISPANIC_ADJ = {"dm": 0.40, "liver_mild": 0.30}

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

_DISPOSITION_BASE = {
    "home": 0.74, "snf": 0.09, "rehab": 0.04, "aadvice": 0.022, "other-hcf": 0.02, "hosp": 0.012,
    "long": 0.01, "alt-home": 0.01, "psy": 0.004,
}  # fmt: skip

_US_BIRTHPLACES = tuple(p for p in people.PLACES if p.hospital)

_PHI_NOTES = (
    "Critical value called to floor; patient {name} notified at {phone}.",
    "Specimen hemolyzed, redraw requested. Contact {name} {phone}.",
    "Results discussed with {name} (MRN {mrn}) by phone {phone}.",
    "Spoke with daughter {relative} re: {name}'s results, call back {phone}.",
    "Pt {name}, DOB {dob}, lives at {line}, {city}; prefers calls to {phone}.",
)


def _sigmoid(x: float) -> float:
    if x < -40:
        return 0.0
    return 1.0 / (1.0 + math.exp(-x))


class Runtime:
    """Everything a worker needs, derived from the configuration once per process."""

    def __init__(self, config: SyntheticConfig, world: World):
        self.config = config
        self.world = world
        self.seed = config.seed
        self.end_utc = (day_number(config.end_date) + 1) * DAY  # exclusive: nothing at or after this instant
        self.window_start = self.end_utc - int(config.history_years * YEAR)
        self.missing = float(config.missing_rate)
        self.duplicate = float(config.duplicate_rate)
        self.malformed = float(config.malformed_rate)
        self.shift = float(config.case_mix_shift)
        self.creatinine_shift = float(config.creatinine_shift)
        self.icd10_dropped = bool(config.icd10_dropped)


@dataclass
class Seg:
    """One encounter."""

    id: str
    cls: str  # AMB / EMER / IMP
    type: dict[str, Any]
    start: int
    end: int
    org: Organization
    prac: Practitioner
    reason: dict[str, Any] | None = None
    admit_source: str | None = None
    disposition: dict[str, Any] | None = None
    part_of: str | None = None
    ref: dict[str, str] = field(default_factory=dict)
    in_progress: bool = False


@dataclass
class Stay:
    segs: list[Seg]
    start: int
    discharge: int
    reason: str
    ed: bool
    icu: bool
    elective: bool
    died: bool
    in_progress: bool
    sev: float
    rec: float
    org: Organization
    los: float
    disposition: str = ""
    offsets: dict[str, float] = field(default_factory=dict)
    acquired: list[tuple[str, int, int]] = field(default_factory=list)  # new chronic conditions
    new_meds: list[str] = field(default_factory=list)
    extra_conditions: list[tuple[str, int, int]] = field(default_factory=list)  # recorded at this stay
    extra_meds: list[tuple[str, int, str]] = field(default_factory=list)


@dataclass
class Visit:
    """A clinic or emergency visit outside hospital stays."""

    kind: str  # checkup / symptom / problem / followup / ed
    start: int
    conds: list[tuple[str, int, int]] = field(default_factory=list)  # problem visits: conditions diagnosed


@dataclass
class PatientResult:
    lines: dict[str, list[bytes]]
    counts: dict[str, int]
    duplicates: int
    malformed: int
    gt_rows: list[tuple[Any, ...]]
    deceased: bool


class PatientSim:
    def __init__(self, rt: Runtime, index: int):
        self.rt = rt
        self.index = index
        seed = rt.seed
        self.rng = random.Random(stream_seed(seed, index, _STREAM_CLINICAL))
        self.mrng = random.Random(stream_seed(seed, index, _STREAM_MESS))
        self.ids = IdFactory(seed, KIND_PATIENT, index)
        self.pid = self.ids.next()
        self.subject = {"reference": f"Patient/{self.pid}"}
        self.out: dict[str, list[bytes]] = {t: [] for t in RESOURCE_TYPES}
        self.gt_rows: list[list[Any]] = []

    # ------------------------------------------------------------------------------------------ driver
    def run(self) -> PatientResult:
        self._demographics()
        self._chronic_conditions()
        self._baselines()
        self._assign_meds()
        self._simulate_stays()
        self._death()
        visits = self._visits()
        self._emit_patient()
        self._emit_timeline(visits)
        return self._finish()

    # ------------------------------------------------------------------------------------ demographics
    def _demographics(self) -> None:
        rng, rt = self.rng, self.rt
        s = rt.shift
        p_kid = 0.07 * max(0.2, 1.0 - 0.5 * s)
        p_old = max(0.005, 0.035 * (1.0 + 0.6 * s))
        r = rng.random()
        if r < p_kid:
            age = rng.uniform(0.3, 18.0)
        elif r < p_kid + p_old:
            age = rng.uniform(90.0, 104.0)
        else:
            age = rng.gauss(56.0 + 8.0 * s, 17.0)
            while not 18.0 <= age <= 99.0:
                age = rng.gauss(56.0 + 8.0 * s, 17.0)
        self.birth = rt.end_utc - int(age * YEAR) - rng.randrange(DAY)
        self.age_end = (rt.end_utc - self.birth) / YEAR
        r = rng.random()
        self.gender = "female" if r < 0.505 else "male" if r < 0.998 else "other" if r < 0.999 else "unknown"
        self.female = self.gender == "female" or (self.gender in ("other", "unknown") and rng.random() < 0.5)
        self.frailty = rng.gauss(0.0, 1.0) + 0.5 * s

        races = V.RACES
        r = rng.random() * sum(x[3] for x in races)
        acc = 0.0
        race = races[-1]
        for item in races:
            acc += item[3]
            if r < acc:
                race = item
                break
        if race[0] == "multi":
            a, b = rng.sample(races[:5], 2)
            self.race = [a, b]
            self.race_text = f"{a[2]}, {b[2]}"
            self.race_key = "multi"
        else:
            self.race = [race]
            self.race_text = race[2]
            self.race_key = race[1]
        p_hisp = {"2106-3": 0.21, "multi": 0.30, "UNK": 0.25, "ASKU": 0.2}.get(self.race_key, 0.05)
        r = rng.random()
        if self.race_key in ("UNK", "ASKU") and r < 0.3:
            self.ethnicity = V.ETHNICITY_UNKNOWN
        else:
            self.ethnicity = V.ETHNICITY_HISPANIC if rng.random() < p_hisp else V.ETHNICITY_NOT_HISPANIC
        self.hispanic = self.ethnicity is V.ETHNICITY_HISPANIC

        # Names.
        def family_name() -> str:
            if self.hispanic and rng.random() < 0.7:
                return rng.choice(people.HISPANIC_FAMILY)
            if self.race_key == "2028-9" and rng.random() < 0.7:
                return rng.choice(people.ASIAN_FAMILY)
            return rng.choice(people.FAMILY)

        self.given = rng.choice(people.FEMALE_GIVEN if self.female else people.MALE_GIVEN)
        self.middle = (
            rng.choice(people.FEMALE_GIVEN if self.female else people.MALE_GIVEN) if rng.random() < 0.3 else None
        )
        birth_family = family_name()
        self.family = birth_family
        adult = self.age_end >= 18
        if adult:
            a = self.age_end
            r = rng.random()
            if a < 25:
                self.marital = "S" if r < 0.85 else "M" if r < 0.98 else "D"
            elif a < 45:
                self.marital = "M" if r < 0.5 else "S" if r < 0.88 else "D"
            elif a < 70:
                self.marital = "M" if r < 0.58 else "D" if r < 0.78 else "S" if r < 0.92 else "W"
            else:
                self.marital = "M" if r < 0.42 else "W" if r < 0.80 else "D" if r < 0.90 else "S"
        else:
            self.marital = "S"
        self.maiden = None
        if self.female and adult and self.marital in ("M", "W", "D") and rng.random() < 0.7:
            self.family = family_name()
            if self.family != birth_family:
                self.maiden = birth_family
        if not adult:
            self.prefix = None
        elif rng.random() < 0.04:
            self.prefix = "Dr."
        elif not self.female:
            self.prefix = "Mr."
        else:
            self.prefix = "Mrs." if self.marital in ("M", "W") else "Ms."
        self.suffix = None
        if adult and not self.female and rng.random() < 0.03:
            self.suffix = rng.choice(("Jr.", "Sr.", "II", "III"))
        elif self.prefix == "Dr." and rng.random() < 0.5:
            self.suffix = rng.choice(("MD", "PhD"))
        self.nickname = people.NICKNAMES.get(self.given) if rng.random() < 0.15 else None
        parts = [self.prefix] if self.prefix else []
        parts += [self.given, self.family]
        self.display = " ".join(parts)
        self.full_name = f"{self.given} {self.family}"

        # Home, facilities, contact.
        world = rt.world
        r = rng.random() * world.place_cumweights[-1]
        self.place_index = bisect_right(world.place_cumweights, r)
        self.place = people.PLACES[self.place_index]
        self.hospital = world.hospitals[world.home_hospital[self.place_index]]
        clinic_choices = world.place_clinics[world.home_hospital[self.place_index]]
        self.clinic = world.clinics[clinic_choices[rng.randrange(len(clinic_choices))]]
        self.zip = rng.choice(self.place.zips)
        self.line = f"{rng.randint(1, 999)} {rng.choice(people.STREET_NAMES)} {rng.choice(people.STREET_SUFFIXES)}"
        self.line2 = f"{rng.choice(('Apt', 'Unit', 'Suite'))} {rng.randint(1, 99)}" if rng.random() < 0.15 else None
        self.lat = round(self.place.lat + rng.gauss(0.0, 0.03), 6)
        self.lon = round(self.place.lon + rng.gauss(0.0, 0.03), 6)
        self.phone = f"555-{rng.randint(200, 999)}-{rng.randint(1000, 9999)}"
        self.mobile = f"555-{rng.randint(200, 999)}-{rng.randint(1000, 9999)}" if rng.random() < 0.4 else None
        email_local = f"{self.given}.{self.family}{rng.randint(1, 99)}".lower().replace("'", "")
        self.email = f"{email_local}@example.com" if adult and rng.random() < 0.3 else None
        self.mrn = f"{(self.index * 7_919_993 + self.rt.seed * 104_729) % 90_000_000 + 10_000_000:08d}"
        ssn = (self.index * 7_919 + self.rt.seed * 13) % 1_000_000
        self.ssn = f"999-{ssn // 10_000:02d}-{ssn % 10_000:04d}"
        dl = (self.index * 104_729 + self.rt.seed * 31) % 1_000_000
        self.dl = f"S99{dl:06d}" if self.age_end >= 16 and rng.random() < 0.85 else None
        self.passport = f"X{rng.randint(10_000_000, 99_999_999)}X" if adult and rng.random() < 0.3 else None
        self.mother_maiden = f"{rng.choice(people.FEMALE_GIVEN)} {family_name()}"
        if rng.random() < 0.12:
            city, state, country = rng.choice(people.FOREIGN_BIRTHPLACES)
        else:
            bp = _US_BIRTHPLACES[rng.randrange(len(_US_BIRTHPLACES))]
            city, state, country = bp.city, bp.state, "US"
        self.birthplace = (
            {"city": city, "state": state, "country": country} if state else {"city": city, "country": country}
        )
        if self.hispanic and rng.random() < 0.5:
            self.language = "es"
        elif self.race_key == "2028-9" and rng.random() < 0.4:
            self.language = rng.choice(("zh", "vi", "tl"))
        elif self.race_key == "2054-5" and rng.random() < 0.03:
            self.language = "ht"
        elif rng.random() < 0.01:
            self.language = "fr"
        else:
            self.language = "en-US"
        self.multiple_birth = rng.random() < 0.02

        # Body.
        if adult:
            self.height = rng.gauss(176.0, 7.0) if not self.female else rng.gauss(162.0, 6.5)
            bmi = max(16.0, rng.gauss(28.3 + 0.6 * self.frailty, 5.5))
        else:
            a = self.age_end
            self.height = 50.0 + 6.2 * a if a > 1 else 50 + 25 * a
            self.height = min(self.height * (1 + rng.gauss(0.0, 0.04)), 185.0)
            bmi = max(13.0, rng.gauss(17.0 + 0.25 * a, 2.5))
        self.bmi = bmi
        self.weight = bmi * (self.height / 100.0) ** 2

    # -------------------------------------------------------------------------------------- conditions
    def _chronic_conditions(self) -> None:
        rng = self.rng
        age = self.age_end
        conds: dict[str, tuple[int, int]] = {}  # key -> (onset utc, variant)

        def onset_for(span: float, min_age: float = 18.0) -> int:
            lo = max(min_age, age - span)
            if lo >= age:
                lo = max(0.5, age - 1.0)
            onset_age = rng.uniform(lo, age)
            t = self.birth + int(onset_age * YEAR)
            return min(t, self.rt.end_utc - 2 * DAY)

        if age < 18:
            if rng.random() < 0.09:
                conds["asthma"] = (onset_for(age, 2.0), 0)
        else:
            adj = dict(_RACE_ADJ.get(self.race_key, {}))
            if self.hispanic:
                for k, v in _HISPANIC_ADJ.items():
                    adj[k] = adj.get(k, 0.0) + v
            s = self.rt.shift
            for key, (a, b, sex, span) in _PREVALENCE.items():
                if key == "osteoporosis" and not self.female:
                    continue
                sex_eff = (sex if self.female else -sex) / 2.0
                logit = a + b * (age - 70.0) / 10.0 + sex_eff + 0.55 * self.frailty + 0.35 * s + adj.get(key, 0.0)
                if key in ("liver_mild", "liver_severe") and "alcohol" in conds:
                    logit += 1.2
                if rng.random() < _sigmoid(logit):
                    conds[key] = (onset_for(span), 0)
            if self.bmi >= 30.0:
                conds["obesity"] = (onset_for(15), 0)
            # Dependencies between conditions.
            if "mi" in conds and "cad" not in conds:
                conds["cad"] = (conds["mi"][0] - rng.randrange(30 * DAY), 0)
            if "dm" in conds and rng.random() < _sigmoid(-0.6 + 0.5 * self.frailty + 0.3 * (age - 65) / 10):
                t = conds["dm"][0]
                conds["dm_comp"] = (t + int(rng.uniform(0.1, 1.0) * (self.rt.end_utc - t)), 0)
            if "cancer" in conds and rng.random() < 0.22 + 0.1 * s:
                t = conds["cancer"][0]
                conds["metastatic"] = (t + int(rng.uniform(0.05, 0.9) * (self.rt.end_utc - t)), 0)
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
                if self.female:
                    variant = 0 if r < 0.45 else 1 if r < 0.7 else 2
                else:
                    variant = 3 if r < 0.45 else 1 if r < 0.75 else 2
            elif variant == 0 and len(variants) > 1:
                variant = rng.randrange(len(variants))
            conds[key] = (max(onset, self.birth + DAY), variant)
        # (key, onset, variant), in onset order.
        self.conds: list[tuple[str, int, int]] = sorted(((k, o, v) for k, (o, v) in conds.items()), key=lambda c: c[1])
        self.renal_stage = conds["renal"][1] if "renal" in conds else -1

    def _conds_at(self, t: int) -> list[str]:
        return [k for k, o, _ in self.conds if o <= t]

    def _charlson_at(self, t: int) -> int:
        return charlson_index(k for k, o, _ in self.conds if o <= t)

    def _has(self, key: str, t: int) -> bool:
        for k, o, _ in self.conds:
            if k == key and o <= t:
                return True
        return False

    def _acquire(self, key: str, t: int, stay: Stay) -> None:
        """The stay diagnoses chronic condition ``key`` (or finds it earlier than its planned onset)."""
        existing = next((c for c in self.conds if c[0] == key), None)
        if existing is not None and existing[1] <= t:
            return
        variant = existing[2] if existing is not None else self.rng.randrange(len(V.CHRONIC_VARIANTS[key]))
        if existing is not None:  # diagnosed earlier than planned: its long-term medications start now too
            self.conds.remove(existing)
            self.meds = [(m, t if c == key and start == existing[1] else start, c) for m, start, c in self.meds]
        item = (key, t, variant)
        self.conds.append(item)
        self.conds.sort(key=lambda c: c[1])
        stay.acquired.append(item)

    # ---------------------------------------------------------------------------------------- baselines
    def _baselines(self) -> None:
        rng = self.rng
        male = not self.female
        self.base = {
            "creatinine": (1.0 if male else 0.8) * math.exp(rng.gauss(0.0, 0.12)) * (1.1 if self.age_end > 75 else 1.0),
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
            "systolic": rng.gauss(122.0 + 0.25 * max(self.age_end - 40, 0), 11.0),
            "diastolic": rng.gauss(76.0, 7.0),
        }
        if self.age_end < 18:
            self.base["heart_rate"] += 20.0
            self.base["respiratory_rate"] += 5.0
            self.base["systolic"] -= 15.0
            self.base["creatinine"] *= 0.5
        self._rebuild_effects()

    def _rebuild_effects(self) -> None:
        """(onset, {key: delta}) of the chronic conditions that move baselines."""
        self.effects: list[tuple[int, dict[str, float]]] = []
        for key, onset, variant in self.conds:
            if key == "renal":
                self.effects.append((onset, _RENAL_EFFECTS[variant]))
            elif key in _EFFECTS:
                self.effects.append((onset, _EFFECTS[key]))

    def _baseline(self, key: str, t: int) -> float:
        v = self.base[key]
        for onset, eff in self.effects:
            if onset <= t and key in eff:
                v += eff[key]
        return v

    # -------------------------------------------------------------------------------------- medications
    def _assign_meds(self) -> None:
        """Long-term medications started when each chronic condition is diagnosed: (med, start, condition)."""
        rng = self.rng
        self.meds: list[tuple[str, int, str]] = []
        seen: set[str] = set()
        for key, onset, _ in self.conds:
            options = V.CHRONIC_MEDS.get(key)
            if not options:
                continue
            n = 2 if len(options) > 1 and rng.random() < 0.4 else 1
            for med in rng.sample(options, n):
                if med not in seen:
                    seen.add(med)
                    self.meds.append((med, onset, key))

    def _active_meds_at(self, t: int) -> int:
        return sum(1 for _, start, _ in self.meds if start <= t)

    def _add_med(self, med: str, t: int, cond: str) -> bool:
        if any(m == med for m, _, _ in self.meds):
            return False
        self.meds.append((med, t, cond))
        return True

    # ----------------------------------------------------------------------------------------- stays
    def _admission_rate(self, t: int) -> float:
        """Spontaneous admissions per year at instant t."""
        age = (t - self.birth) / YEAR
        if age < 18:
            return math.exp(-4.2 + 0.5 * self.frailty)
        ch = min(self._charlson_at(t), 8)
        return math.exp(-2.55 + 0.022 * (age - 60.0) + 0.22 * ch + 0.5 * self.frailty + 0.25 * self.rt.shift)

    def _simulate_stays(self) -> None:
        rt, rng = self.rt, self.rng
        end = rt.end_utc
        self.stays: list[Stay] = []
        self.followups: list[int] = []
        self.readmission_censored = False
        start = max(rt.window_start, self.birth + 30 * DAY)
        if start >= end:
            return
        age_max = self.age_end
        ch_max = min(charlson_index(k for k, _, _ in self.conds) + 4, 8)
        if age_max < 18:
            lam_max = math.exp(-4.2 + 0.5 * self.frailty)
        else:
            lam_max = math.exp(-2.55 + 0.022 * (age_max - 60.0) + 0.22 * ch_max + 0.5 * self.frailty + 0.25 * rt.shift)
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
                    if rng.random() * lam_max < self._admission_rate(t_cand):
                        t_adm = t_cand
                        break
                if t_adm is None:
                    break
            if t_adm >= end:
                break
            prior = sum(1 for d in discharges if t_adm - 365 * DAY <= d < t_adm)
            stay = self._simulate_stay(t_adm, readmit)
            if stay is None:
                break
            self.stays.append(stay)
            if pending_row is not None:
                # The readmission drawn for the previous discharge: realized if its IMP starts before the end.
                first_imp = next((s for s in stay.segs if s.cls == "IMP"), None)
                if first_imp is not None:
                    prev_discharge = pending_row[_GT_DISCHARGE_UTC]
                    pending_row[_GT_READMITTED] = 1
                    pending_row[_GT_DAYS_TO_READMISSION] = round((stay.start - prev_discharge) / DAY, 4)
                    pending_row[_GT_READMISSION_ENCOUNTER] = first_imp.id
                pending_row = None
            if stay.died or stay.in_progress:
                break
            discharges.append(stay.discharge)
            row = self._ground_truth_row(stay, prior)
            p = row[_GT_PROBABILITY]
            if rng.random() < p:
                d = READMISSION_MIN_DAYS + (READMISSION_MAX_DAYS - READMISSION_MIN_DAYS) * rng.random() ** 1.6
                forced = stay.discharge + int(d * DAY)
                pending_row = row
                if forced >= end:
                    self.readmission_censored = True
            elif stay.disposition not in ("hosp", "other-hcf") and rng.random() < 0.55:
                self.followups.append(stay.discharge + int(rng.uniform(5, 20) * DAY))
            block_until = stay.discharge + 30 * DAY + HOUR
            t_cand = max(t_cand, stay.discharge)

    def _pick_reason(self, t: int, elective: bool) -> str:
        rng = self.rng
        age = (t - self.birth) / YEAR
        if age < 18:
            r = rng.random()
            return (
                "asthma_exac" if r < 0.35 else "appendicitis" if r < 0.65 else "pneumonia" if r < 0.85 else "cellulitis"
            )
        conds = set(self._conds_at(t))
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
            if key == "uti" and self.female:
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

    def _pick_hospital(self) -> Organization:
        rng = self.rng
        if rng.random() < 0.9:
            return self.hospital
        hospitals = self.rt.world.hospitals
        return hospitals[rng.randrange(len(hospitals))]

    def _daytime(self, t: int, zone: Zone, hour_lo: float, hour_hi: float) -> int:
        """The first instant at or after ``t`` whose local time falls in [hour_lo, hour_hi) on some day."""
        local = zone.local_seconds(t)
        day = local // DAY
        tod = int((hour_lo + self.rng.random() * (hour_hi - hour_lo)) * HOUR)
        out = zone.local_to_utc(day * DAY + tod)
        if out < t:
            out = zone.local_to_utc((day + 1) * DAY + tod)
        return out

    def _simulate_stay(self, t0: int, readmit: bool) -> Stay | None:
        rt, rng = self.rt, self.rng
        end = rt.end_utc
        age = (t0 - self.birth) / YEAR
        p_elective = 0.0 if readmit or age < 18 else 0.12
        elective = rng.random() < p_elective
        reason = self._pick_reason(t0, elective)
        elective = reason in ("chemo", "hip_oa", "pci")
        ed = not elective and rng.random() < (0.82 if readmit else 0.75)
        org = self._pick_hospital()
        zone = org.zone
        sev_mean, icu_bump, death_bump, los_adj = _REASON_PARAMS[reason]
        sev = rng.gauss(sev_mean, 1.0)
        ch = self._charlson_at(t0)
        icu = rng.random() < _sigmoid(-2.6 + 0.9 * sev + icu_bump)
        mu = math.log(2.8) + 0.22 * sev + 0.006 * (age - 65.0) + 0.04 * min(ch, 10) + los_adj + (0.3 if icu else 0.0)
        los = min(max(rng.lognormvariate(mu, 0.55), 0.35), 45.0)
        died = rng.random() < _sigmoid(-5.0 + 0.045 * (age - 65.0) + 0.15 * min(ch, 10) + 0.8 * sev + death_bump
                                       + (0.8 if icu else 0.0))  # fmt: skip
        segs: list[Seg] = []
        reason_concept = V.ACUTE[reason].reason if reason in V.ACUTE else self._elective_reason_concept(reason, t0)

        # Emergency department.
        if ed:
            ed_end = t0 + int(min(max(rng.lognormvariate(math.log(4.5 * HOUR), 0.4), 1.5 * HOUR), 10 * HOUR))
            segs.append(Seg(self.ids.next(), "EMER", V.ENC_ED, t0, ed_end, org, self._prac(org), reason=reason_concept))
            r = rng.random()
            gap = 0 if r < 0.55 else rng.randint(1, 20) * MINUTE if r < 0.9 else rng.randint(21, 180) * MINUTE
            imp_start = ed_end + gap
            source = "emd"
        else:
            # Planned and direct admissions arrive in the day; a readmission keeps its drawn instant.
            if readmit:
                imp_start = t0
            else:
                imp_start = self._daytime(t0, zone, 7.0, 10.0) if elective else self._daytime(t0, zone, 8.0, 20.0)
            r = rng.random()
            if elective:
                source = "gp" if r < 0.4 else "mp" if r < 0.8 else "outp"
            else:
                prev = self.stays[-1].disposition if self.stays else ""
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
            discharge = self._daytime(discharge, zone, 10.0, 17.0)
            if discharge < imp_start + 3 * HOUR:
                discharge = self._daytime(imp_start + 3 * HOUR, zone, 10.0, 17.0)
        if icu:
            split = imp_start + int((discharge - imp_start) * rng.uniform(0.25, 0.6))
            first_type, split_prob = V.ENC_ICU, 1.0
        else:
            split = imp_start + int((discharge - imp_start) * rng.uniform(0.25, 0.75))
            first_type = V.ENC_EMERGENCY_ADMISSION if ed else V.ENC_ELECTIVE_ADMISSION if elective else V.ENC_ADMISSION
            split_prob = 0.2
        first = Seg(self.ids.next(), "IMP", first_type, imp_start, discharge, org, self._prac(org),
                    reason=reason_concept, admit_source=source)  # fmt: skip
        segs.append(first)
        if rng.random() < split_prob and split - imp_start > 2 * HOUR and discharge - split > 3 * HOUR:
            gap = 0 if rng.random() < 0.7 else rng.randint(1, 15) * MINUTE
            first.end = split
            second = Seg(self.ids.next(), "IMP", V.ENC_ADMISSION, split + gap, discharge, org, self._prac(org),
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
            disposition = self._pick_disposition(age, reason, ch, t0)
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
            self._acquire("mi", stay_start, stay)
            self._acquire("cad", stay_start, stay)
        elif reason == "stroke":
            self._acquire("cvd", stay_start, stay)
            if rng.random() < 0.15:
                self._acquire("hemiplegia", stay_start, stay)
        elif reason == "afib_rvr" and not self._has("afib", t0):
            self._acquire("afib", stay_start, stay)
        if stay.acquired:
            self._rebuild_effects()
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
                if self._add_med(med, discharge - 2 * HOUR, reason):
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

    def _elective_reason_concept(self, reason: str, t: int) -> dict[str, Any]:
        key = {"chemo": "cancer", "pci": "cad"}.get(reason, "osteoarthritis")
        for k, _, variant in self.conds:
            if k == key:
                return V.CHRONIC_VARIANTS[k][variant].reason
        return V.ACUTE["hip_oa"].reason

    def _pick_disposition(self, age: float, reason: str, ch: int, t: int) -> str:
        rng = self.rng
        w = dict(_DISPOSITION_BASE)
        conds = set(self._conds_at(t))
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

    def _prac(self, org: Organization) -> Practitioner:
        pracs = org.practitioners
        return pracs[self.rng.randrange(len(pracs))]

    # ----------------------------------------------------------------------------------- ground truth
    def _lab_true(self, key: str, t: int, stay: Stay, x: float) -> float:
        """True value of a lab/vital at fraction ``x`` (0 admission .. 1 discharge) of a stay."""
        base = self._baseline(key, t)
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

    def _ground_truth_row(self, stay: Stay, prior: int) -> list[Any]:
        t = stay.discharge
        state = DischargeState(
            age_years=(t - self.birth) / YEAR,
            charlson=self._charlson_at(t),
            prior_admissions_12m=prior,
            los_days=(t - stay.start) / DAY,
            ed_admission=stay.ed,
            icu_stay=stay.icu,
            creatinine_mg_dl=self._lab_true("creatinine", t, stay, 1.0),
            hemoglobin_g_dl=self._lab_true("hemoglobin", t, stay, 1.0),
            sodium_mmol_l=self._lab_true("sodium", t, stay, 1.0),
            disposition=stay.disposition,
            active_medications=self._active_meds_at(t),
        )
        p = true_readmission_probability(state)
        zone = stay.org.zone
        row: list[Any] = [None] * len(GROUND_TRUTH_COLUMNS)
        row[0] = stay.segs[0].id
        row[1] = self.pid
        row[2] = [s.id for s in stay.segs]
        row[3] = stay.segs[0].id
        row[4] = stay.segs[-1].id
        row[5] = fmt(stay.start, zone)
        row[6] = fmt(t, zone)
        row[_GT_DISCHARGE_UTC] = t
        row[_GT_PROBABILITY] = p
        row[_GT_READMITTED] = 0
        row[_GT_DAYS_TO_READMISSION] = None
        row[_GT_READMISSION_ENCOUNTER] = None
        row[_GT_FOLLOWUP] = t + 30 * DAY <= self.rt.end_utc
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
        self.gt_rows.append(row)
        return row

    # ------------------------------------------------------------------------------------------- death
    def _death(self) -> None:
        rng, rt = self.rng, self.rt
        self.death: int | None = None
        self.death_zone = self.hospital.zone
        if self.stays and self.stays[-1].died:
            self.death = self.stays[-1].discharge
            self.death_zone = self.stays[-1].org.zone
            return
        if (self.stays and self.stays[-1].in_progress) or self.readmission_censored:
            return
        age = self.age_end
        ch = min(self._charlson_at(rt.end_utc), 10)
        h = math.exp(-5.6 + 0.075 * (age - 60.0) + 0.28 * ch + 0.4 * self.frailty)  # per year
        if self.stays:
            t0 = self.stays[-1].discharge
            h_post = max(5.0 * h, 11.0 if self.stays[-1].disposition == "hosp" else 0.0)
        else:
            t0 = max(rt.window_start, self.birth)
            h_post = h
        window = 30.0 / 365.2425
        u = rng.expovariate(1.0)
        if u < h_post * window:
            t = t0 + int(u / h_post * YEAR) + HOUR
        else:
            t = t0 + int((window + (u - h_post * window) / h) * YEAR)
        if t < rt.end_utc:
            self.death = t

    # ------------------------------------------------------------------------------------------ visits
    def _visits(self) -> list[Visit]:
        rng, rt = self.rng, self.rt
        end = rt.end_utc
        start = max(rt.window_start, self.birth)
        visits: list[Visit] = []
        adult = self.age_end >= 18
        # Diagnosis visits, at onset (also before the simulated window: the patient's recorded history).
        for key, onset, variant in self.conds:
            if any(item[0] == key for stay in self.stays for item in stay.acquired):
                continue
            visits.append(Visit("problem", onset, [(key, onset, variant)]))
        years = rt.config.history_years
        p_check = 0.8 if not adult else 0.55 + (0.15 if self.age_end > 65 else 0.0)
        for k in range(years + 1):
            t = start + int((k + rng.random()) * YEAR)
            if rng.random() < p_check and t < end:
                visits.append(Visit("checkup", t))
        for kind, rate in (
            ("symptom", 0.3),
            ("ed", 0.07 * math.exp(0.4 * self.frailty) * (1.3 if self.age_end > 75 else 1.0)),
        ):
            t = start
            while True:
                t += int(rng.expovariate(rate) * YEAR) + 1
                if t >= end:
                    break
                visits.append(Visit(kind, t))
        for t in self.followups:
            visits.append(Visit("followup", t))

        zone = self.clinic.zone
        kept: list[Visit] = []
        spans = [(s.start - 12 * HOUR, s.discharge + 12 * HOUR, s) for s in self.stays]
        limit = min(end, self.death) if self.death is not None else end
        for v in visits:
            if v.kind != "ed":
                v.start = self._weekday_daytime(v.start, zone)
            v_end = v.start + 8 * HOUR  # margin: a visit never ends later than this
            clash = next((s for lo, hi, s in spans if v.start < hi and v_end > lo), None)
            if clash is not None:
                # Too close to a hospital stay: a diagnosis due then is recorded during the stay instead.
                if v.kind == "problem":
                    clash.extra_conditions.extend(v.conds)
                continue
            if v.start < self.birth or v_end >= limit:
                continue
            kept.append(v)
        return kept

    def _weekday_daytime(self, t: int, zone: Zone) -> int:
        out = self._daytime(t, zone, 8.0, 16.5)
        local_day = zone.local_seconds(out) // DAY
        weekday = (local_day + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
        if weekday >= 5:
            out += (7 - weekday) * DAY
        return out

    # ====================================================================================== FHIR writing
    def _emit(self, rtype: str, resource: dict[str, Any]) -> None:
        self.out[rtype].append(orjson.dumps(resource))

    def _miss(self, scale: float = 1.0) -> bool:
        m = self.rt.missing
        return m > 0.0 and self.mrng.random() < m * scale

    def _emit_patient(self) -> None:
        miss = self._miss
        ext: list[dict[str, Any]] = []
        if not miss():
            race_ext = [
                {"url": "ombCategory", "valueCoding": {"system": r[0], "code": r[1], "display": r[2]}}
                for r in self.race
            ]
            race_ext.append({"url": "text", "valueString": self.race_text})
            ext.append({"url": V.EXT_RACE, "extension": race_ext})
        if not miss():
            e = self.ethnicity
            ext.append(
                {
                    "url": V.EXT_ETHNICITY,
                    "extension": [
                        {"url": "ombCategory", "valueCoding": {"system": e[0], "code": e[1], "display": e[2]}},
                        {"url": "text", "valueString": e[2]},
                    ],
                }
            )
        ext.append({"url": V.EXT_MAIDEN, "valueString": self.mother_maiden})
        sex_code = {"female": "F", "male": "M"}.get(self.gender, "UNK")
        ext.append({"url": V.EXT_BIRTHSEX, "valueCode": sex_code})
        ext.append({"url": V.EXT_BIRTHPLACE, "valueAddress": self.birthplace})

        identifiers: list[dict[str, Any]] = [
            {"system": V.SYNTHEA_ID_SYSTEM, "value": self.pid},
            {"type": V.ID_TYPE_MR, "system": V.MRN_SYSTEM, "value": self.mrn},
            {"type": V.ID_TYPE_SS, "system": V.US_SSN, "value": self.ssn},
        ]
        if self.dl:
            identifiers.append(
                {
                    "type": V.ID_TYPE_DL,
                    "system": f"urn:oid:2.16.840.1.113883.4.3.{int(self.place.fips)}",
                    "value": self.dl,
                }
            )
        if self.passport:
            identifiers.append(
                {
                    "type": V.ID_TYPE_PPN,
                    "system": "http://standardhealthrecord.org/fhir/StructureDefinition/passportNumber",
                    "value": self.passport,
                }
            )
        official: dict[str, Any] = {"use": "official", "family": self.family, "given": [self.given]}
        if self.middle:
            official["given"].append(self.middle)
        if self.prefix:
            official["prefix"] = [self.prefix]
        if self.suffix:
            official["suffix"] = [self.suffix]
        names = [official]
        if self.maiden:
            names.append({"use": "maiden", "family": self.maiden, "given": [self.given]})
        if self.nickname:
            names.append({"use": "nickname", "given": [self.nickname]})
        telecom = [{"system": "phone", "value": self.phone, "use": "home"}]
        if self.mobile:
            telecom.append({"system": "phone", "value": self.mobile, "use": "mobile"})
        if self.email:
            telecom.append({"system": "email", "value": self.email, "use": "home"})

        address: dict[str, Any] = {}
        if not miss():
            address["extension"] = [
                {
                    "url": V.EXT_GEOLOCATION,
                    "extension": [
                        {"url": "latitude", "valueDecimal": self.lat},
                        {"url": "longitude", "valueDecimal": self.lon},
                    ],
                }
            ]
        address["line"] = [self.line, self.line2] if self.line2 else [self.line]
        address["city"] = self.place.city
        address["state"] = self.place.state
        address["postalCode"] = self.zip
        address["country"] = "US"

        res: dict[str, Any] = {"resourceType": "Patient", "id": self.pid, "extension": ext, "identifier": identifiers}
        res["name"] = names
        if not miss():
            res["telecom"] = telecom
        res["gender"] = self.gender
        res["birthDate"] = date_string(self.birth // DAY)
        if self.death is not None:
            res["deceasedDateTime"] = fmt(self.death, self.death_zone)
        res["address"] = [address]
        if not miss() and self.age_end >= 18:
            res["maritalStatus"] = V.MARITAL[self.marital]
        if self.multiple_birth:
            res["multipleBirthInteger"] = 2
        else:
            res["multipleBirthBoolean"] = False
        if not miss():
            res["communication"] = [V.LANGUAGES[self.language]]
        self._emit("Patient", res)

    # ------------------------------------------------------------------------------------- encounters
    def _emit_encounter(self, seg: Seg) -> None:
        miss = self._miss
        zone = seg.org.zone
        s = fmt(seg.start, zone)
        period = {"start": s} if seg.in_progress else {"start": s, "end": fmt(seg.end, zone)}
        res: dict[str, Any] = {
            "resourceType": "Encounter",
            "id": seg.id,
            "status": "in-progress" if seg.in_progress else "finished",
            "class": V.CLASS_IMP if seg.cls == "IMP" else V.CLASS_EMER if seg.cls == "EMER" else V.CLASS_AMB,
            "type": [seg.type],
            "subject": {"reference": self.subject["reference"], "display": self.display},
        }
        if not miss(0.5):
            res["participant"] = [
                {
                    "type": V.PARTICIPANT_ATND if seg.cls == "IMP" else V.PARTICIPANT_PPRF,
                    "period": period,
                    "individual": seg.prac.ref,
                }
            ]
        res["period"] = period
        if seg.reason is not None and not miss():
            res["reasonCode"] = [seg.reason]
        hosp: dict[str, Any] = {}
        if seg.admit_source and not miss():
            hosp["admitSource"] = V.ADMIT_SOURCES[seg.admit_source]
        if seg.disposition is not None and not miss(0.5):
            hosp["dischargeDisposition"] = seg.disposition
        if hosp:
            res["hospitalization"] = hosp
        res["serviceProvider"] = seg.org.ref_bare if miss() else seg.org.ref
        if seg.part_of:
            res["partOf"] = {"reference": f"Encounter/{seg.part_of}"}
        self._emit("Encounter", res)

    # ------------------------------------------------------------------------------------- conditions
    def _emit_condition(
        self,
        dxc: V.DxConcepts,
        seg: Seg,
        onset: int,
        recorded: int,
        abatement: int | None,
        problem_list: bool,
    ) -> str:
        miss = self._miss
        zone = seg.org.zone
        cid = self.ids.next()
        if abatement is not None and abatement >= self.rt.end_utc:
            abatement = None  # resolves after the export
        if self.rt.icd10_dropped:
            code = dxc.snomed_only
        else:
            code = dxc.both_icd_first if seg.org.icd_first else dxc.both
        res: dict[str, Any] = {
            "resourceType": "Condition",
            "id": cid,
            "clinicalStatus": V.CLINICAL_RESOLVED if abatement is not None else V.CLINICAL_ACTIVE,
        }
        if not miss():
            res["verificationStatus"] = V.VERIFICATION_CONFIRMED
        if not miss():
            res["category"] = V.CATEGORY_PROBLEM_LIST if problem_list else V.CATEGORY_ENCOUNTER_DX
        res["code"] = code
        res["subject"] = self.subject
        res["encounter"] = seg.ref
        if not miss(0.5):
            res["onsetDateTime"] = fmt(onset, zone)
        if abatement is not None:
            res["abatementDateTime"] = fmt(abatement, zone)
        if not miss():
            res["recordedDate"] = fmt(recorded, zone)
        self._emit("Condition", res)
        return cid

    # ------------------------------------------------------------------------------------ medications
    def _emit_med(self, med: str, seg: Seg, authored: int, active: bool, reason_cid: str | None) -> None:
        miss, rng = self._miss, self.rng
        res: dict[str, Any] = {
            "resourceType": "MedicationRequest",
            "id": self.ids.next(),
            "status": "active" if active else "stopped",
            "intent": "order",
            "medicationCodeableConcept": V.MED_CONCEPTS[med],
            "subject": self.subject,
            "encounter": seg.ref,
            "authoredOn": fmt(authored, seg.org.zone),
        }
        if not miss():
            res["requester"] = seg.prac.ref
        if reason_cid is not None and not miss():
            res["reasonReference"] = [{"reference": f"Condition/{reason_cid}"}]
        if rng.random() < 0.6 and not miss():
            res["dosageInstruction"] = [{"sequence": 1, "text": V.MEDS[med].sig}]
        self._emit("MedicationRequest", res)

    # ------------------------------------------------------------------------------------- procedures
    def _emit_procedure(self, key: str, seg: Seg, start: int, minutes: int) -> None:
        zone = seg.org.zone
        res: dict[str, Any] = {
            "resourceType": "Procedure",
            "id": self.ids.next(),
            "status": "completed",
            "code": V.PROCEDURES[key],
            "subject": self.subject,
            "encounter": seg.ref,
        }
        if self.rng.random() < 0.2:
            res["performedDateTime"] = fmt(start, zone)
        else:
            res["performedPeriod"] = {"start": fmt(start, zone), "end": fmt(start + minutes * MINUTE, zone)}
        self._emit("Procedure", res)

    # ----------------------------------------------------------------------------------- observations
    def _observation(
        self, category: list[Any], code: dict[str, Any], seg: Seg, t: int, issued_delay: int
    ) -> dict[str, Any]:
        miss = self._miss
        zone = seg.org.zone
        res: dict[str, Any] = {"resourceType": "Observation", "id": self.ids.next(), "status": "final"}
        if not miss(0.5):
            res["category"] = category
        res["code"] = code
        res["subject"] = self.subject
        if not miss(0.25):
            res["encounter"] = seg.ref
        res["effectiveDateTime"] = fmt(t, zone)
        millis = int(self.rng.random() * 1000)  # drawn whether or not "issued" is then left out
        if not miss():
            res["issued"] = fmt_ms(t + issued_delay, millis, zone)
        return res

    def _measured(self, key: str, true_value: float) -> float:
        kind, size = _NOISE.get(key, ("sd", 0.0))
        if kind == "cv":
            v = true_value * (1.0 + self.rng.gauss(0.0, size))
        else:
            v = true_value + self.rng.gauss(0.0, size)
        lo, hi = _LIMITS.get(key, (-1e9, 1e9))
        return min(max(v, lo), hi)

    def _emit_lab(self, key: str, true_value: float, seg: Seg, t: int) -> None:
        rng, rt = self.rng, self.rt
        value = self._measured(key, true_value)
        mkey = key
        org = seg.org
        if key == "creatinine":
            value = max(0.05, value + rt.creatinine_shift)
            if org.creatinine_si or rng.random() < 0.02:
                mkey, value = "creatinine_si", value * _SI_CREATININE
        elif key == "glucose" and (org.glucose_si or rng.random() < 0.02):
            mkey, value = "glucose_si", value / _SI_GLUCOSE
        m = V.MEASURES[mkey]
        res = self._observation(V.CATEGORY_LAB, V.MEASURE_CODES[mkey], seg, t, 20 * MINUTE + int(rng.random() * 13_200))
        res["valueQuantity"] = {"value": _round(value, m.decimals), "unit": m.unit, "system": V.UCUM, "code": m.unit}
        if rng.random() < 0.003:
            res["note"] = [{"text": self._phi_text()}]
        self._emit("Observation", res)

    def _emit_vital(self, key: str, true_value: float, seg: Seg, t: int, noisy: bool = True) -> None:
        rng = self.rng
        value = self._measured(key, true_value) if noisy else true_value
        mkey = key
        if key == "temperature" and (seg.org.temperature_f or rng.random() < 0.02):
            mkey, value = "temperature_f", value * 9.0 / 5.0 + 32.0
        m = V.MEASURES[mkey]
        code = V.SPO2_US_CORE_CODE if key == "spo2" and not seg.org.spo2_single_code else V.MEASURE_CODES[mkey]
        res = self._observation(V.CATEGORY_VITALS, code, seg, t, int(rng.random() * 30 * MINUTE))
        res["valueQuantity"] = {"value": _round(value, m.decimals), "unit": m.unit, "system": V.UCUM, "code": m.unit}
        self._emit("Observation", res)

    def _emit_bp_panel(self, systolic: float, diastolic: float, seg: Seg, t: int) -> None:
        s = round(self._measured("systolic", systolic))
        d = round(min(self._measured("diastolic", diastolic), s - 10))
        res = self._observation(V.CATEGORY_VITALS, V.BP_PANEL_CODE, seg, t, self.rng.randint(0, 30 * MINUTE))
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
        self._emit("Observation", res)

    def _emit_comment(self, seg: Seg, t: int) -> None:
        res = self._observation(V.CATEGORY_LAB, V.SERVICE_COMMENT_CODE, seg, t, self.rng.randint(0, 2 * HOUR))
        res["valueString"] = self._phi_text()
        self._emit("Observation", res)

    def _phi_text(self) -> str:
        rng = self.rng
        template = _PHI_NOTES[rng.randrange(len(_PHI_NOTES))]
        return template.format(
            name=self.full_name,
            phone=self.phone,
            mrn=self.mrn,
            relative=f"{rng.choice(people.FEMALE_GIVEN)} {self.family}",
            dob=date_string(self.birth // DAY),
            line=self.line,
            city=self.place.city,
        )

    def _vitals_set(self, seg: Seg, t: int, values: dict[str, float], panel: bool, extra: tuple[str, ...] = ()) -> None:
        self._emit_vital("heart_rate", values["heart_rate"], seg, t)
        if panel:
            self._emit_bp_panel(values["systolic"], values["diastolic"], seg, t)
        else:
            s = self._measured("systolic", values["systolic"])
            d = min(self._measured("diastolic", values["diastolic"]), s - 10)
            self._emit_vital("systolic", s, seg, t, noisy=False)
            self._emit_vital("diastolic", d, seg, t, noisy=False)
        self._emit_vital("respiratory_rate", values["respiratory_rate"], seg, t)
        for key in extra:
            self._emit_vital(key, values[key], seg, t)

    def _baseline_values(self, t: int, keys: tuple[str, ...]) -> dict[str, float]:
        return {k: self._baseline(k, t) for k in keys}

    # ------------------------------------------------------------------------------------ the timeline
    def _emit_timeline(self, visits: list[Visit]) -> None:
        items: list[tuple[int, int, Any]] = [(v.start, 0, v) for v in visits]
        items += [(s.start, 1, s) for s in self.stays]
        items.sort(key=lambda x: (x[0], x[1]))
        for _, kind, item in items:
            if kind == 1:
                self._emit_stay(item)
            else:
                self._emit_visit(item)

    def _med_active(self) -> bool:
        """A long-term prescription's status at export: stopped for the dead, and for some others."""
        return self.death is None and self.rng.random() >= 0.08

    def _emit_visit(self, v: Visit) -> None:
        rng = self.rng
        t = v.start
        vital_keys = ("heart_rate", "systolic", "diastolic", "respiratory_rate", "temperature", "spo2")
        if v.kind == "ed":
            org = self._pick_hospital()
            dur = int(min(max(rng.lognormvariate(math.log(3.5 * HOUR), 0.4), 1.2 * HOUR), 8 * HOUR))
            r = rng.random()
            reason = ("chest_pain" if r < 0.25 else "syncope" if r < 0.35 else "ankle_sprain" if r < 0.5
                      else "laceration" if r < 0.62 else "back_pain" if r < 0.75 else "bronchitis" if r < 0.87
                      else "dehydration")  # fmt: skip
            seg = Seg(
                self.ids.next(), "EMER", V.ENC_ED, t, t + dur, org, self._prac(org), reason=V.ACUTE[reason].reason
            )
            seg.ref = {"reference": f"Encounter/{seg.id}"}
            seg.disposition = V.DISPOSITIONS["aadvice" if rng.random() < 0.03 else "home"]
            self._emit_encounter(seg)
            cid = self._emit_condition(V.ACUTE[reason], seg, t - rng.randint(1, 48) * HOUR, t + 30 * MINUTE,
                                       t + rng.randint(2, 20) * DAY, False)  # fmt: skip
            vals = self._baseline_values(t, vital_keys)
            if reason == "dehydration":
                vals["heart_rate"] += 12
            self._vitals_set(seg, t + rng.randint(5, 20) * MINUTE, vals, True, ("temperature", "spo2"))
            if rng.random() < 0.45:
                tl = t + rng.randint(20, 60) * MINUTE
                for key in V.BMP + V.CBC:
                    self._emit_lab(key, self._baseline(key, tl), seg, tl)
            proc = {
                "chest_pain": "ecg",
                "syncope": "ecg",
                "laceration": "suture",
                "ankle_sprain": "immobilization",
            }.get(reason)
            if proc:
                self._emit_procedure(proc, seg, t + rng.randint(15, 90) * MINUTE, rng.randint(10, 40))
            if rng.random() < 0.5:
                self._emit_med(rng.choice(("ibuprofen", "acetaminophen")), seg, t + dur - 20 * MINUTE, False, cid)
            return

        org = self.clinic
        dur = rng.randint(15, 45) * MINUTE
        etype = {"checkup": V.ENC_CHECKUP, "symptom": V.ENC_SYMPTOM, "problem": V.ENC_PROBLEM,
                 "followup": V.ENC_FOLLOWUP}[v.kind]  # fmt: skip
        seg = Seg(self.ids.next(), "AMB", etype, t, t + dur, org, self._prac(org))
        seg.ref = {"reference": f"Encounter/{seg.id}"}
        minor = None
        if v.kind == "symptom":
            minor = rng.choice(("sinusitis", "pharyngitis", "bronchitis", "back_pain", "ankle_sprain"))
            seg.reason = V.ACUTE[minor].reason
        elif v.kind == "problem" and v.conds:
            key, _, variant = v.conds[0]
            seg.reason = V.CHRONIC_VARIANTS[key][variant].reason
        self._emit_encounter(seg)
        tv = t + rng.randint(2, 10) * MINUTE
        vals = self._baseline_values(t, vital_keys)
        adult = (t - self.birth) / YEAR >= 18
        if v.kind == "checkup":
            if not adult or rng.random() < 0.5:
                self._emit_vital("height", self.height, seg, tv)
            self._emit_vital("weight", self.weight, seg, tv)
            if adult:
                self._emit_vital("bmi", self.bmi, seg, tv)
            extra = tuple(k for k, p in (("temperature", 0.35), ("spo2", 0.3)) if rng.random() < p)
            self._vitals_set(seg, tv, vals, True, extra)
            self._clinic_labs(seg, t, 0.35, 0.25)
        elif v.kind == "symptom":
            if minor in ("sinusitis", "pharyngitis", "bronchitis"):
                vals["temperature"] += rng.uniform(0.0, 1.3)
            self._vitals_set(seg, tv, vals, True, ("temperature",))
            cid = self._emit_condition(
                V.ACUTE[minor], seg, t - rng.randint(1, 5) * DAY, t, t + rng.randint(7, 21) * DAY, False
            )
            if rng.random() < 0.5:
                med = (
                    "amoxicillin"
                    if minor in ("sinusitis", "pharyngitis") and rng.random() < 0.5
                    else rng.choice(("ibuprofen", "acetaminophen", "naproxen"))
                )
                self._emit_med(med, seg, t + dur - 5 * MINUTE, False, cid)
        elif v.kind == "followup":
            self._vitals_set(seg, tv, vals, True)
            if rng.random() < 0.6:
                self._emit_vital("weight", self.weight, seg, tv)
            self._clinic_labs(seg, t, 0.45, 0.3)
            if rng.random() < 0.5:
                self._emit_procedure("medrec", seg, t + 5 * MINUTE, 15)
        else:  # problem: the diagnosis of chronic conditions
            self._emit_bp_panel(vals["systolic"], vals["diastolic"], seg, tv)
            self._emit_vital("heart_rate", vals["heart_rate"], seg, tv)
            for key, onset, variant in v.conds:
                cid = self._emit_condition(V.CHRONIC_VARIANTS[key][variant], seg, onset, t, None, True)
                self._diagnostic_labs(key, seg, t)
                for med, start, cond in self.meds:
                    if cond == key and start == onset:
                        self._emit_med(med, seg, t + dur - 5 * MINUTE, self._med_active(), cid)
                if key in ("copd", "asthma") and rng.random() < 0.6:
                    self._emit_procedure("spirometry", seg, t + 10 * MINUTE, 20)
                if key in ("afib", "cad") and rng.random() < 0.6:
                    self._emit_procedure("ecg", seg, t + 10 * MINUTE, 10)

    def _clinic_labs(self, seg: Seg, t: int, p_bmp: float, p_cbc: float) -> None:
        rng = self.rng
        tl = t + rng.randint(10, 40) * MINUTE
        if rng.random() < p_bmp:
            for key in V.BMP:
                self._emit_lab(key, self._baseline(key, tl), seg, tl)
        if rng.random() < p_cbc:
            for key in V.CBC:
                self._emit_lab(key, self._baseline(key, tl), seg, tl)
        liver = self._has("liver_mild", t) or self._has("liver_severe", t)
        if rng.random() < (0.5 if liver else 0.1):
            for key in V.LFT:
                self._emit_lab(key, self._baseline(key, tl), seg, tl)
        if rng.random() < (0.7 if self._has("dm", t) else 0.08):
            self._emit_lab("hba1c", self._baseline("hba1c", tl), seg, tl)

    def _diagnostic_labs(self, key: str, seg: Seg, t: int) -> None:
        keys = {
            "dm": ("hba1c", "glucose"), "dm_comp": ("hba1c", "glucose", "creatinine"),
            "renal": ("creatinine", "bun", "potassium"), "anemia": ("hemoglobin",),
            "chf": ("sodium", "bun", "creatinine"),
            "liver_mild": ("alt", "ast"), "liver_severe": ("alt", "ast", "platelets"),
        }.get(key, ())  # fmt: skip
        tl = t + 20 * MINUTE
        for k in keys:
            self._emit_lab(k, self._baseline(k, tl), seg, tl)

    # -------------------------------------------------------------------------------------------- stays
    def _seg_at(self, stay: Stay, t: int) -> Seg:
        for seg in reversed(stay.segs):
            if seg.start <= t:
                return seg
        return stay.segs[0]

    def _emit_stay(self, stay: Stay) -> None:
        rng, rt = self.rng, self.rt
        end = rt.end_utc
        for seg in stay.segs:
            self._emit_encounter(seg)
        first_imp = next((s for s in stay.segs if s.cls == "IMP"), stay.segs[0])
        zone = stay.org.zone
        start, discharge = stay.start, stay.discharge
        span = max(discharge - start, 1)
        horizon = min(discharge, end - 1)

        # Diagnoses: the reason, comorbidities coded again on this stay, new chronic conditions.
        abate = None if stay.died or stay.in_progress else discharge
        reason = stay.reason
        if reason in V.ACUTE and reason != "hip_oa":
            reason_cid = self._emit_condition(V.ACUTE[reason], first_imp, start - rng.randint(0, 36) * HOUR,
                                              first_imp.start, abate, False)  # fmt: skip
        else:
            key = {"chemo": "cancer", "pci": "cad"}.get(reason, "osteoarthritis")
            variant = next((v for k, _, v in self.conds if k == key), 0)
            dxc = V.CHRONIC_VARIANTS[key][variant] if reason != "hip_oa" else V.ACUTE["hip_oa"]
            reason_cid = self._emit_condition(
                dxc, first_imp, start - rng.randint(30, 900) * DAY, first_imp.start, None, False
            )
        for key, onset, variant in self.conds:
            if onset <= start and key not in ("obesity",) and rng.random() < 0.25:
                self._emit_condition(V.CHRONIC_VARIANTS[key][variant], first_imp, onset, first_imp.start, None, False)
        for key, onset, variant in stay.acquired + stay.extra_conditions:
            cid = self._emit_condition(V.CHRONIC_VARIANTS[key][variant], first_imp, onset, first_imp.start, None, True)
            for med, mstart, cond in self.meds:
                if cond == key and mstart == onset and mstart < end:
                    self._emit_med(med, first_imp, min(max(mstart, first_imp.start), horizon), self._med_active(), cid)

        # Vital signs: on arrival, then once a day (every other day in long stays).
        vital_keys = ("heart_rate", "systolic", "diastolic", "respiratory_rate", "temperature", "spo2")

        def vitals_at(t: int) -> dict[str, float]:
            x = (t - start) / span
            return {k: self._lab_true(k, t, stay, x) for k in vital_keys}

        t = start + rng.randint(5, 20) * MINUTE
        if t < end:
            seg = self._seg_at(stay, t)
            self._vitals_set(seg, t, vitals_at(t), seg.cls == "EMER", ("temperature", "spo2"))
            if rng.random() < 0.5:
                self._emit_vital("weight", self.weight + (3.0 if reason == "chf_exac" else 0.0), seg, t)
        step = DAY if span < 10 * DAY else 2 * DAY
        t = self._daytime(first_imp.start + 6 * HOUR, zone, 7.5, 9.5)
        while t < horizon:
            seg = self._seg_at(stay, t)
            self._vitals_set(seg, t, vitals_at(t), False, ("temperature", "spo2"))
            t += step + rng.randint(-30, 30) * MINUTE

        # Laboratory draws: on admission, early mornings, and on the day of discharge.
        draws: list[tuple[int, float, float]] = []  # (time, p BMP, p CBC)
        draws.append((start + rng.randint(20, 90) * MINUTE, 0.95, 0.9))
        t = self._daytime(start + 8 * HOUR, zone, 5.0, 6.5)
        last_morning = self._daytime(discharge - 14 * HOUR, zone, 5.0, 6.5) if not stay.died else discharge
        while t < discharge - 2 * HOUR and t < last_morning - 20 * HOUR:
            draws.append((t, 0.55, 0.45))
            t = self._daytime(t + (DAY if span < 10 * DAY else 2 * DAY) - 2 * HOUR, zone, 5.0, 6.5)
        if not stay.died and last_morning < discharge and last_morning > draws[-1][0] + 6 * HOUR:
            draws.append((last_morning, 0.75, 0.6))
        liver = self._has("liver_mild", start) or self._has("liver_severe", start)
        diabetic = self._has("dm", start)
        for i, (t, p_bmp, p_cbc) in enumerate(draws):
            if t >= end:
                break
            seg = self._seg_at(stay, t)
            x = (t - start) / span
            if rng.random() < p_bmp:
                for key in V.BMP:
                    self._emit_lab(key, self._lab_true(key, t, stay, x), seg, t)
            if rng.random() < p_cbc:
                for key in V.CBC:
                    self._emit_lab(key, self._lab_true(key, t, stay, x), seg, t)
            if i == 0 and rng.random() < (0.8 if liver else 0.35):
                for key in V.LFT:
                    self._emit_lab(key, self._lab_true(key, t, stay, x), seg, t)
            if i == 0 and diabetic and rng.random() < 0.35:
                self._emit_lab("hba1c", self._baseline("hba1c", t), seg, t)
        if rng.random() < 0.06:
            t = start + int(span * rng.random())
            if t < end:
                self._emit_comment(self._seg_at(stay, t), t)

        # Procedures.
        def proc(key: str, p: float, lo: float, hi: float, minutes: int) -> None:
            if rng.random() < p:
                t = start + int(span * rng.uniform(lo, hi))
                if t + minutes * MINUTE < end:
                    self._emit_procedure(key, self._seg_at(stay, t), t, minutes)

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
        if self.renal_stage == 2 and self._has("renal", start):
            t = start + 6 * HOUR
            for _ in range(min(5, int(span / (2 * DAY)) + 1)):
                if t + 4 * HOUR < horizon:
                    self._emit_procedure("dialysis", self._seg_at(stay, t), t, 240)
                t += 2 * DAY
        if not stay.died and not stay.in_progress and rng.random() < 0.6:
            self._emit_procedure("medrec", stay.segs[-1], discharge - rng.randint(30, 180) * MINUTE, 20)

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
                self._emit_med(med, first_imp, t, False, reason_cid)
        if reason == "stroke" and stay.ed and rng.random() < 0.25:
            self._emit_med("alteplase", stay.segs[0], stay.segs[0].start + 40 * MINUTE, False, reason_cid)
        if not stay.died and not stay.in_progress:
            last = stay.segs[-1]
            oral = {"pneumonia": "amoxicillin_clavulanate", "cellulitis": "amoxicillin_clavulanate",
                    "uti": "nitrofurantoin" if rng.random() < 0.3 else "cefuroxime"}.get(reason)  # fmt: skip
            if oral:
                self._emit_med(oral, last, discharge - rng.randint(30, 120) * MINUTE,
                               discharge + 14 * DAY > end and self.death is None, reason_cid)  # fmt: skip
            for med in stay.new_meds:
                self._emit_med(med, last, discharge - 2 * HOUR, self._med_active(), reason_cid)

    # -------------------------------------------------------------------------------------------- finish
    def _finish(self) -> PatientResult:
        rt = self.rt
        counts: dict[str, int] = {}
        dups = bad = 0
        lines = self.out
        for rtype in RESOURCE_TYPES:
            block = lines[rtype]
            counts[rtype] = len(block)
            messy, d, b = add_mess(block, self.mrng, rt.duplicate, rt.malformed)
            lines[rtype] = messy
            dups += d
            bad += b
        rows = [tuple(r) for r in self.gt_rows]
        return PatientResult(lines, counts, dups, bad, rows, self.death is not None)


def _round(value: float, decimals: int) -> float | int:
    if decimals == 0:
        return int(round(value))
    return round(value, decimals)


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
_GT_DISCHARGE_UTC = 7
_GT_PROBABILITY = 8
_GT_READMITTED = 9
_GT_DAYS_TO_READMISSION = 10
_GT_READMISSION_ENCOUNTER = 11
_GT_FOLLOWUP = 12


def simulate_patient(rt: Runtime, index: int) -> PatientResult:
    """All resources and ground-truth rows of patient ``index`` (0-based) of the run."""
    return PatientSim(rt, index).run()
