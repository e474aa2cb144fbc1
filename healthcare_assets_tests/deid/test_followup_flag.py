"""followup_complete_30d: whether the batch's data reaches 30 days past an encounter's end (the label's follow-up
limit), published as a flag; no interval to the data's end leaves the PHI zone (it would reveal the anchor)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb

from healthcare_assets.deid import Codebook, CodebookPseudonymizer, build_policy, deidentify_batch
from healthcare_assets.fhir.landing import land_batch
from healthcare_assets.fhir.profile import ProfileLimits, profile_batch
from healthcare_assets.fhir.sources import NdjsonDirSource
from healthcare_assets.fhir.views import catalog
from healthcare_assets_tests.deid.phi_cases import write_cases


def _flags(tmp_path: Path, data_end: datetime | None) -> tuple[list[tuple], list[str]]:
    phi = tmp_path / "phi"
    batch = land_batch(phi / "batches", "b1", NdjsonDirSource(write_cases(tmp_path / "src")))
    profiled = profile_batch(batch, ProfileLimits(max_quarantine_rate=0.5, max_dangling_rate=0.5))
    counts = {t.resource_type: {"accepted": t.accepted, "id_checksum": t.id_checksum} for t in profiled.types}
    views = catalog.project_views()
    codebook = Codebook(phi / "codebook.duckdb")
    result = deidentify_batch(
        batch, counts, views, build_policy(views), CodebookPseudonymizer(codebook), codebook,
        batch.batch_dir / "staging", datetime(2026, 11, 1, tzinfo=UTC), data_end=data_end,
    )  # fmt: skip
    assert result.scan.passed
    con = duckdb.connect()
    patients = str(result.tables["deidentified_patient"].path)
    encounters = str(result.tables["deidentified_encounter"].path)
    flags = con.execute(
        f"""SELECT followup_complete_30d, count(*) FROM read_parquet('{encounters}')
            WHERE period_end_offset_h IS NOT NULL GROUP BY 1 ORDER BY 1"""
    ).fetchall()
    return flags, [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet('{patients}')").fetchall()]


def test_the_flag_says_whether_the_export_time_is_30_days_past_each_end(tmp_path: Path) -> None:
    # Encounter ends (UTC): 2019-07-04 12:30, 2020-03-04 21:30, 2020-03-22 13:00, 2021-06-01 14:00.
    flags, patient_columns = _flags(tmp_path / "a", datetime(2020, 4, 10, tzinfo=UTC))
    assert flags == [(False, 2), (True, 2)]
    assert "data_end_offset_h" not in patient_columns  # no interval from the anchor to the export
    # Exactly 30 days after the 2020-03-22 end counts as complete.
    flags, _ = _flags(tmp_path / "b", datetime(2020, 4, 21, 13, tzinfo=UTC))
    assert flags == [(False, 1), (True, 3)]


def test_without_an_export_time_the_data_ends_at_the_latest_event(tmp_path: Path) -> None:
    flags, _ = _flags(tmp_path, None)
    assert dict(flags)[False] >= 1  # the latest encounter cannot have 30 days of data after it
    assert dict(flags)[True] >= 1


def test_the_policy_states_the_rule() -> None:
    policy = build_policy(catalog.project_views())
    assert "| followup_complete_30d | derived |" in policy.describe()
    assert "followup_complete_30d" in [c.name for c in policy.table("encounter").output_columns]
    assert "data_end_offset_h" not in [c.name for c in policy.table("patient").output_columns]
