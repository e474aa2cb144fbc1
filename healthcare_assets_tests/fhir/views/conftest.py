"""Fixtures for the view engine tests: the shared conformance suite and Synthea sample beside the repository."""

from __future__ import annotations

from pathlib import Path

import pytest

from healthcare_assets_tests.conftest import SHARED

SUITE_DIR = SHARED / "conformance" / "sql-on-fhir-v2"


@pytest.fixture(scope="session")
def suite_dir() -> Path:
    """HL7's SQL on FHIR v2 test suite (shared/conformance/sql-on-fhir-v2 beside the repository)."""
    if not (SUITE_DIR / "basic.json").exists():
        pytest.fail(f"SQL on FHIR conformance suite not found at {SUITE_DIR} (clone the repository beside ../shared)")
    return SUITE_DIR


@pytest.fixture(scope="session")
def synthea(synthea_dir: Path) -> Path:
    """The real Synthea sample (100 patients, gzipped NDJSON per resource type): the suite-wide fixture."""
    return synthea_dir


def write_ndjson(path: Path, resources: list[dict]) -> Path:
    import json

    path.write_text("".join(json.dumps(r) + "\n" for r in resources), encoding="utf-8")
    return path
