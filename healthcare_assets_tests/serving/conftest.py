"""A registered model with the real feature list, made the way the training asset makes one.

The training set is small and synthetic (feature values drawn at random, the label from a known logistic rule on a
few of them): these tests are about serving, not model quality. Everything after the frame is the product's own
code: ``train_candidates`` (logistic candidate), ``record_training`` (MLflow runs, skops model, signature,
registry), aliases set as promotion sets them. The ledger gets the ``train_models`` record the training asset
appends (same fields), so a trace can follow it.
"""

from __future__ import annotations

import gzip
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pytest

from healthcare_assets.audit import AuditEvent, AuditLedger
from healthcare_assets.features.dictionary import feature_columns
from healthcare_assets.features.spec import FeatureSpec
from healthcare_assets.modeling.dataset import TrainingData
from healthcare_assets.modeling.experiment import record_training
from healthcare_assets.modeling.tracking import CHALLENGER, CHAMPION, Tracker
from healthcare_assets.modeling.training import TrainingSettings, train_candidates
from healthcare_assets.serving.model import MODEL_NAME

BATCH = "synthetic-test-batch"


@dataclass
class Registry:
    mlflow_dir: Path
    audit_dir: Path
    tracker: Tracker
    features: list[str]
    versions: list[str]


def training_frame(features: list[str], rows: int, seed: int) -> TrainingData:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.integers(0, 2, size=(rows, len(features))).astype(float), columns=features)
    X["age_at_admission"] = rng.uniform(18, 95, rows)
    X["charlson_index"] = rng.poisson(2, rows).astype(float)
    X["los_days"] = rng.gamma(2.0, 2.5, rows)
    logit = -2.5 + 0.03 * (X["age_at_admission"] - 60) + 0.35 * X["charlson_index"] + 0.1 * X["los_days"]
    y = (rng.uniform(size=rows) < 1 / (1 + np.exp(-logit))).astype(int)
    frame = X.copy()
    frame["stay_id"] = [f"s{seed}-{i}" for i in range(rows)]
    frame["patient_id"] = [f"p{seed}-{i // 2}" for i in range(rows)]
    frame["batch_id"] = BATCH
    frame["index_offset_h"] = 100.0
    frame["label"] = y
    frame["sex"] = np.where(X["sex_male"] > 0, "male", "female")
    frame["age_band"] = "65-74"
    frame["lace_score"] = 5.0
    frame["hospital_score"] = 3.0
    frame["split"] = np.where(np.arange(rows) % 4 == 0, "test", "train")
    hashes = {"training_set": f"{seed:064x}", "train_test_split": f"{seed + 1:064x}",
              "feature_dictionary": f"{seed + 2:064x}"}  # fmt: skip
    dictionary = [{"name": f, "role": "feature"} for f in features]
    return TrainingData(frame, features, dictionary, hashes, [BATCH])


def register_version(tracker: Tracker, audit_dir: Path, features: list[str], seed: int) -> str:
    data = training_frame(features, 600, seed)
    settings = TrainingSettings(seed=seed, folds=3, candidates=("logistic_regression",))
    result = train_candidates(data.X("train"), data.y("train"), data.groups("train"), settings)
    registered = record_training(tracker, MODEL_NAME, data, result, {"commit": "test"}, tags={})
    AuditLedger(audit_dir).append(
        AuditEvent(
            action="train_models",
            asset_key="candidate_models",
            inputs=dict(data.hashes),
            outputs={"model_uri": registered.model_uri, "mlflow_training_run": registered.parent_run_id},
            details={"registered_model": MODEL_NAME, "version": registered.version, "chosen": result.chosen,
                     "batch_ids": data.batch_ids, "git": {"commit": "test"}},
        )
    )  # fmt: skip
    return registered.version


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    """Two versions: 1 champion, 2 challenger; a landing record for the batch they were trained on."""
    import os

    os.environ.pop("MLFLOW_TRACKING_URI", None)
    root = tmp_path_factory.mktemp("serving-registry")
    tracker = Tracker.embedded(root / "mlflow", MODEL_NAME)
    audit_dir = root / "audit"
    AuditLedger(audit_dir).append(
        AuditEvent(action="land_export_batch", asset_key="raw_fhir_ndjson", partition=BATCH,
                   outputs={"manifest": "ab" * 32})
    )  # fmt: skip
    features = [c.name for c in feature_columns(FeatureSpec())]
    versions = [register_version(tracker, audit_dir, features, seed) for seed in (1, 2)]
    # Version 2 gets a card and a validation report as the validation and registry assets log them (the
    # serving side reads them: the card endpoint, the threshold at 90% specificity).
    run_id = tracker.version(MODEL_NAME, versions[1]).run_id
    tracker.log_json(run_id, "validation_report.json", {"sensitivity_at_90_specificity": {"threshold": 0.3125}})
    tracker.log_json(run_id, "model_card.json", {"model": MODEL_NAME, "version": versions[1], "intended_use": "test"})
    tracker.log_bytes(run_id, "model_card.md", b"# Model card: readmission_30d\n")
    tracker.set_alias(MODEL_NAME, CHAMPION, versions[0])
    tracker.set_alias(MODEL_NAME, CHALLENGER, versions[1])
    return Registry(root / "mlflow", audit_dir, tracker, features, versions)


@pytest.fixture(scope="session")
def synthea_bundles(synthea_dir: Path) -> dict[str, dict]:
    """One FHIR Bundle per Synthea patient, assembled from the per-type NDJSON files (subject/patient refs)."""
    patients: dict[str, dict] = {}
    by_patient: dict[str, list[dict]] = defaultdict(list)
    for path in sorted(synthea_dir.glob("*.ndjson.gz")):
        with gzip.open(path) as handle:
            for line in handle:
                resource = orjson.loads(line)
                if resource["resourceType"] == "Patient":
                    patients[resource["id"]] = resource
                    continue
                for key in ("subject", "patient"):
                    ref = (resource.get(key) or {}).get("reference", "")
                    if ref:
                        by_patient[ref.split("/")[-1].split(":")[-1]].append(resource)
                        break
    return {
        pid: {"resourceType": "Bundle", "type": "collection",
              "entry": [{"resource": patient}] + [{"resource": r} for r in by_patient[pid]]}
        for pid, patient in patients.items()
    }  # fmt: skip
