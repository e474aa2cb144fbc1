"""Discrimination and clinical-utility metrics over arrays: AUROC, AUPRC, Brier, operating points, net benefit,
and patient-clustered bootstrap confidence intervals.

Plain NumPy. Every function takes ``y`` (0/1) and ``p`` (a probability or
a score, higher = more likely an event) and refuses inputs it cannot judge (one class only, NaN scores) with
NaN rather than a misleading number.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

Metric = Callable[[np.ndarray, np.ndarray], float]


def _arrays(y: Sequence | np.ndarray, p: Sequence | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y_arr = np.asarray(y, dtype=float).ravel()
    p_arr = np.asarray(p, dtype=float).ravel()
    if y_arr.shape != p_arr.shape:
        raise ValueError(f"labels and scores differ in length: {y_arr.size} vs {p_arr.size}")
    if y_arr.size and not np.isin(y_arr, (0.0, 1.0)).all():
        raise ValueError("labels must be 0 or 1")
    return y_arr.astype(bool), p_arr


class _MannWhitney:
    """AUROC as the Mann-Whitney U statistic of rows drawn ``weights`` times each (all ones: ``auroc``), with the
    rows sorted once: a bootstrap resample is scored from its draw counts without sorting it again.

    U is the sum, over the tie groups of scores, of the drawn events there times (drawn non-events below + half
    those tied): integer and half-integer sums, exact in float64 at any cohort size this handles (under 2**53),
    so a resample's value is the same to the last bit as that of its rows listed out (tested).
    """

    def __init__(self, y: np.ndarray, s: np.ndarray) -> None:
        self.order = np.argsort(s, kind="mergesort")
        self.event = y[self.order]
        self.groups = np.concatenate(([0], np.flatnonzero(np.diff(s[self.order])) + 1))

    def __call__(self, weights: np.ndarray) -> float:
        drawn = weights[self.order]
        events = np.add.reduceat(np.where(self.event, drawn, 0.0), self.groups)
        others = np.add.reduceat(np.where(self.event, 0.0, drawn), self.groups)
        n_pos, n_neg = events.sum(), others.sum()
        if n_pos == 0 or n_neg == 0:
            return float("nan")
        u = float(np.sum(events * (np.cumsum(others) - others + 0.5 * others)))
        return float(u / (n_pos * n_neg))


def auroc(y: Sequence | np.ndarray, p: Sequence | np.ndarray) -> float:
    """Area under the ROC curve: the Mann-Whitney U statistic with average ranks for ties; NaN with one class."""
    yb, s = _arrays(y, p)
    n_pos = int(yb.sum())
    if n_pos == 0 or n_pos == yb.size or np.isnan(s).any():
        return float("nan")
    return _MannWhitney(yb, s)(np.ones(s.size))


def auprc(y: Sequence | np.ndarray, p: Sequence | np.ndarray) -> float:
    """Area under the precision-recall curve as average precision: sum over distinct thresholds (highest first)
    of the recall gained times the precision there (step-wise, no interpolation; as scikit-learn's
    ``average_precision_score``)."""
    yb, s = _arrays(y, p)
    if yb.all() or not yb.any() or np.isnan(s).any():
        return float("nan")
    _, tp, fp = _counts_by_threshold(yb, s)
    tp, fp = tp[::-1], fp[::-1]  # highest threshold first
    recall = tp / yb.sum()
    precision = tp / (tp + fp)
    return float(np.sum(np.diff(np.concatenate(([0.0], recall))) * precision))


def brier(y: Sequence | np.ndarray, p: Sequence | np.ndarray) -> float:
    """Mean squared difference between the predicted probability and the outcome."""
    yb, s = _arrays(y, p)
    return float(np.mean((s - yb) ** 2)) if yb.size else float("nan")


def scaled_brier(y: Sequence | np.ndarray, p: Sequence | np.ndarray) -> float:
    """1 - Brier / Brier of always predicting the event rate (0 = no better than the rate, 1 = perfect)."""
    yb, s = _arrays(y, p)
    rate = yb.mean() if yb.size else float("nan")
    reference = rate * (1 - rate)
    if not reference:
        return float("nan")
    return float(1.0 - brier(yb, s) / reference)


@dataclass(frozen=True)
class OperatingPoint:
    """The confusion counts and rates of flagging every score >= threshold."""

    threshold: float
    tp: int
    fp: int
    tn: int
    fn: int

    @property
    def sensitivity(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else float("nan")

    @property
    def specificity(self) -> float:
        return self.tn / (self.tn + self.fp) if self.tn + self.fp else float("nan")

    @property
    def ppv(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else float("nan")

    @property
    def npv(self) -> float:
        return self.tn / (self.tn + self.fn) if self.tn + self.fn else float("nan")

    @property
    def flagged_rate(self) -> float:
        n = self.tp + self.fp + self.tn + self.fn
        return (self.tp + self.fp) / n if n else float("nan")

    def as_dict(self) -> dict[str, float | int]:
        return {
            "threshold": self.threshold,
            "sensitivity": self.sensitivity,
            "specificity": self.specificity,
            "ppv": self.ppv,
            "npv": self.npv,
            "flagged_rate": self.flagged_rate,
            "tp": self.tp,
            "fp": self.fp,
            "tn": self.tn,
            "fn": self.fn,
        }


def operating_point(y: Sequence | np.ndarray, p: Sequence | np.ndarray, threshold: float) -> OperatingPoint:
    yb, s = _arrays(y, p)
    flagged = s >= threshold
    return OperatingPoint(
        threshold=float(threshold),
        tp=int((flagged & yb).sum()),
        fp=int((flagged & ~yb).sum()),
        tn=int((~flagged & ~yb).sum()),
        fn=int((~flagged & yb).sum()),
    )


def threshold_table(
    y: Sequence | np.ndarray, p: Sequence | np.ndarray, thresholds: Sequence[float]
) -> list[dict[str, float | int]]:
    """Sensitivity, specificity, PPV, NPV, share flagged and counts at each threshold."""
    return [operating_point(y, p, t).as_dict() for t in thresholds]


def sensitivity_at_specificity(
    y: Sequence | np.ndarray, p: Sequence | np.ndarray, specificity: float = 0.90
) -> OperatingPoint:
    """The most sensitive threshold whose specificity is at least ``specificity`` (tied scores flag together)."""
    yb, s = _arrays(y, p)
    thresholds, tp, fp = _counts_by_threshold(yb, s)
    n_pos, n_neg = int(yb.sum()), int((~yb).sum())
    spec = (n_neg - fp) / n_neg if n_neg else np.full(thresholds.size, np.nan)
    qualifying = np.flatnonzero(spec >= specificity)  # thresholds ascend: the first qualifying is the most sensitive
    if not qualifying.size:
        return OperatingPoint(float("inf"), 0, 0, n_neg, n_pos)
    i = qualifying[0]
    return OperatingPoint(float(thresholds[i]), int(tp[i]), int(fp[i]), int(n_neg - fp[i]), int(n_pos - tp[i]))


def specificity_at_sensitivity(
    y: Sequence | np.ndarray, p: Sequence | np.ndarray, sensitivity: float = 0.90
) -> OperatingPoint:
    """The most specific threshold whose sensitivity is at least ``sensitivity``."""
    yb, s = _arrays(y, p)
    thresholds, tp, fp = _counts_by_threshold(yb, s)
    n_pos, n_neg = int(yb.sum()), int((~yb).sum())
    sens = tp / n_pos if n_pos else np.full(thresholds.size, np.nan)
    qualifying = np.flatnonzero(sens >= sensitivity)  # sensitivity falls as thresholds ascend: take the last
    if not qualifying.size:
        return OperatingPoint(float("-inf"), n_pos, n_neg, 0, 0)
    i = qualifying[-1]
    return OperatingPoint(float(thresholds[i]), int(tp[i]), int(fp[i]), int(n_neg - fp[i]), int(n_pos - tp[i]))


def _counts_by_threshold(yb: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every distinct score as a threshold (ascending) and the events / non-events scoring at least that much."""
    thresholds = np.unique(s[~np.isnan(s)])
    pos = np.sort(s[yb])
    neg = np.sort(s[~yb])
    tp = pos.size - np.searchsorted(pos, thresholds, side="left")
    fp = neg.size - np.searchsorted(neg, thresholds, side="left")
    return thresholds, tp, fp


def net_benefit(y: Sequence | np.ndarray, p: Sequence | np.ndarray, thresholds: Sequence[float]) -> list[dict]:
    """Decision-curve analysis (Vickers & Elkin 2006): the model's net benefit at each threshold probability
    next to treating everyone and no one. NB = TP/n - FP/n * pt / (1 - pt)."""
    yb, s = _arrays(y, p)
    n = yb.size
    rate = yb.mean() if n else float("nan")
    rows = []
    for t in thresholds:
        if not 0.0 < t < 1.0:
            raise ValueError(f"decision-curve thresholds must lie in (0, 1), got {t}")
        point = operating_point(yb, s, t)
        odds = t / (1.0 - t)
        rows.append(
            {
                "threshold": float(t),
                "model": (point.tp - point.fp * odds) / n if n else float("nan"),
                "treat_all": rate - (1.0 - rate) * odds,
                "treat_none": 0.0,
            }
        )
    return rows


@dataclass(frozen=True)
class Estimate:
    """A point estimate with a percentile bootstrap interval."""

    value: float
    low: float
    high: float
    samples: int

    def as_dict(self) -> dict[str, float | int]:
        return {"value": self.value, "ci_low": self.low, "ci_high": self.high, "bootstrap_samples": self.samples}


@dataclass(frozen=True)
class AurocOf:
    """The AUROC of column ``column`` of a 2-D score array, less that of column ``minus`` when given (a paired
    difference): what ``cluster_bootstrap`` computes from resampling weights, like ``auroc`` itself."""

    column: int
    minus: int | None = None

    def __call__(self, y: Sequence | np.ndarray, p: Sequence | np.ndarray) -> float:
        scores = np.asarray(p, dtype=float)
        value = auroc(y, scores[:, self.column])
        return value if self.minus is None else value - auroc(y, scores[:, self.minus])


def _by_weights(metric: Metric, y: np.ndarray, s: np.ndarray) -> Callable[[np.ndarray], float] | None:
    """``metric`` as a function of resampling weights, when it is an AUROC (``auroc`` on 1-D scores, or
    ``AurocOf``) over scores without NaN; None otherwise (the metric is then called on the resampled rows)."""
    if np.isnan(s).any():
        return None
    yb = y.astype(bool)
    if metric is auroc and s.ndim == 1:
        return _MannWhitney(yb, s)
    if isinstance(metric, AurocOf) and s.ndim == 2:
        first = _MannWhitney(yb, s[:, metric.column])
        if metric.minus is None:
            return first
        second = _MannWhitney(yb, s[:, metric.minus])
        return lambda w: first(w) - second(w)
    return None


def cluster_bootstrap(
    metrics: dict[str, Metric],
    y: Sequence | np.ndarray,
    p: Sequence | np.ndarray,
    groups: Sequence | np.ndarray | None = None,
    samples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, Estimate]:
    """Percentile bootstrap intervals for several metrics, resampling PATIENTS (all their stays together) when
    ``groups`` is given: stays of one patient are correlated, so resampling stays would make the intervals too
    narrow. ``p`` may be 2-D (one column per score, for paired comparisons); each metric gets the resampled
    rows. Resamples where a metric is undefined (one class only) are dropped for that metric. AUROCs (``auroc``,
    ``AurocOf``) are computed from how often each row was drawn, without sorting each resample: the same values
    (see ``_MannWhitney``), several times faster (the validation step sorted ~4,000 resamples of each score)."""
    yb = np.asarray(y, dtype=float).ravel()
    s = np.asarray(p, dtype=float)
    if s.shape[0] != yb.size:
        raise ValueError(f"labels and scores differ in length: {yb.size} vs {s.shape[0]}")
    if groups is None:
        groups = np.arange(yb.size)
    codes, index = np.unique(np.asarray(groups), return_inverse=True)
    order = np.argsort(index, kind="mergesort")
    counts = np.bincount(index, minlength=codes.size)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {name: [] for name in metrics}
    weighted = {name: _by_weights(metric, yb, s) for name, metric in metrics.items()}
    for _ in range(samples):
        chosen = rng.integers(0, codes.size, codes.size)
        sizes = counts[chosen]
        # Every chosen patient's stays: its first position repeated, plus 0..size-1 within the patient.
        within = np.arange(sizes.sum()) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        rows = order[np.repeat(starts[chosen], sizes) + within]
        # How often each row was drawn: a row's patient's draws (all of a patient's stays come together).
        weights = np.bincount(rows, minlength=yb.size).astype(float) if any(weighted.values()) else None
        for name, metric in metrics.items():
            by_weights = weighted[name]
            value = metric(yb[rows], s[rows]) if by_weights is None else by_weights(weights)
            if not np.isnan(value):
                draws[name].append(value)
    alpha = (1.0 - level) / 2.0
    out = {}
    for name, metric in metrics.items():
        values = np.asarray(draws[name])
        low, high = np.quantile(values, [alpha, 1.0 - alpha]) if values.size else (float("nan"), float("nan"))
        out[name] = Estimate(float(metric(yb, s)), float(low), float(high), int(values.size))
    return out
