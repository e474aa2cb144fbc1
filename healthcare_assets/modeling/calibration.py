"""Calibration: do predicted probabilities match observed frequencies?

Definitions follow Van Calster et al. 2019 ("Calibration: the Achilles heel of predictive analytics") and
Austin & Steyerberg 2019 (ICI):

* calibration-in-the-large: observed event rate minus mean predicted probability (and their ratio O/E);
* calibration intercept: ``a`` in logit P(y=1) = a + logit(p) (slope fixed at 1; 0 is ideal);
* calibration slope: ``b`` in logit P(y=1) = a' + b * logit(p) (1 is ideal; < 1 means too extreme predictions,
  the usual sign of overfitting);
* ICI: mean absolute difference between p and a LOWESS-smoothed observed frequency at p;
* ECE: share-weighted mean |mean p - event rate| over equal-count bins of p.

The logistic fits use statsmodels' GLM (binomial, offset for the intercept), the smoother its LOWESS.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

EPS = 1e-6  # probabilities are clipped to [EPS, 1 - EPS] before taking logits


def logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(np.asarray(p, dtype=float), EPS, 1 - EPS)
    return np.log(q / (1 - q))


@dataclass(frozen=True)
class Calibration:
    observed_rate: float
    mean_predicted: float
    in_the_large: float  # observed - expected
    observed_expected_ratio: float
    intercept: float
    slope: float
    ici: float
    ece: float
    ece_bins: int

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def calibration_intercept_slope(y: Sequence | np.ndarray, p: Sequence | np.ndarray) -> tuple[float, float]:
    """(intercept with the slope fixed at 1, slope) of the logistic recalibration of ``y`` on logit(p)."""
    import statsmodels.api as sm

    y_arr = np.asarray(y, dtype=float)
    lp = logit(p)
    if y_arr.size < 3 or y_arr.min() == y_arr.max():
        return float("nan"), float("nan")
    family = sm.families.Binomial()
    intercept = sm.GLM(y_arr, np.ones((y_arr.size, 1)), family=family, offset=lp).fit().params[0]
    slope = sm.GLM(y_arr, sm.add_constant(lp, has_constant="add"), family=family).fit().params[1]
    return float(intercept), float(slope)


def smoothed_observed(y: Sequence | np.ndarray, p: Sequence | np.ndarray, frac: float = 2 / 3) -> np.ndarray:
    """LOWESS estimate of P(y=1 | p) at each p (clipped to [0, 1]), in the input order."""
    from statsmodels.nonparametric.smoothers_lowess import lowess

    y_arr = np.asarray(y, dtype=float)
    p_arr = np.asarray(p, dtype=float)
    # delta: points closer than 1% of the range reuse their neighbour's local fit (linear interpolation), which
    # makes the smoother near-linear in n with no visible change to the curve.
    delta = 0.01 * float(np.ptp(p_arr)) if p_arr.size else 0.0
    fitted = lowess(y_arr, p_arr, frac=frac, it=0, delta=delta, return_sorted=False)
    return np.clip(fitted, 0.0, 1.0)


def ici(y: Sequence | np.ndarray, p: Sequence | np.ndarray) -> float:
    """Integrated calibration index: mean |p - smoothed observed frequency at p|."""
    p_arr = np.asarray(p, dtype=float)
    if p_arr.size < 3:
        return float("nan")
    return float(np.mean(np.abs(p_arr - smoothed_observed(y, p_arr))))


def equal_count_bins(p: np.ndarray, bins: int) -> np.ndarray:
    """Bin index (0..bins-1) of each prediction, bins holding as equal counts as ties allow."""
    ranks = np.argsort(np.argsort(p, kind="mergesort"), kind="mergesort")
    return np.minimum((ranks * bins) // max(p.size, 1), bins - 1)


def reliability(y: Sequence | np.ndarray, p: Sequence | np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    """Per equal-count bin: count, mean predicted probability, observed event rate."""
    y_arr = np.asarray(y, dtype=float)
    p_arr = np.asarray(p, dtype=float)
    which = equal_count_bins(p_arr, bins)
    rows = []
    for b in range(bins):
        mask = which == b
        if mask.any():
            rows.append(
                {
                    "bin": b,
                    "n": int(mask.sum()),
                    "mean_predicted": float(p_arr[mask].mean()),
                    "observed_rate": float(y_arr[mask].mean()),
                }
            )
    return rows


def ece(y: Sequence | np.ndarray, p: Sequence | np.ndarray, bins: int = 10) -> float:
    rows = reliability(y, p, bins)
    n = sum(r["n"] for r in rows)
    if not n:
        return float("nan")
    return float(sum(r["n"] * abs(r["mean_predicted"] - r["observed_rate"]) for r in rows) / n)


def calibration(y: Sequence | np.ndarray, p: Sequence | np.ndarray, bins: int = 10) -> Calibration:
    y_arr = np.asarray(y, dtype=float)
    p_arr = np.asarray(p, dtype=float)
    observed = float(y_arr.mean()) if y_arr.size else float("nan")
    expected = float(p_arr.mean()) if p_arr.size else float("nan")
    intercept, slope = calibration_intercept_slope(y_arr, p_arr)
    return Calibration(
        observed_rate=observed,
        mean_predicted=expected,
        in_the_large=observed - expected,
        observed_expected_ratio=observed / expected if expected else float("nan"),
        intercept=intercept,
        slope=slope,
        ici=ici(y_arr, p_arr),
        ece=ece(y_arr, p_arr, bins),
        ece_bins=bins,
    )
