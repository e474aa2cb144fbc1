"""Run the de-identification domain code on a folder of NDJSON in a temporary PHI zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from healthcare_assets.deid import (
    Codebook,
    CodebookPseudonymizer,
    DeidResult,
    Policy,
    ScanResult,
    build_policy,
    deidentify_batch,
)
from healthcare_assets.deid.inventory import Inventory
from healthcare_assets.fhir.landing import LandedBatch, land_batch
from healthcare_assets.fhir.profile import ProfileLimits, profile_batch
from healthcare_assets.fhir.sources import NdjsonDirSource
from healthcare_assets.fhir.views import catalog

REFERENCE = datetime(2026, 11, 1, tzinfo=UTC)


@dataclass
class Run:
    batch: LandedBatch
    policy: Policy
    result: DeidResult
    scan: ScanResult
    inventory: Inventory
    codebook: Codebook

    def table(self, name: str) -> Path:
        return self.result.tables[name].path


def run_deid(
    source_dir: Path,
    phi: Path,
    batch_id: str = "b1",
    profile: str = "safe_harbor",
    pseudonymizer=None,
    views=None,
    limits: ProfileLimits = ProfileLimits(max_quarantine_rate=0.5, max_dangling_rate=0.5),
) -> Run:
    batch = land_batch(phi / "batches", batch_id, NdjsonDirSource(source_dir))
    profiled = profile_batch(batch, limits)
    counts = {t.resource_type: {"accepted": t.accepted, "id_checksum": t.id_checksum} for t in profiled.types}
    views = views or catalog.project_views()
    policy = build_policy(views, profile)
    codebook = Codebook(phi / "codebook.duckdb")
    pseudonymizer = pseudonymizer or CodebookPseudonymizer(codebook)
    result = deidentify_batch(
        batch, counts, views, policy, pseudonymizer, codebook, batch.batch_dir / "deid_staging", REFERENCE
    )
    return Run(batch, policy, result, result.scan, result.inventory, codebook)


@pytest.fixture(scope="session")
def synthea_run(tmp_path_factory: pytest.TempPathFactory, synthea_dir: Path) -> Run:
    return run_deid(synthea_dir, tmp_path_factory.mktemp("phi"))
