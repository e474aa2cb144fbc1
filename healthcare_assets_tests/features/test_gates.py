"""The two gates can fail: the pandera schema on a broken matrix, the leakage gate on a feature that looks past
discharge at a planted post-discharge lab."""

from __future__ import annotations

import polars as pl

from healthcare_assets.features import FeatureSpec, WindowSpec, check_leakage, matrix_columns, validate
from healthcare_assets_tests.features.helpers import build
from healthcare_assets_tests.features.world import World


def _world() -> tuple[World, list[str]]:
    w = World()
    stays = []
    for k, pid in enumerate(("p1", "p2", "p3")):
        w.patient(pid, gender="male" if k else "female")
        stays.append(w.stay(pid, 1000, 100))
        w.lab(pid, "2160-0", 1.0 + k, "mg/dL", 1050)
        w.lab(pid, "2951-2", 138.0, "mmol/L", 1090)
        stays.append(w.stay(pid, 3000, 60))
    w.lab("p2", "2160-0", 7.5, "mg/dL", 3060 + 12)  # 12 hours after p2 was discharged the second time
    return w, stays


def test_the_schema_passes_a_built_matrix_and_names_what_breaks_it() -> None:
    w, stays = _world()
    spec = FeatureSpec()
    frame = build(w, spec).sql("SELECT * FROM _fx_matrix").pl()
    assert validate(frame, matrix_columns(spec)).passed
    broken = pl.concat([frame, frame.head(1)]).with_columns(
        pl.when(pl.col("stay_id") == stays[1]).then(900.0).otherwise(pl.col("sodium_stay_latest"))
        .alias("sodium_stay_latest"),
        pl.when(pl.col("stay_id") == stays[2]).then(None).otherwise(pl.col("label")).alias("label"),
        pl.when(pl.col("stay_id") == stays[3]).then(pl.lit("X")).otherwise(pl.col("sex")).alias("sex"),
    )  # fmt: skip
    result = validate(broken, matrix_columns(spec))
    assert not result.passed
    found = {(f["stay_id"], f["column"]) for f in result.failures}
    assert (stays[1], "sodium_stay_latest") in found  # physiological range
    assert (stays[2], "(table)") in found  # observed label missing
    assert (stays[3], "sex") in found and (stays[0], "stay_id") in found  # subgroup values, unique key
    assert all(f["value"] is None for f in result.failures if f["column"] in ("stay_id", "(table)"))


def test_the_leakage_gate_passes_honest_features() -> None:
    w, _ = _world()
    spec = FeatureSpec()
    con = build(w, spec)
    result = check_leakage(con, spec, sample_size=0)
    assert result.passed and result.checked == 6


def test_a_feature_that_sees_a_post_discharge_lab_fails_the_leakage_gate() -> None:
    w, stays = _world()
    # "Labs around discharge" (+-24 h) is a classic leak: it reaches the planted lab 12 h after discharge.
    spec = FeatureSpec(windows=(WindowSpec("stay", None), WindowSpec("around", -24.0, 24.0)))
    con = build(w, spec)
    result = check_leakage(con, spec, sample_size=0)
    assert not result.passed
    assert {(f["stay_id"], f["column"]) for f in result.failures} >= {(stays[3], "creatinine_around_latest")}
    assert {f["stay_id"] for f in result.failures} == {stays[3]}
    planted = next(f for f in result.failures if f["column"] == "creatinine_around_latest")
    assert planted["matrix"] == 7.5 and planted["cut_history"] is None
