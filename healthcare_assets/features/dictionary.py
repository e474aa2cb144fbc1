"""The data dictionary: every column of the feature matrix and the training set, from the spec, in table order.

The feature SQL selects exactly these columns in this order, so the dictionary cannot drift from the data. Roles:
``key`` (identifies a row), ``label``, ``feature`` (a model input; the model's inputs are exactly these rows,
in this order), ``comparator`` (a baseline score, never an input), ``subgroup`` (for fairness and calibration
by group), ``meta`` (bookkeeping such as the label status).
"""

from __future__ import annotations

from dataclasses import dataclass

from healthcare_assets.features import comorbidities, encounter_codes, measurements, medication_codes
from healthcare_assets.features.spec import FeatureSpec

DICTIONARY_COLUMNS = ("name", "role", "dtype", "definition", "unit", "window", "source_codes")
ROLES = ("key", "label", "feature", "comparator", "subgroup", "meta")
SEXES = ("female", "male", "other", "unknown")
AGE_BANDS = ("<18", "18-44", "45-64", "65-74", "75-84", "85+", "unknown")
LABEL_STATUSES = ("observed", "pending", "censored")


@dataclass(frozen=True)
class ColumnDef:
    """One column; ``nullable``, ``lo``/``hi`` and ``allowed`` are what the pandera gate enforces."""

    name: str
    role: str
    dtype: str  # DuckDB type: VARCHAR, DOUBLE, INTEGER
    definition: str
    unit: str = ""
    window: str = ""
    source_codes: str = ""
    nullable: bool = True
    lo: float | None = None
    hi: float | None = None
    allowed: tuple[str, ...] = ()

    def row(self) -> tuple[str, ...]:
        return (self.name, self.role, self.dtype, self.definition, self.unit, self.window, self.source_codes)


def _flag(name: str, definition: str, window: str = "", codes: str = "") -> ColumnDef:
    return ColumnDef(name, "feature", "INTEGER", definition, "", window, codes, nullable=False, lo=0, hi=1)


def _count(name: str, definition: str, unit: str, window: str = "", codes: str = "", hi: float = 10_000) -> ColumnDef:
    return ColumnDef(name, "feature", "INTEGER", definition, unit, window, codes, nullable=False, lo=0, hi=hi)


def _utilization_window(days: int) -> str:
    return f"{days} days before admission"


def feature_columns(spec: FeatureSpec) -> list[ColumnDef]:
    """The model inputs, in order."""
    cols: list[ColumnDef] = [
        ColumnDef(
            "age_at_admission",
            "feature",
            "DOUBLE",
            "Age in whole years at the stay's first encounter (capped at 90 by de-identification).",
            "a",
            "at admission",
            lo=0,
            hi=90,
        ),
        ColumnDef(
            "sex_male",
            "feature",
            "INTEGER",
            "1 male, 0 female, NULL other or unknown (Patient.gender).",
            source_codes="administrative-gender",
            lo=0,
            hi=1,
        ),
    ]
    for c in comorbidities.COMORBIDITIES:
        codes = "ICD-10-CM " + ", ".join(c.icd10cm_prefixes) + "; SNOMED CT " + ", ".join(c.snomed)
        if c.icd10cm_excluded_prefixes:
            codes += "; not ICD-10-CM " + ", ".join(c.icd10cm_excluded_prefixes)
        weight = f" (Charlson weight {c.charlson_weight})" if c.charlson_weight else ""
        cols.append(
            _flag(
                f"cm_{c.key}",
                f"1 when {c.label} is recorded at or before discharge{weight}.",
                "all history to discharge",
                codes,
            )
        )
    hierarchy = "; ".join(f"{a} supersedes {b}" for a, b in comorbidities.CHARLSON_HIERARCHY)
    cols.append(
        _count(
            "charlson_index",
            f"Charlson comorbidity index of the cm_* Charlson categories ({hierarchy}).",
            "points",
            "all history to discharge",
            comorbidities.CHARLSON_SOURCE,
            hi=33,
        )
    )
    for days in spec.utilization_days:
        cols.append(
            _count(
                f"ed_visits_{days}d",
                "Emergency department encounters (EMER) that started before this stay's admission.",
                "visits",
                _utilization_window(days),
                "v3-ActCode EMER",
            )
        )
        cols.append(
            _count(
                f"inpatient_stays_{days}d",
                "Earlier merged inpatient stays discharged before this stay's admission.",
                "stays",
                _utilization_window(days),
                "v3-ActCode " + "/".join(encounter_codes.INPATIENT_CLASSES),
            )
        )
    cols += [
        ColumnDef(
            "los_days",
            "feature",
            "DOUBLE",
            "Length of the merged stay, first encounter's start (ED arrival included) to discharge.",
            "d",
            "index stay",
            nullable=False,
            lo=0,
            hi=36_525,  # a lifetime: real feeds have "inpatient" encounters lasting years (Synthea: 15)
        ),
        _flag(
            "admitted_via_ed",
            "1 when the stay began in the emergency department (first encounter EMER) or was "
            "admitted from it (admit source emd).",
            "index stay",
            "v3-ActCode EMER; admit-source emd",
        ),
        _flag(
            "emergent_admission",
            "1 when admitted via the ED or with an emergency admission encounter type.",
            "index stay",
            "SNOMED CT " + ", ".join(encounter_codes.EMERGENCY_ADMISSION_TYPES),
        ),
        _flag(
            "icu_stay",
            "1 when the stay includes an intensive care encounter.",
            "index stay",
            "SNOMED CT " + ", ".join(encounter_codes.ICU_TYPES),
        ),
        _count("encounters_in_stay", "Encounters merged into the stay.", "encounters", "index stay"),
    ]
    for category in encounter_codes.DISPOSITION_FEATURES:
        codes = [k for k, v in encounter_codes.DISPOSITION_CATEGORY.items() if v == category]
        cols.append(
            _flag(
                f"disposition_{category}",
                f"1 when the discharge disposition is {category.replace('_', ' ')} (reference: home).",
                "at discharge",
                "discharge-disposition/NUBC " + (", ".join(codes) or "none recorded"),
            )
        )
    lookback = (
        "all history to discharge"
        if spec.medication_lookback_days is None
        else f"{spec.medication_lookback_days:g} days to discharge"
    )
    cols.append(
        _count(
            "long_term_medications",
            "Distinct medications ordered at or before discharge, short "
            "courses and in-hospital drugs excluded (status at export is not used: it would tell what "
            "happened later).",
            "medications",
            lookback,
            "RxNorm; excluded: " + ", ".join(medication_codes.SHORT_COURSE_RXNORM),
        )
    )
    for threshold in spec.polypharmacy_thresholds:
        cols.append(_flag(f"polypharmacy_{threshold}", f"1 when long_term_medications >= {threshold}.", lookback))
    cols.append(
        _count(
            "procedures_in_stay",
            "Procedures performed during the stay, administrative ones (medication reconciliation) excluded.",
            "procedures",
            "index stay",
            "SNOMED CT; excluded 430193006",
        )
    )
    for key in spec.measurements:
        m = measurements.BY_KEY[key]
        for window in spec.windows:
            for stat in spec.stats:
                unit = f"{m.unit}/d" if stat == "trend" else m.unit
                what = {
                    "latest": "last value", "min": "lowest value", "max": "highest value", "mean": "mean",
                    "trend": "least-squares slope per day",
                }[stat]  # fmt: skip
                lo, hi = (None, None) if stat == "trend" else m.plausible
                cols.append(
                    ColumnDef(
                        f"{key}_{window.name}_{stat}",
                        "feature",
                        "DOUBLE",
                        f"{m.label}: {what}.",
                        unit,
                        window.describe(),
                        "LOINC " + ", ".join(m.loinc),
                        lo=lo,
                        hi=hi,
                    )
                )
            cols.append(
                _flag(
                    f"{key}_{window.name}_missing",
                    f"1 when no {m.label} value falls in the window.",
                    window.describe(),
                    "LOINC " + ", ".join(m.loinc),
                )
            )
    return cols


def key_columns() -> list[ColumnDef]:
    return [
        ColumnDef(
            "stay_id",
            "key",
            "VARCHAR",
            "Pseudonymous id of the encounter whose discharge is the index event (unique).",
            nullable=False,
        ),
        ColumnDef("patient_id", "key", "VARCHAR", "Pseudonymous patient id.", nullable=False),
        ColumnDef(
            "batch_id", "key", "VARCHAR", "Export batch in which the stay was first seen (finished).", nullable=False
        ),
        ColumnDef(
            "index_offset_h",
            "key",
            "DOUBLE",
            "Discharge time in hours since the patient's anchor.",
            "h",
            nullable=False,
            lo=0,
        ),
    ]


def label_column() -> ColumnDef:
    return ColumnDef(
        "label",
        "label",
        "INTEGER",
        "1 when the next inpatient stay is admitted within the horizon "
        "after discharge, 0 when follow-up is complete without one; NULL unless observed.",
        "",
        "discharge to discharge + horizon",
        lo=0,
        hi=1,
    )


def subgroup_and_comparator_columns() -> list[ColumnDef]:
    return [
        ColumnDef(
            "sex",
            "subgroup",
            "VARCHAR",
            "Patient.gender (female, male, other, unknown).",
            nullable=False,
            allowed=SEXES,
        ),
        ColumnDef(
            "age_band",
            "subgroup",
            "VARCHAR",
            "Age at admission: " + ", ".join(AGE_BANDS) + ".",
            nullable=False,
            allowed=AGE_BANDS,
        ),
        ColumnDef(
            "lace_score",
            "comparator",
            "DOUBLE",
            "LACE index (van Walraven 2010, CMAJ 182:551): L length of "
            "stay in whole days (<1: 0, 1: 1, 2: 2, 3: 3, 4-6: 4, 7-13: 5, >=14: 7), A emergent admission "
            "3, C Charlson index (0-3 as is, >=4: 5), E ED visits in the 182 days before admission (max 4). "
            "Range 0-19.",
            "points",
            nullable=False,
            lo=0,
            hi=19,
        ),
        ColumnDef(
            "hospital_score",
            "comparator",
            "DOUBLE",
            "HOSPITAL score (Donzé 2013, JAMA Intern Med 173:632): "
            "hemoglobin at discharge <12 g/dL 1, oncology 2 (proxy: active malignancy, no service is "
            "recorded), sodium at discharge <135 mmol/L 1, procedure during the stay 1, urgent admission 1, "
            "admissions in the previous 365 days (0-1: 0, 2-5: 2, >5: 5), length of stay >=5 days 2. "
            "Discharge labs are the stay's last values; missing counts as normal. Range 0-13.",
            "points",
            nullable=False,
            lo=0,
            hi=13,
        ),
    ]


def meta_columns() -> list[ColumnDef]:
    return [
        ColumnDef(
            "label_status",
            "meta",
            "VARCHAR",
            "observed | pending (follow-up incomplete) | censored (death within the horizon before any readmission).",
            nullable=False,
            allowed=LABEL_STATUSES,
        ),
        ColumnDef(
            "feature_spec",
            "meta",
            "VARCHAR",
            "Version of the feature and cohort definition that built the row.",
            nullable=False,
        ),
    ]


def matrix_columns(spec: FeatureSpec) -> list[ColumnDef]:
    """``feature_matrix``: keys, label status and label, subgroups, comparators, features, spec version."""
    meta = meta_columns()
    return [*key_columns(), meta[0], label_column(), *subgroup_and_comparator_columns(), *feature_columns(spec),
            meta[1]]  # fmt: skip


def training_columns(spec: FeatureSpec) -> list[ColumnDef]:
    """``training_set`` (the contract with training): keys, label, subgroups, comparators, then every feature."""
    return [*key_columns(), label_column(), *subgroup_and_comparator_columns(), *feature_columns(spec)]


def dictionary_rows(spec: FeatureSpec) -> list[tuple[str, ...]]:
    """One row per column of the feature matrix (a superset of the training set's), in matrix order."""
    return [c.row() for c in matrix_columns(spec)]
