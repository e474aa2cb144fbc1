"""healthcare-assets: Dagster software-defined assets from FHIR data to a validated, audited clinical model."""

__version__ = "0.1.0"
