"""The warehouse table ``candidate_models``: one row per candidate of the latest training, the chosen one with
its registered version. Later stages (validation, model card, the CLI) find the model they work on here.

Columns: ``trained_at``, ``candidate``, ``chosen``, ``cv_auroc_mean``, ``cv_auroc_std``, ``cv_auprc_mean``,
``cv_folds`` (JSON), ``mlflow_run_id``, ``training_run_id``, ``registered_model``,
``model_version`` (chosen row only), ``training_set_sha256``, ``train_test_split_sha256``,
``feature_dictionary_sha256``, ``features``, ``seed``, ``dagster_run_id``. Aggregates only: no patient row.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import duckdb
import polars as pl

from healthcare_assets.modeling.dataset import TrainingData
from healthcare_assets.modeling.experiment import RegisteredModel
from healthcare_assets.modeling.training import TrainingResult

TABLE = "candidate_models"


class NoTrainedModel(LookupError):
    """No training has run yet (or it registered nothing)."""


def candidate_frame(
    data: TrainingData, result: TrainingResult, registered: RegisteredModel, dagster_run_id: str
) -> pl.DataFrame:
    now = datetime.now(UTC).isoformat(timespec="seconds")
    rows = []
    for candidate in result.candidates:
        summary = candidate.summary()
        chosen = candidate.name == result.chosen
        rows.append(
            {
                "trained_at": now,
                "candidate": candidate.name,
                "chosen": chosen,
                "cv_auroc_mean": summary["cv_auroc_mean"],
                "cv_auroc_std": summary["cv_auroc_std"],
                "cv_auprc_mean": summary["cv_auprc_mean"],
                "cv_folds": json.dumps(candidate.folds),
                "mlflow_run_id": registered.runs[candidate.name],
                "training_run_id": registered.parent_run_id,
                "registered_model": registered.name,
                "model_version": registered.version if chosen else None,
                "training_set_sha256": data.hashes["training_set"],
                "train_test_split_sha256": data.hashes["train_test_split"],
                "feature_dictionary_sha256": data.hashes["feature_dictionary"],
                "features": len(data.features),
                "seed": result.settings.seed,
                "dagster_run_id": dagster_run_id,
            }
        )
    return pl.DataFrame(rows, schema_overrides={"model_version": pl.Utf8})


def chosen_model(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """The chosen row of the latest training, with ``cv_folds`` parsed; ``NoTrainedModel`` if there is none."""
    exists = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [TABLE]).fetchall()
    if not exists[0][0]:
        raise NoTrainedModel(f"the warehouse has no {TABLE} table: materialize candidate_models first")
    frame = con.sql(f"SELECT * FROM {TABLE} WHERE chosen").pl()
    if frame.height != 1:
        raise NoTrainedModel(f"{TABLE} has {frame.height} chosen rows, expected 1: re-materialize candidate_models")
    row = frame.to_dicts()[0]
    row["cv_folds"] = json.loads(row["cv_folds"])
    return row


def all_candidates(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    return (
        con.sql(f"SELECT candidate AS name, cv_auroc_mean, cv_auroc_std, chosen FROM {TABLE} ORDER BY candidate")
        .pl()
        .to_dicts()
    )
