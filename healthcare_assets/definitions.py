"""The Dagster code location: ``healthcare_assets.definitions:defs``."""

from dagster import Definitions

from healthcare_assets.defs.automation import nightly_bulk_export, register_bulk_export, scheduled_export_sensor
from healthcare_assets.defs.deidentification import deidentified_tables
from healthcare_assets.defs.executor import warm_multiprocess_executor
from healthcare_assets.defs.extraction import fhir_profile, raw_fhir_ndjson
from healthcare_assets.defs.jobs import batch_pipeline
from healthcare_assets.defs.resources import DataHome

defs = Definitions(
    assets=[raw_fhir_ndjson, fhir_profile, deidentified_tables],
    jobs=[batch_pipeline, register_bulk_export],
    schedules=[nightly_bulk_export],
    sensors=[scheduled_export_sensor],
    resources={"home": DataHome()},
    executor=warm_multiprocess_executor,
)
