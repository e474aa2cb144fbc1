"""The clinical gate's criteria and overrides, subgroup fairness, and the champion history behind rollbacks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from healthcare_assets.modeling.fairness import subgroup_performance
from healthcare_assets.modeling.gate import SEED_GATE, criteria_for, evaluate
from healthcare_assets.modeling.promotion import (
    PROMOTE_ACTION,
    ROLLBACK_ACTION,
    PromotionRefused,
    champion_history,
    rollback_target,
)

GOOD = dict(
    auroc=0.9,
    sensitivity_at_90_specificity=0.75,
    calibration_slope=1.02,
    subgroup_disparities={"sex": 0.01, "age_band": 0.03},
    cv_auroc_std=0.01,
)


def test_seed_thresholds_are_the_defaults() -> None:
    assert SEED_GATE.min_auroc == 0.85
    assert SEED_GATE.min_sensitivity_at_90_specificity == 0.70
    assert (SEED_GATE.min_calibration_slope, SEED_GATE.max_calibration_slope) == (0.8, 1.2)
    assert SEED_GATE.max_subgroup_auroc_disparity == 0.05
    assert SEED_GATE.max_cv_auroc_std == 0.03
    assert criteria_for("readmission_30d") == SEED_GATE
    assert criteria_for("some_other_use_case") == SEED_GATE


def test_a_good_model_passes_and_each_failure_is_named() -> None:
    assert evaluate(SEED_GATE, **GOOD).passed
    cases = {
        "auroc": dict(auroc=0.84),
        "sensitivity_at_90_specificity": dict(sensitivity_at_90_specificity=0.69),
        "calibration_slope": dict(calibration_slope=1.25),
        "subgroup_auroc_disparity": dict(subgroup_disparities={"sex": 0.01, "age_band": 0.05}),  # strict <
        "cv_auroc_std": dict(cv_auroc_std=0.03),  # strict <
    }
    for name, change in cases.items():
        result = evaluate(SEED_GATE, **{**GOOD, **change})
        assert not result.passed
        assert [c.name for c in result.failed] == [name]
        assert name in result.summary()
    as_dict = evaluate(SEED_GATE, **{**GOOD, "auroc": 0.8}).as_dict()
    assert as_dict["passed"] is False and as_dict["auroc"]["passed"] is False and as_dict["thresholds"]["min_auroc"]


def test_missing_evidence_fails() -> None:
    result = evaluate(SEED_GATE, **{**GOOD, "subgroup_disparities": {"sex": 0.01, "age_band": math.nan}})
    assert [c.name for c in result.failed] == ["subgroup_auroc_disparity"]
    assert "not evaluable for age_band" in result.failed[0].note
    assert not evaluate(SEED_GATE, **{**GOOD, "auroc": math.nan}).passed
    assert not evaluate(SEED_GATE, **{**GOOD, "subgroup_disparities": {}}).passed


def test_overrides_per_use_case_and_run() -> None:
    relaxed = criteria_for("readmission_30d", {"min_auroc": 0.8, "max_cv_auroc_std": None})
    assert relaxed.min_auroc == 0.8 and relaxed.max_cv_auroc_std == 0.03
    assert evaluate(relaxed, **{**GOOD, "auroc": 0.82}).passed
    with pytest.raises(ValueError, match="unknown gate criteria"):
        criteria_for("readmission_30d", {"min_aurc": 0.8})


def test_subgroups_with_few_events_are_reported_not_assessed() -> None:
    rng = np.random.default_rng(0)
    n = 3000
    sex = rng.choice(["female", "male"], n)
    band = np.where(rng.random(n) < 0.05, "<45", "65+")
    z = rng.normal(-2, 1.2, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    y[band == "<45"] = 0
    y[np.flatnonzero(band == "<45")[:3]] = 1  # three events: too few to judge
    rows, disparities = subgroup_performance(
        y, z, {"sex": sex, "age_band": band}, np.arange(n), min_events=20, bootstrap_samples=100
    )
    by = {(r.attribute, r.group): r for r in rows}
    assert by[("age_band", "<45")].assessed is False and by[("age_band", "<45")].events == 3
    assert by[("sex", "female")].assessed and by[("sex", "female")].ci_low < by[("sex", "female")].auroc
    d = {x.attribute: x for x in disparities}
    assert d["sex"].assessed_groups == 2 and 0 <= d["sex"].value < 0.1
    assert math.isnan(d["age_band"].value) and d["age_band"].unassessed_groups == ["<45"]


def test_subgroup_missing_values_form_their_own_group() -> None:
    y = np.array([0, 1] * 50)
    p = np.linspace(0, 1, 100)
    rows, _ = subgroup_performance(y, p, {"sex": [None] * 50 + ["female"] * 50}, min_events=5, bootstrap_samples=50)
    assert {r.group for r in rows} == {"(missing)", "female"}


def _record(action: str, version: str, model: str = "readmission_30d") -> dict:
    return {"action": action, "details": {"registered_model": model, "version": version}}


def test_champion_history_and_rollback_targets() -> None:
    records = [
        _record(PROMOTE_ACTION, "1"),
        _record(PROMOTE_ACTION, "3"),
        _record(PROMOTE_ACTION, "4", model="another_model"),
        _record(PROMOTE_ACTION, "5"),
    ]
    history = champion_history(records, "readmission_30d")
    assert history == ["1", "3", "5"]
    assert rollback_target(history, None) == "3"
    assert rollback_target(history, "1") == "1"
    with pytest.raises(PromotionRefused, match="never champion"):
        rollback_target(history, "2")
    # After rolling back to 3, the next rollback goes to 1 (not forward to 5).
    records.append(_record(ROLLBACK_ACTION, "3"))
    history = champion_history(records, "readmission_30d")
    assert history == ["1", "3"] and rollback_target(history, None) == "1"
    with pytest.raises(PromotionRefused, match="no earlier champion"):
        rollback_target(["1"], None)
