"""Metrics against known values and scikit-learn, calibration on simulated models with known miscalibration."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from healthcare_assets.modeling import metrics
from healthcare_assets.modeling.calibration import calibration, ece, reliability


def simulated(n: int = 4000, seed: int = 0, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Outcomes drawn from true probabilities; the returned prediction is the truth with its logit times
    ``scale`` (1 = perfectly calibrated, > 1 = overconfident, < 1 = underconfident)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(-1.8, 1.2, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    return y, 1 / (1 + np.exp(-z * scale))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auroc_and_auprc_agree_with_scikit_learn_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = (rng.random(700) < 0.2).astype(int)
    p = np.round(rng.random(700) * 0.5 + y * rng.random(700) * 0.4, 2)  # many ties
    assert metrics.auroc(y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert metrics.auprc(y, p) == pytest.approx(average_precision_score(y, p), abs=1e-12)
    assert metrics.brier(y, p) == pytest.approx(brier_score_loss(y, p))


def test_auroc_known_values_and_undefined_cases() -> None:
    assert metrics.auroc([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4]) == 1.0
    assert metrics.auroc([0, 0, 1, 1], [0.4, 0.3, 0.2, 0.1]) == 0.0
    assert metrics.auroc([0, 1], [0.5, 0.5]) == 0.5
    assert np.isnan(metrics.auroc([1, 1, 1], [0.1, 0.2, 0.3]))
    with pytest.raises(ValueError, match="0 or 1"):
        metrics.auroc([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="differ in length"):
        metrics.auroc([0, 1, 1], [0.1, 0.2])


def test_scaled_brier_is_zero_for_the_event_rate_and_positive_for_a_good_model() -> None:
    y, p = simulated()
    assert metrics.scaled_brier(y, np.full(len(y), y.mean())) == pytest.approx(0.0, abs=1e-12)
    assert metrics.scaled_brier(y, p) > 0.1


def test_operating_points_by_hand() -> None:
    y = np.array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1])
    p = np.array([0.1, 0.1, 0.2, 0.2, 0.3, 0.3, 0.4, 0.5, 0.6, 0.9, 0.35, 0.55, 0.7, 0.95])
    at = metrics.operating_point(y, p, 0.5)
    assert (at.tp, at.fp, at.tn, at.fn) == (3, 3, 7, 1)
    assert at.sensitivity == 0.75 and at.specificity == 0.7 and at.ppv == 0.5 and at.npv == 7 / 8
    # 90% specificity allows one false positive of ten: threshold 0.7 flags 0.9 (FP), 0.7 and 0.95 -> 2/4.
    s90 = metrics.sensitivity_at_specificity(y, p, 0.90)
    assert s90.threshold == 0.7 and s90.specificity == 0.9 and s90.sensitivity == 0.5
    # 90% sensitivity needs all four events (3/4 < 0.9): the highest such threshold is 0.35.
    sp = metrics.specificity_at_sensitivity(y, p, 0.90)
    assert sp.threshold == 0.35 and sp.sensitivity == 1.0 and sp.specificity == 0.6


def test_sensitivity_at_specificity_matches_a_brute_force_search() -> None:
    y, p = simulated(n=600, seed=4)
    best = 0.0
    for t in np.unique(p):
        point = metrics.operating_point(y, p, t)
        if point.specificity >= 0.9:
            best = max(best, point.sensitivity)
    assert metrics.sensitivity_at_specificity(y, p, 0.9).sensitivity == best


def test_net_benefit_by_hand() -> None:
    y = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 0])
    p = np.array([0.9, 0.1, 0.8, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1])
    row = metrics.net_benefit(y, p, [0.5])[0]
    assert row["model"] == pytest.approx(1 / 10 - 1 / 10 * 1.0)  # TP 1, FP 1 at odds 1
    assert row["treat_all"] == pytest.approx(0.2 - 0.8)
    assert row["treat_none"] == 0.0
    with pytest.raises(ValueError):
        metrics.net_benefit(y, p, [1.0])


def test_perfectly_calibrated_model_has_slope_one_and_overconfident_below_one() -> None:
    y, p = simulated(n=20000, seed=1)
    good = calibration(y, p)
    assert good.slope == pytest.approx(1.0, abs=0.06)
    assert abs(good.intercept) < 0.06
    assert abs(good.in_the_large) < 0.01
    assert good.ici < 0.015 and good.ece < 0.015
    y2, over = simulated(n=20000, seed=1, scale=1.6)
    bad = calibration(y2, over)
    assert bad.slope == pytest.approx(1 / 1.6, abs=0.06)  # overconfident: slope < 1
    assert bad.ici > good.ici


def test_reliability_bins_hold_equal_counts() -> None:
    y, p = simulated(n=1000, seed=3)
    rows = reliability(y, p, bins=10)
    assert [r["n"] for r in rows] == [100] * 10
    assert ece(y, p) == pytest.approx(sum(r["n"] * abs(r["mean_predicted"] - r["observed_rate"]) for r in rows) / 1000)


def test_cluster_bootstrap_interval_covers_the_estimate_and_widens_with_clusters() -> None:
    y, p = simulated(n=1500, seed=5)
    stays = metrics.cluster_bootstrap({"auroc": metrics.auroc}, y, p, samples=300, seed=1)["auroc"]
    assert stays.low < stays.value < stays.high and stays.samples == 300
    # Ten stays per "patient", each patient's stays identical copies: the honest interval is much wider.
    y10, p10 = np.repeat(y[:150], 10), np.repeat(p[:150], 10)
    patients = np.repeat(np.arange(150), 10)
    naive = metrics.cluster_bootstrap({"a": metrics.auroc}, y10, p10, samples=300, seed=1)["a"]
    grouped = metrics.cluster_bootstrap({"a": metrics.auroc}, y10, p10, patients, samples=300, seed=1)["a"]
    assert (grouped.high - grouped.low) > 2 * (naive.high - naive.low)
    # Same seed, same interval.
    again = metrics.cluster_bootstrap({"a": metrics.auroc}, y10, p10, patients, samples=300, seed=1)["a"]
    assert again == grouped


def test_bootstrap_aurocs_from_draw_counts_equal_aurocs_of_the_resampled_rows_to_the_bit() -> None:
    """``cluster_bootstrap`` computes ``auroc`` and ``AurocOf`` from how often each row was drawn; wrapped in a
    lambda, the same metric is computed on the resampled rows (the plain path). Scores rounded to two decimals
    (many ties), patients with one to four stays, a small sample (resamples with one class only are dropped)."""
    rng = np.random.default_rng(8)
    patients = np.repeat(np.arange(60), rng.integers(1, 5, 60))
    y = (rng.random(patients.size) < 0.3).astype(int)
    model = np.round(np.clip(0.3 * y + rng.random(patients.size) * 0.7, 0, 1), 2)
    comparator = rng.integers(0, 8, patients.size).astype(float)  # a LACE-like integer score: heavy ties
    both = np.column_stack([model, comparator])
    fast = {"auroc": metrics.auroc, "comparator": metrics.AurocOf(1), "difference": metrics.AurocOf(0, minus=1)}
    plain = {
        "auroc": lambda yy, pp: metrics.auroc(yy, pp[:, 0]),
        "comparator": lambda yy, pp: metrics.auroc(yy, pp[:, 1]),
        "difference": lambda yy, pp: metrics.auroc(yy, pp[:, 0]) - metrics.auroc(yy, pp[:, 1]),
    }
    for groups in (patients, None):
        one = metrics.cluster_bootstrap({"auroc": metrics.auroc}, y, model, groups, samples=400, seed=3)
        two = metrics.cluster_bootstrap({"auroc": plain["auroc"]}, y, both, groups, samples=400, seed=3)
        assert one["auroc"] == two["auroc"]
        paired = metrics.cluster_bootstrap({k: fast[k] for k in ("comparator", "difference")}, y, both, groups,
                                           samples=400, seed=3)  # fmt: skip
        reference = metrics.cluster_bootstrap({k: plain[k] for k in ("comparator", "difference")}, y, both, groups,
                                              samples=400, seed=3)  # fmt: skip
        assert paired == reference
        assert 0 < paired["difference"].samples <= 400
    # Tiny resamples with one class only are dropped the same way on both paths.
    few = metrics.cluster_bootstrap({"a": metrics.auroc}, y[:6], model[:6], samples=200, seed=1)["a"]
    assert few == metrics.cluster_bootstrap({"a": plain["auroc"]}, y[:6], both[:6], samples=200, seed=1)["a"]
    assert few.samples < 200
    # NaN scores take the plain path (NaN where a resample holds one).
    holed = model.copy()
    holed[0] = np.nan
    assert metrics.cluster_bootstrap({"a": metrics.auroc}, y, holed, samples=50, seed=1)["a"].samples < 50
