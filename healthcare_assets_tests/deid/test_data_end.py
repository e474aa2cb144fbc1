"""data_end_offset_h: where each patient's data ends (the label's follow-up limit), as hours since their anchor."""

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


def _patients(tmp_path: Path, data_end: datetime | None) -> list[tuple]:
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
    return con.execute(
        f"""SELECT p.age_90_or_older, p.data_end_offset_h, max(e.period_end_offset_h)
            FROM read_parquet('{patients}') p LEFT JOIN read_parquet('{encounters}') e USING (patient_id)
            GROUP BY ALL ORDER BY 1"""
    ).fetchall()


def test_data_end_is_the_given_export_time_in_hours_since_each_anchor(tmp_path: Path) -> None:
    rows = _patients(tmp_path, datetime(2021, 1, 1, tzinfo=UTC))
    old = next(r for r in rows if r[0])
    # The old patient's anchor is 2020-03-01T00:00Z (the date-only condition onset): 306 days to 2021-01-01.
    assert old[1] == 306 * 24


def test_without_an_export_time_the_data_ends_at_the_latest_event(tmp_path: Path) -> None:
    rows = _patients(tmp_path, None)
    for _, end, last_encounter in rows:
        assert end is not None and (last_encounter is None or end >= last_encounter)


def test_the_policy_states_the_rule() -> None:
    policy = build_policy(catalog.project_views())
    assert "| data_end_offset_h | derived |" in policy.describe()
    assert "data_end_offset_h" in [c.name for c in policy.table("patient").output_columns]
