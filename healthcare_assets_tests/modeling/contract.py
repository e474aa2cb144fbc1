"""A contract-shaped training set (``training_set``, ``train_test_split``, ``feature_dictionary``,
``synthetic_ground_truth``) built from the synthetic generator's ground truth, for tests and the quality
benchmark until the features stage is merged.

DEVELOPMENT PROXY ONLY: the "features" here are the generator's true covariates (with measurement noise and
missingness added to the labs), which the product must never use; the real features come from the
de-identified FHIR tables. Ids are hashed, so no original id reaches the warehouse even in a test.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson
import polars as pl

from healthcare_assets.synthetic import SyntheticConfig
from healthcare_assets.synthetic.ground_truth import GROUND_TRUTH_COLUMNS
from healthcare_assets.synthetic.patient import simulate_patient
from healthcare_assets.synthetic.runtime import Runtime
from healthcare_assets.synthetic.world import build_world
from healthcare_assets.warehouse import Warehouse

DISPOSITIONS = ("aadvice", "snf", "long", "alt-home", "psy", "rehab", "other-hcf", "hosp", "home", "oth")
# (name, unit, window, definition) of each proxy feature; a real dictionary adds source codes.
FEATURES = (
    ("age_years", "a", "at discharge", "age at discharge"),
    ("charlson", "points", "history to discharge", "Charlson comorbidity index"),
    ("prior_admissions_12m", "stays", "365 days before admission", "inpatient stays discharged before"),
    ("los_days", "d", "the stay", "length of stay"),
    ("ed_admission", "0/1", "the stay", "admitted through the emergency department"),
    ("icu_stay", "0/1", "the stay", "ICU during the stay"),
    ("creatinine_mg_dl", "mg/dL", "last before discharge", "creatinine"),
    ("hemoglobin_g_dl", "g/dL", "last before discharge", "hemoglobin"),
    ("sodium_mmol_l", "mmol/L", "last before discharge", "sodium"),
    ("active_medications", "count", "at discharge", "long-term medications"),
) + tuple((f"disposition_{d.replace('-', '_')}", "0/1", "at discharge", f"discharged to {d}") for d in DISPOSITIONS)
LAB_NOISE = {"creatinine_mg_dl": 0.1, "hemoglobin_g_dl": 0.4, "sodium_mmol_l": 1.5}
AGE_BANDS = ((0, "<45"), (45, "45-64"), (65, "65-79"), (80, "80+"))


def pseudonym(value: str) -> str:
    return hashlib.sha256(f"test-proxy:{value}".encode()).hexdigest()[:32]


def truth_frame(patients: int, seed: int, signal: float) -> pl.DataFrame:
    """The ground-truth rows of a synthetic cohort (simulated in this process, no files) plus each patient's
    gender, for index stays with complete follow-up."""
    config = SyntheticConfig(patients=patients, seed=seed, signal_strength=signal, workers=1)
    runtime = Runtime(config, build_world(seed))
    rows, genders = [], []
    for index in range(patients):
        result = simulate_patient(runtime, index)
        if not result.gt_rows:
            continue
        gender = "unknown"
        for line in result.lines["Patient"]:
            try:
                gender = orjson.loads(line).get("gender", "unknown")
                break
            except orjson.JSONDecodeError:
                continue
        rows += result.gt_rows
        genders += [gender] * len(result.gt_rows)
    frame = pl.DataFrame(
        [list(r) for r in rows], schema=list(GROUND_TRUTH_COLUMNS), orient="row", infer_schema_length=None
    ).with_columns(pl.Series("gender", genders))
    return frame.filter(pl.col("followup_complete"))


@dataclass(frozen=True)
class ContractInfo:
    stays: int
    test_stays: int
    events: int
    features: list[str]


def contract_tables(frame: pl.DataFrame, seed: int = 0, test_share: float = 0.25) -> dict[str, pl.DataFrame]:
    """training_set, train_test_split, feature_dictionary and synthetic_ground_truth as the contract shapes them."""
    rng = np.random.default_rng(seed)
    n = frame.height
    base = frame.select(
        pl.col("discharge_encounter_id").map_elements(pseudonym, return_dtype=pl.Utf8).alias("stay_id"),
        pl.col("patient_id").map_elements(pseudonym, return_dtype=pl.Utf8).alias("patient_id"),
        pl.lit("proxy-batch").alias("batch_id"),
        ((pl.col("discharge_epoch_s") - pl.col("discharge_epoch_s").min().over("patient_id")) / 3600.0).alias(
            "index_offset_h"
        ),
        pl.col("readmitted_30d").cast(pl.Int32).alias("label"),
        pl.col("gender").alias("sex"),
        pl.col("age_years"),
        pl.col("los_days"),
        pl.col("ed_admission"),
        pl.col("charlson"),
        pl.col("true_probability"),
    )
    band = pl.lit(AGE_BANDS[0][1])
    for lower, name in AGE_BANDS[1:]:
        band = pl.when(pl.col("age_years") >= lower).then(pl.lit(name)).otherwise(band)
    los_points = (
        pl.when(pl.col("los_days") < 1)
        .then(0)
        .when(pl.col("los_days") < 4)
        .then(pl.col("los_days").floor())
        .when(pl.col("los_days") < 7)
        .then(4)
        .when(pl.col("los_days") < 14)
        .then(5)
        .otherwise(7)
    )
    comorbidity = pl.when(pl.col("charlson") >= 4).then(5).otherwise(pl.col("charlson"))
    lace = (los_points + pl.col("ed_admission").cast(pl.Int32) * 3 + comorbidity).cast(pl.Float64)
    features = {
        "age_years": frame["age_years"].to_numpy(),
        "charlson": frame["charlson"].to_numpy().astype(float),
        "prior_admissions_12m": frame["prior_admissions_12m"].to_numpy().astype(float),
        "los_days": frame["los_days"].to_numpy(),
        "ed_admission": frame["ed_admission"].to_numpy().astype(float),
        "icu_stay": frame["icu_stay"].to_numpy().astype(float),
        "active_medications": frame["active_medications"].to_numpy().astype(float),
    }
    for lab, sd in LAB_NOISE.items():
        values = frame[lab].to_numpy() + rng.normal(0.0, sd, n)
        values[rng.random(n) < 0.1] = np.nan  # not drawn before discharge
        features[lab] = values
    disposition = frame["discharge_disposition"].to_numpy()
    for d in DISPOSITIONS:
        features[f"disposition_{d.replace('-', '_')}"] = (disposition == d).astype(float)
    names = [f[0] for f in FEATURES]
    training = base.select(
        "stay_id",
        "patient_id",
        "batch_id",
        "index_offset_h",
        "label",
        "sex",
        band.alias("age_band"),
        lace.alias("lace_score"),
        pl.lit(None, dtype=pl.Float64).alias("hospital_score"),
    ).with_columns(*(pl.Series(name, features[name]) for name in names))
    patients = training["patient_id"].unique().sort().to_numpy()
    test_patients = set(rng.choice(patients, size=int(round(len(patients) * test_share)), replace=False).tolist())
    split = training.select(
        "stay_id",
        "patient_id",
        pl.col("patient_id").map_elements(lambda p: "test" if p in test_patients else "train", return_dtype=pl.Utf8)
        .alias("split"),
    )  # fmt: skip
    dictionary = pl.DataFrame(
        [
            ("stay_id", "key", "VARCHAR", "pseudonym of the discharge encounter", None, None, None),
            ("patient_id", "key", "VARCHAR", "pseudonym of the patient", None, None, None),
            ("batch_id", "meta", "VARCHAR", "export batch where the stay was first seen", None, None, None),
            ("index_offset_h", "meta", "DOUBLE", "discharge time, hours since the patient's anchor", "h", None, None),
            ("label", "label", "INTEGER", "inpatient admission within 30 days after discharge", None, "30 d", None),
            ("sex", "subgroup", "VARCHAR", "administrative gender", None, None, None),
            ("age_band", "subgroup", "VARCHAR", "age at discharge, banded", "a", None, None),
            ("lace_score", "comparator", "DOUBLE", "LACE index (E = 0: proxy)", "points", None, None),
            ("hospital_score", "comparator", "DOUBLE", "HOSPITAL score (not computed by the proxy)", None, None, None),
            *(
                (name, "feature", "DOUBLE", definition, unit, window, None)
                for name, unit, window, definition in FEATURES
            ),
        ],
        schema=["name", "role", "dtype", "definition", "unit", "window", "source_codes"],
        orient="row",
    )
    truth = base.select(pl.col("batch_id"), "stay_id", "true_probability")
    return {
        "training_set": training,
        "train_test_split": split,
        "feature_dictionary": dictionary,
        "synthetic_ground_truth": truth,
    }


def write_contract(warehouse_path: Path, tables: dict[str, pl.DataFrame]) -> ContractInfo:
    warehouse = Warehouse(warehouse_path)
    with warehouse.connect() as con:
        for name, frame in tables.items():
            con.register("_frame", frame)
            con.execute(f'CREATE OR REPLACE TABLE "{name}" AS SELECT * FROM _frame')
            con.unregister("_frame")
    training, split = tables["training_set"], tables.get("train_test_split")
    return ContractInfo(
        stays=training.height,
        test_stays=int((split["split"] == "test").sum()) if split is not None else 0,
        events=int(training["label"].sum()),
        features=[f[0] for f in FEATURES],
    )
