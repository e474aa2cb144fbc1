"""Package data: the project's ViewDefinitions as JSON (loaded by ``healthcare_assets.fhir.views.catalog``)."""
