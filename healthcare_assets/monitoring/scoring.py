"""The registered models that score a batch, the batch's and the reference's rows, and the scores.

``champion`` answers; ``challenger`` (when it is another version) scores the same rows in shadow, stored beside
the champion's score and never returned as the answer. Both are loaded from the registry exactly as a server
loads them (skops with the project's trusted types, ``experiment.load_model``). The **reference** of a model is
the ``feature_matrix`` rows of the export batches it was trained on (the version's training lineage in MLflow,
``lineage.json``), so drift is always measured against what the serving model saw.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

import duckdb
import numpy as np

from healthcare_assets.modeling.experiment import load_model
from healthcare_assets.modeling.tracking import CHALLENGER, CHAMPION, Tracker
from healthcare_assets.warehouse.duckdb_store import quote_ident

if TYPE_CHECKING:  # pandas is imported by the steps that use it, not by the code location
    import pandas as pd

FEATURE_MATRIX = "feature_matrix"
TRAINING_SET = "training_set"
PREDICTIONS_TABLE = "batch_predictions"


class MonitoringDataError(RuntimeError):
    """The warehouse or the registry lacks what scoring needs; the message names the table, batch or version."""


@dataclass
class ServedModel:
    name: str
    version: str
    alias: str
    run_id: str
    features: list[str]
    training_batch_ids: list[str]
    model: Any

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        missing = [f for f in self.features if f not in frame.columns]
        if missing:
            raise MonitoringDataError(
                f"{FEATURE_MATRIX} lacks {len(missing)} feature(s) of {self.name} version {self.version} "
                f"(first: {missing[0]}): the feature definition changed since training; retrain or rebuild the batch"
            )
        X = frame[self.features].astype(float)
        return np.asarray(self.model.predict_proba(X)[:, 1], dtype=float)


def load_alias(tracker: Tracker, name: str, alias: str) -> ServedModel | None:
    """The version the alias points at, loaded, with its feature list and training batches; None if unset."""
    if not registry_exists(tracker):
        return None
    version = tracker.alias_version(name, alias)
    if version is None:
        return None
    registered = tracker.version(name, version)
    features = json.loads(tracker.read_artifact(registered.run_id, "features.json"))
    training_run = (registered.tags or {}).get("training_run_id")
    if not training_run:
        raise MonitoringDataError(f"{name} version {version} has no training_run_id tag: its lineage is unknown")
    lineage = json.loads(tracker.read_artifact(training_run, "lineage.json"))
    return ServedModel(
        name=name,
        version=str(version),
        alias=alias,
        run_id=registered.run_id,
        features=[str(f) for f in features],
        training_batch_ids=[str(b) for b in lineage.get("batch_ids", [])],
        model=load_model(tracker, name, str(version)),
    )


def registry_exists(tracker: Tracker) -> bool:
    """False when the embedded SQLite store has not been created yet (so there is no model at all).

    Asking MLflow would create the store, and two batch runs doing that at once race in its schema migration
    ("table _alembic_tmp_experiments already exists"); before any training there is nothing to ask for."""
    uri = tracker.tracking_uri
    if uri.startswith("sqlite:///"):
        return Path(unquote(urlparse(uri).path)).exists()
    return True


def load_served(tracker: Tracker, name: str) -> tuple[ServedModel | None, ServedModel | None]:
    """(champion, challenger); the challenger is None when unset or the same version as the champion."""
    if not registry_exists(tracker):
        return None, None
    champion = load_alias(tracker, name, CHAMPION)
    challenger_version = tracker.alias_version(name, CHALLENGER)
    if challenger_version is None or (champion is not None and challenger_version == champion.version):
        return champion, None
    return champion, load_alias(tracker, name, CHALLENGER)


def _has_table(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(
        con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [table]).fetchone()[0]
    )


def batch_rows(con: duckdb.DuckDBPyConnection, batch_id: str, features: Sequence[str]) -> pd.DataFrame:
    """The batch's index stays: keys, the model's features, and the label when observed (``label_observed``).

    A stay's label matures after its batch was built; ``training_set`` holds labels relabelled from all data, so
    its label wins when it has the stay, else the batch's own observed label."""
    if not _has_table(con, FEATURE_MATRIX):
        raise MonitoringDataError(f"the warehouse has no {FEATURE_MATRIX}: materialize the features stage first")
    cols = ", ".join(f"fm.{quote_ident(f)}" for f in features)
    relabel = _has_table(con, TRAINING_SET)
    label = (
        "coalesce(ts.label, CASE WHEN fm.label_status = 'observed' THEN fm.label END)"
        if relabel
        else "CASE WHEN fm.label_status = 'observed' THEN fm.label END"
    )
    join = f"LEFT JOIN {TRAINING_SET} ts USING (stay_id)" if relabel else ""
    return con.execute(
        f"SELECT fm.stay_id, {label} AS label, {cols} FROM {FEATURE_MATRIX} fm {join} "
        "WHERE fm.batch_id = ? ORDER BY fm.stay_id",
        [batch_id],
    ).df()


def reference_rows(con: duckdb.DuckDBPyConnection, model: ServedModel) -> pd.DataFrame:
    """The ``feature_matrix`` rows of the batches ``model`` was trained on (its features only)."""
    if not model.training_batch_ids:
        raise MonitoringDataError(f"{model.name} version {model.version} records no training batches")
    if not _has_table(con, FEATURE_MATRIX):
        raise MonitoringDataError(f"the warehouse has no {FEATURE_MATRIX}: materialize the features stage first")
    cols = ", ".join(quote_ident(f) for f in model.features)
    frame = con.execute(
        f"SELECT {cols} FROM {FEATURE_MATRIX} WHERE list_contains(?, batch_id) ORDER BY batch_id, stay_id",
        [model.training_batch_ids],
    ).df()
    if frame.empty:
        raise MonitoringDataError(
            f"no {FEATURE_MATRIX} rows of the batches {model.name} version {model.version} was trained on "
            f"({', '.join(model.training_batch_ids[:3])}{'...' if len(model.training_batch_ids) > 3 else ''}): "
            "were they deleted?"
        )
    return frame
