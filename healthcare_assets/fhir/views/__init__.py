"""SQL on FHIR v2 ViewDefinitions compiled to single DuckDB queries.

``load_view`` parses and validates a ViewDefinition, ``compile_view`` turns it into SQL over NDJSON or a table,
``run_view`` executes it; ``catalog`` holds the project's own views (the de-identification allow-list) and
``conformance`` runs HL7's test suite.
"""

from healthcare_assets.fhir.views.compiler import CompiledView, compile_view, plan_view
from healthcare_assets.fhir.views.definition import Column, Constant, Select, Tag, ViewDefinition, load_view, parse_view
from healthcare_assets.fhir.views.errors import ViewDefinitionError
from healthcare_assets.fhir.views.runner import run_view
from healthcare_assets.fhir.views.sources import NdjsonSource, TableSource

__all__ = [
    "Column",
    "CompiledView",
    "Constant",
    "NdjsonSource",
    "Select",
    "TableSource",
    "Tag",
    "ViewDefinition",
    "ViewDefinitionError",
    "compile_view",
    "load_view",
    "parse_view",
    "plan_view",
    "run_view",
]
