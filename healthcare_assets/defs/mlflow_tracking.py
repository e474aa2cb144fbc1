"""The MLflow store as a Dagster resource (see ``modeling/tracking.py`` for why not dagster-mlflow's)."""

from __future__ import annotations

from dagster import ConfigurableResource
from pydantic import Field

from healthcare_assets.defs.resources import DataHome
from healthcare_assets.modeling.tracking import TRACKING_ENV, Tracker

DEFAULT_USE_CASE = "readmission_30d"


class MlflowTracking(ConfigurableResource):
    """Where runs, models and the registry live. Unset: ``$MLFLOW_TRACKING_URI``, else an embedded SQLite store
    under ``$HEALTHCARE_ASSETS_HOME/mlflow/``."""

    tracking_uri: str | None = Field(
        default=None, description=f"MLflow tracking/registry URI; default ${TRACKING_ENV} or the embedded store."
    )

    def tracker(self, home: DataHome, use_case: str = DEFAULT_USE_CASE) -> Tracker:
        """The store, with the use case's experiment (named like its registered model)."""
        return Tracker.embedded(home.paths().mlflow, use_case, self.tracking_uri)
