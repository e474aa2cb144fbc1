"""Record a training in MLflow and register the chosen model.

One parent run per training (``training``) holds the lineage (training-set and split hashes, batch ids, git
revision, Dagster run id, sizes and event rates); one child run per candidate holds its parameters, per-fold and
mean CV metrics and its out-of-fold summary. The chosen candidate's run also holds the model (skops, signature,
input example, ``predict_proba``), which is registered as a new version of the use case's registered model.
Later stages (validation report, model card) log to that same run, found from the version.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from healthcare_assets.modeling import candidates, model_format
from healthcare_assets.modeling.dataset import TrainingData
from healthcare_assets.modeling.tracking import Tracker
from healthcare_assets.modeling.training import TrainingResult

MODEL_ARTIFACT = "model"
MAX_PARAM = 500  # MLflow parameter values are short; long lists go to artifacts


@dataclass(frozen=True)
class RegisteredModel:
    name: str
    version: str
    run_id: str  # the chosen candidate's run (model, report, card)
    parent_run_id: str
    model_uri: str
    candidate: str
    runs: dict[str, str]  # candidate -> run id


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= MAX_PARAM else text[: MAX_PARAM - 3] + "..."


def record_training(
    tracker: Tracker,
    model_name: str,
    data: TrainingData,
    result: TrainingResult,
    lineage: Mapping[str, Any],
    tags: Mapping[str, str],
) -> RegisteredModel:
    """Log the training (parent run, one child per candidate) and register the chosen model."""
    summary = data.summary()
    common_tags = {"use_case": model_name, **{k: str(v) for k, v in tags.items()}}
    settings = result.settings
    X_train = data.X("train")
    runs: dict[str, str] = {}
    with tracker.run("training", {**common_tags, "stage": "training"}) as parent:
        client = tracker.client()
        client.log_batch(
            parent,
            params=_params(
                {
                    "seed": settings.seed,
                    "folds": settings.folds,
                    "cv": "StratifiedGroupKFold(patient-grouped, label-stratified, shuffled)",
                    "candidates": ",".join(settings.candidates),
                    "selection_tolerance": settings.selection_tolerance,
                    "chosen": result.chosen,
                    "training_set_sha256": data.hashes["training_set"],
                    "train_test_split_sha256": data.hashes["train_test_split"],
                    "feature_dictionary_sha256": data.hashes["feature_dictionary"],
                    "batch_ids": ",".join(data.batch_ids),
                    "features": len(data.features),
                    "git_commit": lineage.get("commit"),
                    "git_dirty": lineage.get("dirty"),
                    "package_version": lineage.get("package_version"),
                    "train_stays": summary["train"]["stays"],
                    "test_stays": summary["test"]["stays"],
                }
            ),
            metrics=_metrics(
                {
                    "train_event_rate": summary["train"]["event_rate"],
                    "test_event_rate": summary["test"]["event_rate"],
                    "train_events": summary["train"]["events"],
                    "test_events": summary["test"]["events"],
                }
            ),
        )
        tracker.log_json(parent, "lineage.json", {"data": summary, "hashes": data.hashes, "batch_ids": data.batch_ids,
                                                   "code": dict(lineage), "tags": dict(tags)})  # fmt: skip
        tracker.log_json(parent, "feature_dictionary.json", data.dictionary)
        for candidate in result.candidates:
            chosen = candidate.name == result.chosen
            with tracker.run(
                candidate.name,
                {**common_tags, "stage": "candidate", "candidate": candidate.name, "chosen": str(chosen).lower()},
                parent_run_id=parent,
            ) as run_id:
                runs[candidate.name] = run_id
                client.log_batch(
                    run_id,
                    params=_params(
                        {
                            "candidate": candidate.name,
                            "description": candidates.describe(candidate.name),
                            "seed": settings.seed,
                            "folds": settings.folds,
                            "training_set_sha256": data.hashes["training_set"],
                            "git_commit": lineage.get("commit"),
                            **{f"hp_{k}": v for k, v in candidate.params.items()},
                        }
                    ),
                    metrics=_metrics(
                        {
                            **candidate.summary(),
                            **{f"cv_auroc_fold_{f['fold']}": f["auroc"] for f in candidate.folds},
                            **{f"cv_auprc_fold_{f['fold']}": f["auprc"] for f in candidate.folds},
                        }
                    ),
                )
                tracker.log_json(run_id, "cv_folds.json", candidate.folds)
                tracker.log_json(run_id, "features.json", data.features)
                if chosen:
                    version, model_uri = _log_model(tracker, run_id, model_name, candidate.estimator, X_train)
        registered = RegisteredModel(
            name=model_name,
            version=version,
            run_id=runs[result.chosen],
            parent_run_id=parent,
            model_uri=model_uri,
            candidate=result.chosen,
            runs=runs,
        )
        client.set_tag(parent, "registered_version", version)
    tracker.tag_version(
        model_name,
        version,
        {
            "candidate": result.chosen,
            "training_run_id": parent,
            "training_set_sha256": data.hashes["training_set"],
            "git_commit": str(lineage.get("commit")),
            "validation": "pending",
            **{k: str(v) for k, v in tags.items()},
        },
    )
    return registered


def _log_model(tracker: Tracker, run_id: str, model_name: str, estimator: Any, X_train) -> tuple[str, str]:
    with tracker.active() as mlflow:
        with mlflow.start_run(run_id=run_id):
            info = mlflow.sklearn.log_model(
                sk_model=estimator,
                name=MODEL_ARTIFACT,
                serialization_format=model_format.SERIALIZATION_FORMAT,
                skops_trusted_types=list(model_format.TRUSTED_TYPES),
                signature=model_format.signature(X_train, estimator),
                input_example=model_format.input_example(X_train),
                pyfunc_predict_fn=model_format.PREDICT_FN,
                pip_requirements=model_format.pip_requirements(),
                registered_model_name=model_name,
                metadata={"use_case": model_name, "features": list(X_train.columns)},
            )
    return str(info.registered_model_version), info.model_uri


def _params(values: Mapping[str, Any]):
    from mlflow.entities import Param

    return [Param(k, _short(v)) for k, v in values.items() if v is not None]


def _metrics(values: Mapping[str, Any]):
    import math
    import time

    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    return [
        Metric(k, float(v), now, 0)
        for k, v in values.items()
        if v is not None and isinstance(v, (int, float)) and math.isfinite(float(v))
    ]


def load_model(tracker: Tracker, model_name: str, version: str):
    """The registered version as scikit-learn loads it (the very artifact a server would load)."""
    with tracker.active() as mlflow:
        return mlflow.sklearn.load_model(f"models:/{model_name}/{version}")
