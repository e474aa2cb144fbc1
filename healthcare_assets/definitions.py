"""The Dagster code location: ``healthcare_assets.definitions:defs``."""

from dagster import Definitions

from healthcare_assets.defs.automation import (
    nightly_bulk_export,
    register_bulk_export,
    scheduled_export_sensor,
    training_after_batch_sensor,
)
from healthcare_assets.defs.deidentification import deidentified_tables
from healthcare_assets.defs.executor import warm_multiprocess_executor
from healthcare_assets.defs.extraction import fhir_profile, raw_fhir_ndjson
from healthcare_assets.defs.features import FeatureSettings, feature_matrix, readmission_cohort
from healthcare_assets.defs.jobs import batch_pipeline, promote_champion, training_pipeline
from healthcare_assets.defs.mlflow_tracking import MlflowTracking
from healthcare_assets.defs.monitoring import (
    MonitoringSettings,
    batch_predictions,
    drift_report,
    retraining_on_drift_sensor,
)
from healthcare_assets.defs.registry import champion_model, model_card
from healthcare_assets.defs.resources import DataHome
from healthcare_assets.defs.training import candidate_models
from healthcare_assets.defs.training_data import feature_dictionary, train_test_split, training_set
from healthcare_assets.defs.validation import validation_report

defs = Definitions(
    assets=[
        raw_fhir_ndjson,
        fhir_profile,
        deidentified_tables,
        readmission_cohort,
        feature_matrix,
        feature_dictionary,
        training_set,
        train_test_split,
        candidate_models,
        validation_report,
        model_card,
        champion_model,
        batch_predictions,
        drift_report,
    ],
    jobs=[batch_pipeline, register_bulk_export, training_pipeline, promote_champion],
    schedules=[nightly_bulk_export],
    sensors=[scheduled_export_sensor, training_after_batch_sensor, retraining_on_drift_sensor],
    resources={
        "home": DataHome(),
        "features": FeatureSettings(),
        "mlflow": MlflowTracking(),
        "monitoring": MonitoringSettings(),
    },
    executor=warm_multiprocess_executor,
)
