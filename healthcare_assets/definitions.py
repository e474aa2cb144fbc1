"""The Dagster code location: ``healthcare_assets.definitions:defs``."""

from dagster import Definitions

from healthcare_assets.defs.deidentification import deidentified_tables
from healthcare_assets.defs.extraction import fhir_profile, raw_fhir_ndjson
from healthcare_assets.defs.jobs import batch_pipeline
from healthcare_assets.defs.resources import DataHome

defs = Definitions(
    assets=[raw_fhir_ndjson, fhir_profile, deidentified_tables],
    jobs=[batch_pipeline],
    resources={"home": DataHome()},
)
