"""Prediction distribution shift against the reference, and the batch's performance once its labels matured.

A label is usable only when ``observed`` (30 days of follow-up after discharge are in the data); pending labels
are never negatives. AUROC and calibration on a batch are reported only with at least ``min_events`` outcomes and
as many non-outcomes (a batch AUROC from a handful of events is noise, and must not trigger retraining).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from healthcare_assets.modeling.calibration import calibration_intercept_slope
from healthcare_assets.modeling.metrics import auroc, brier

QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
DEFAULT_MIN_EVENTS = 50


@dataclass(frozen=True)
class PredictionShift:
    reference_mean: float
    batch_mean: float
    relative_mean_shift: float  # (batch - reference) / reference
    reference_quantiles: dict[str, float]
    batch_quantiles: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        return {
            "reference_mean": round(self.reference_mean, 5),
            "batch_mean": round(self.batch_mean, 5),
            "relative_mean_shift": round(self.relative_mean_shift, 5),
            "reference_quantiles": self.reference_quantiles,
            "batch_quantiles": self.batch_quantiles,
        }


@dataclass(frozen=True)
class LabelledPerformance:
    observed: int
    events: int
    evaluable: bool
    auroc: float | None = None
    brier: float | None = None
    observed_rate: float | None = None
    expected_rate: float | None = None
    calibration_intercept: float | None = None
    calibration_slope: float | None = None
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        def r(v: float | None) -> float | None:
            return None if v is None or not np.isfinite(v) else round(float(v), 5)

        return {
            "observed_labels": self.observed,
            "events": self.events,
            "evaluable": self.evaluable,
            "auroc": r(self.auroc),
            "brier": r(self.brier),
            "observed_rate": r(self.observed_rate),
            "expected_rate": r(self.expected_rate),
            "calibration_intercept": r(self.calibration_intercept),
            "calibration_slope": r(self.calibration_slope),
            "reason": self.reason,
        }


def _quantiles(p: np.ndarray) -> dict[str, float]:
    return {f"p{int(q * 100)}": round(float(v), 5) for q, v in zip(QUANTILES, np.quantile(p, QUANTILES), strict=True)}


def prediction_shift(reference: np.ndarray, batch: np.ndarray) -> PredictionShift:
    reference, batch = np.asarray(reference, dtype=float), np.asarray(batch, dtype=float)
    if reference.size == 0 or batch.size == 0:
        raise ValueError("prediction shift needs predictions on both the reference and the batch")
    ref_mean, batch_mean = float(reference.mean()), float(batch.mean())
    relative = (batch_mean - ref_mean) / ref_mean if ref_mean > 0 else float("inf")
    return PredictionShift(ref_mean, batch_mean, relative, _quantiles(reference), _quantiles(batch))


def labelled_performance(
    y: np.ndarray, p: np.ndarray, observed: np.ndarray, min_events: int = DEFAULT_MIN_EVENTS
) -> LabelledPerformance:
    """AUROC, Brier and calibration (observed vs expected rate, intercept and slope) on the observed labels."""
    mask = np.asarray(observed, dtype=bool)
    y_obs = np.asarray(y, dtype=float)[mask].astype(int)
    p_obs = np.asarray(p, dtype=float)[mask]
    events = int(y_obs.sum())
    non_events = int(y_obs.size - events)
    if events < min_events or non_events < min_events:
        return LabelledPerformance(
            int(y_obs.size),
            events,
            False,
            reason=f"{events} outcomes and {non_events} non-outcomes with observed labels; "
            f"{min_events} of each are needed",
        )
    intercept, slope = calibration_intercept_slope(y_obs, p_obs)
    return LabelledPerformance(
        observed=int(y_obs.size),
        events=events,
        evaluable=True,
        auroc=auroc(y_obs, p_obs),
        brier=brier(y_obs, p_obs),
        observed_rate=float(y_obs.mean()),
        expected_rate=float(p_obs.mean()),
        calibration_intercept=intercept,
        calibration_slope=slope,
    )
