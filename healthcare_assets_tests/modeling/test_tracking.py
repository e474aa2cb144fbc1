"""Where MLflow lives: the embedded SQLite store under the data directory unless MLFLOW_TRACKING_URI says else."""

from __future__ import annotations

from pathlib import Path

import pytest

from healthcare_assets.modeling.tracking import Tracker, default_tracking_uri


def test_embedded_store_under_the_data_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    tracker = Tracker.embedded(tmp_path / "mlflow", "readmission_30d")
    assert tracker.tracking_uri == f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}"
    assert tracker.artifact_root == (tmp_path / "mlflow" / "artifacts").as_uri()
    assert tracker.experiment == "readmission_30d"


def test_the_environment_and_an_explicit_uri_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.internal:5000")
    assert default_tracking_uri(tmp_path) == "http://mlflow.internal:5000"
    tracker = Tracker.embedded(tmp_path, "readmission_30d")
    assert tracker.artifact_root is None  # the server decides where artifacts go
    assert default_tracking_uri(tmp_path, "sqlite:////srv/mlflow.db") == "sqlite:////srv/mlflow.db"
    assert not (tmp_path / "mlflow.db").exists()
