"""A cohort too small to have a readmission still lands: its undefined oracle AUROC is null, not NaN (the
manifest is hashed as canonical JSON, which has no NaN)."""

from __future__ import annotations

from pathlib import Path

from healthcare_assets.fhir.landing import land_batch
from healthcare_assets.fhir.sources import SyntheticSource
from healthcare_assets.synthetic import SyntheticConfig


def test_fifty_patients_land_with_a_hashable_manifest(tmp_path: Path) -> None:
    landed = land_batch(tmp_path / "batches", "small", SyntheticSource(SyntheticConfig(patients=50, workers=1)))
    assert len(landed.manifest_sha256) == 64  # raised "Out of range float values" before
    details = landed.manifest["details"]
    if details["readmission_rate"] in (0.0, 1.0):  # one class only (seed 42, 50 patients: no readmission)
        assert details["oracle_auroc"] is None
    else:
        assert 0.0 <= details["oracle_auroc"] <= 1.0
