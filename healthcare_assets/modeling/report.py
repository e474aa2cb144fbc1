"""The validation report: every number the clinical review board reads, computed on the held-out test split,
plus the gate's verdict. A plain JSON-able dict (NaN written as null), also written as ``validation_report.json``.

Top-level keys include ``auroc``, ``auroc_ci``, ``calibration_slope``, ``lace_auroc``, ``oracle_auroc`` (null
when the data has no known truth) and ``gate`` (``passed`` plus each criterion).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from healthcare_assets.modeling import metrics
from healthcare_assets.modeling.calibration import calibration, calibration_intercept_slope, reliability
from healthcare_assets.modeling.fairness import subgroup_performance
from healthcare_assets.modeling.gate import GateCriteria, evaluate

REPORT_VERSION = 1
THRESHOLDS = (0.05, 0.10, 0.15, 0.20, 0.25, 0.30, 0.40, 0.50)
DECISION_THRESHOLDS = tuple(round(x, 2) for x in np.arange(0.01, 0.61, 0.01))


@dataclass(frozen=True)
class ReportSettings:
    bootstrap_samples: int = 1000
    seed: int = 42
    # A subgroup is judged against the gate's 0.05 disparity limit only with at least this many events and
    # non-events: its AUROC's standard error is then about 0.02 (Hanley & McNeil, AUROC ~0.9), so two equal
    # subgroups differ by more than 0.05 by chance about 6% of the time; with 20 events (SE ~0.04) it is ~40%,
    # a coin flip. Smaller subgroups are reported with their intervals and listed as not assessed.
    min_subgroup_events: int = 100
    thresholds: tuple[float, ...] = THRESHOLDS


@dataclass
class HeldOutPredictions:
    """The test split's stays, aligned: labels, the model's probabilities, subgroups and comparators."""

    y: np.ndarray
    p: np.ndarray
    patients: np.ndarray
    subgroups: Mapping[str, np.ndarray]
    comparators: Mapping[str, np.ndarray]  # e.g. lace_score; NaN where missing
    oracle: np.ndarray | None = None  # the generator's true probability; NaN where unknown


def jsonable(value: Any) -> Any:
    """NaN and infinities become None, NumPy scalars plain Python: the report must be strict JSON."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def _sens90(y: np.ndarray, p: np.ndarray) -> float:
    return metrics.sensitivity_at_specificity(y, p, 0.90).sensitivity


def _spec90(y: np.ndarray, p: np.ndarray) -> float:
    return metrics.specificity_at_sensitivity(y, p, 0.90).specificity


def _comparator(name: str, data: HeldOutPredictions, settings: ReportSettings) -> dict[str, Any]:
    """The comparator's AUROC on the stays where it is known, and the model's AUROC minus it (paired)."""
    score = np.asarray(data.comparators[name], dtype=float)
    keep = ~np.isnan(score)
    out: dict[str, Any] = {"stays": int(keep.sum()), "auroc": None, "auroc_ci": None, "model_minus_comparator": None}
    y, p = data.y[keep], data.p[keep]
    if keep.sum() < 2 or len(set(y.tolist())) < 2:
        return out
    both = np.column_stack([p, score[keep]])
    boot = metrics.cluster_bootstrap(
        {
            "comparator": metrics.AurocOf(1),
            "difference": metrics.AurocOf(0, minus=1),
        },
        y,
        both,
        data.patients[keep],
        samples=settings.bootstrap_samples,
        seed=settings.seed,
    )
    out["auroc"] = boot["comparator"].value
    out["auroc_ci"] = [boot["comparator"].low, boot["comparator"].high]
    out["model_minus_comparator"] = boot["difference"].as_dict()
    return out


def build_report(
    data: HeldOutPredictions,
    cv: Mapping[str, Any],
    criteria: GateCriteria,
    settings: ReportSettings = ReportSettings(),
) -> dict[str, Any]:
    """The whole report. ``cv`` carries the chosen candidate's cross-validation (``auroc_std``, ``auroc_mean``,
    ``folds``) from training."""
    y = np.asarray(data.y, dtype=int)
    p = np.asarray(data.p, dtype=float)
    boot = metrics.cluster_bootstrap(
        {"auroc": metrics.auroc, "auprc": metrics.auprc, "sens90": _sens90, "spec90": _spec90, "brier": metrics.brier},
        y,
        p,
        data.patients,
        samples=settings.bootstrap_samples,
        seed=settings.seed,
    )
    cal = calibration(y, p)
    at_spec = metrics.sensitivity_at_specificity(y, p, 0.90)
    at_sens = metrics.specificity_at_sensitivity(y, p, 0.90)
    rows, disparities = subgroup_performance(
        y,
        p,
        data.subgroups,
        data.patients,
        min_events=settings.min_subgroup_events,
        bootstrap_samples=max(200, settings.bootstrap_samples // 2),
        seed=settings.seed,
    )
    comparators = {name: _comparator(name, data, settings) for name in data.comparators}
    oracle = _oracle(data)
    gate = evaluate(
        criteria,
        auroc=boot["auroc"].value,
        sensitivity_at_90_specificity=at_spec.sensitivity,
        calibration_slope=cal.slope,
        subgroup_disparities={d.attribute: d.value for d in disparities},
        cv_auroc_std=cv.get("auroc_std"),
    )
    report = {
        "report_version": REPORT_VERSION,
        "test": {
            "stays": int(y.size),
            "patients": int(len(set(np.asarray(data.patients).tolist()))),
            "events": int(y.sum()),
            "event_rate": float(y.mean()) if y.size else None,
        },
        "auroc": boot["auroc"].value,
        "auroc_ci": [boot["auroc"].low, boot["auroc"].high],
        "auprc": boot["auprc"].value,
        "auprc_ci": [boot["auprc"].low, boot["auprc"].high],
        "brier": metrics.brier(y, p),
        "brier_ci": [boot["brier"].low, boot["brier"].high],
        "scaled_brier": metrics.scaled_brier(y, p),
        "calibration_slope": cal.slope,
        "calibration_intercept": cal.intercept,
        "calibration_in_the_large": cal.in_the_large,
        "calibration": cal.as_dict(),
        "reliability": reliability(y, p),
        "sensitivity_at_90_specificity": {
            **at_spec.as_dict(),
            "ci": [boot["sens90"].low, boot["sens90"].high],
        },
        "specificity_at_90_sensitivity": {
            **at_sens.as_dict(),
            "ci": [boot["spec90"].low, boot["spec90"].high],
        },
        "threshold_table": metrics.threshold_table(y, p, settings.thresholds),
        "decision_curve": metrics.net_benefit(y, p, DECISION_THRESHOLDS),
        "subgroups": [r.as_dict() for r in rows],
        "subgroup_disparity": {d.attribute: d.as_dict() for d in disparities},
        "min_subgroup_events": settings.min_subgroup_events,
        "cv": dict(cv),
        "cv_auroc_std": cv.get("auroc_std"),
        "comparators": comparators,
        "lace_auroc": comparators.get("lace_score", {}).get("auroc"),
        "lace_auroc_ci": comparators.get("lace_score", {}).get("auroc_ci"),
        "oracle_auroc": oracle["oracle_auroc"],
        "oracle": oracle,
        "bootstrap": {"samples": settings.bootstrap_samples, "seed": settings.seed, "resampling": "patients"},
        "gate": gate.as_dict(),
    }
    return jsonable(report)


def _oracle(data: HeldOutPredictions) -> dict[str, Any]:
    """AUROC of the generator's true probabilities on the test stays that have them (synthetic data only), next
    to the model's AUROC on the same stays and their ratio; and the true probabilities' calibration slope there:
    perfectly calibrated by construction, so its distance from 1 is what this test sample alone does to a slope
    (at 20,000 patients it ranged 0.93-1.06 over eight splits of one cohort)."""
    empty = {
        "oracle_auroc": None, "coverage": 0.0, "stays": 0, "model_auroc_same_stays": None, "model_to_oracle": None,
        "oracle_calibration_slope": None,
    }  # fmt: skip
    if data.oracle is None:
        return empty
    truth = np.asarray(data.oracle, dtype=float)
    keep = ~np.isnan(truth)
    if not keep.any():
        return empty
    oracle_auroc = metrics.auroc(data.y[keep], truth[keep])
    model_auroc = metrics.auroc(data.y[keep], data.p[keep])
    return {
        "oracle_auroc": oracle_auroc,
        "coverage": float(keep.mean()),
        "stays": int(keep.sum()),
        "model_auroc_same_stays": model_auroc,
        "model_to_oracle": model_auroc / oracle_auroc if oracle_auroc else None,
        "oracle_calibration_slope": calibration_intercept_slope(data.y[keep], truth[keep])[1],
    }


def headline(report: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The report's key lines as (label, text), for the UI and the model card."""

    def f(value: Any, digits: int = 3) -> str:
        return "n/a" if value is None else f"{value:.{digits}f}"

    def ci(pair: Sequence[Any] | None) -> str:
        return "" if not pair or pair[0] is None else f" (95% CI {pair[0]:.3f}-{pair[1]:.3f})"

    s90 = report["sensitivity_at_90_specificity"]
    sp90 = report["specificity_at_90_sensitivity"]
    return [
        ("AUROC", f(report["auroc"]) + ci(report["auroc_ci"])),
        ("AUPRC", f(report["auprc"]) + ci(report["auprc_ci"])),
        ("Brier / scaled Brier", f"{f(report['brier'], 4)} / {f(report['scaled_brier'])}"),
        (
            "Calibration slope / intercept / in-the-large",
            f"{f(report['calibration_slope'])} / {f(report['calibration_intercept'])} / "
            f"{f(report['calibration_in_the_large'], 4)}",
        ),
        ("ICI / ECE", f"{f(report['calibration']['ici'], 4)} / {f(report['calibration']['ece'], 4)}"),
        ("Sensitivity at 90% specificity", f"{f(s90['sensitivity'])} at threshold {f(s90['threshold'], 4)}"),
        ("Specificity at 90% sensitivity", f"{f(sp90['specificity'])} at threshold {f(sp90['threshold'], 4)}"),
        ("CV AUROC (mean +/- SD)", f"{f(report['cv'].get('auroc_mean'))} +/- {f(report['cv_auroc_std'])}"),
        ("LACE AUROC (same stays)", f(report["lace_auroc"]) + ci(report["lace_auroc_ci"])),
        (
            "Oracle AUROC / calibration slope (true probabilities, same stays)",
            f"{f(report['oracle_auroc'])} / {f(report['oracle'].get('oracle_calibration_slope'))}",
        ),
    ]
