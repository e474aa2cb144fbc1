"""The clinical validation gate: the criteria a model must meet on the held-out test split before anyone may
promote it.

Defaults are the seed's thresholds (Stage 5 of the seed article): AUROC >= 0.85, sensitivity at 90% specificity
>= 0.70, calibration slope within 0.8-1.2, subgroup AUROC disparity < 0.05, CV AUROC standard deviation < 0.03.
Each use case may override them (``USE_CASE_GATES``), and a run may override those again (asset config). A
criterion that cannot be evaluated (too few events in a subgroup, a metric undefined) FAILS, with the reason:
missing evidence is not a pass.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace


@dataclass(frozen=True)
class GateCriteria:
    min_auroc: float = 0.85
    min_sensitivity_at_90_specificity: float = 0.70
    min_calibration_slope: float = 0.8
    max_calibration_slope: float = 1.2
    max_subgroup_auroc_disparity: float = 0.05  # strictly below
    max_cv_auroc_std: float = 0.03  # strictly below

    def with_overrides(self, overrides: Mapping[str, float | None]) -> GateCriteria:
        known = {f.name for f in fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ValueError(f"unknown gate criteria {unknown}; known: {sorted(known)}")
        return replace(self, **{k: float(v) for k, v in overrides.items() if v is not None})

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


SEED_GATE = GateCriteria()
# Per use case (the registered model's name). A use case not listed gets the seed's gate.
USE_CASE_GATES: dict[str, GateCriteria] = {"readmission_30d": SEED_GATE}


def criteria_for(use_case: str, overrides: Mapping[str, float | None] | None = None) -> GateCriteria:
    return USE_CASE_GATES.get(use_case, SEED_GATE).with_overrides(overrides or {})


@dataclass(frozen=True)
class Criterion:
    name: str
    value: float | None
    requirement: str
    passed: bool
    note: str = ""

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class GateResult:
    criteria: GateCriteria
    results: tuple[Criterion, ...]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.results)

    @property
    def failed(self) -> list[Criterion]:
        return [c for c in self.results if not c.passed]

    def summary(self) -> str:
        if self.passed:
            return "all criteria met: " + "; ".join(f"{c.name} {_fmt(c.value)} ({c.requirement})" for c in self.results)
        return "FAILED: " + "; ".join(
            f"{c.name} {_fmt(c.value)} (needs {c.requirement})" + (f": {c.note}" if c.note else "") for c in self.failed
        )

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"passed": self.passed, "thresholds": self.criteria.as_dict()}
        for c in self.results:
            out[c.name] = c.as_dict()
        return out


def _fmt(value: float | None) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"


def _defined(value: float | None) -> bool:
    return value is not None and not math.isnan(value)


def evaluate(
    criteria: GateCriteria,
    *,
    auroc: float | None,
    sensitivity_at_90_specificity: float | None,
    calibration_slope: float | None,
    subgroup_disparities: Mapping[str, float | None],
    cv_auroc_std: float | None,
) -> GateResult:
    """Judge every criterion; ``subgroup_disparities`` maps each subgroup column to its disparity (NaN or None
    when fewer than two of its subgroups could be assessed)."""
    results = []

    def at_least(name: str, value: float | None, bound: float) -> None:
        ok = _defined(value) and value >= bound
        results.append(Criterion(name, value, f">= {bound:g}", ok, "" if _defined(value) else "not evaluable"))

    at_least("auroc", auroc, criteria.min_auroc)
    at_least("sensitivity_at_90_specificity", sensitivity_at_90_specificity, criteria.min_sensitivity_at_90_specificity)
    lo, hi = criteria.min_calibration_slope, criteria.max_calibration_slope
    slope_ok = _defined(calibration_slope) and lo <= calibration_slope <= hi
    results.append(
        Criterion(
            "calibration_slope", calibration_slope, f"{lo:g} to {hi:g}", slope_ok,
            "" if _defined(calibration_slope) else "not evaluable",
        )
    )  # fmt: skip
    unknown = sorted(name for name, value in subgroup_disparities.items() if not _defined(value))
    known = {name: value for name, value in subgroup_disparities.items() if _defined(value)}
    worst = max(known.values()) if known else None
    worst_by = max(known, key=known.get) if known else None
    disparity_ok = bool(subgroup_disparities) and not unknown and worst < criteria.max_subgroup_auroc_disparity
    notes = []
    if worst_by is not None:
        notes.append(f"largest by {worst_by}")
    if unknown:
        notes.append(f"not evaluable for {', '.join(unknown)} (fewer than two subgroups with enough events)")
    if not subgroup_disparities:
        notes.append("no subgroup columns")
    results.append(
        Criterion(
            "subgroup_auroc_disparity", worst, f"< {criteria.max_subgroup_auroc_disparity:g}", disparity_ok,
            "; ".join(notes),
        )
    )  # fmt: skip
    std_ok = _defined(cv_auroc_std) and cv_auroc_std < criteria.max_cv_auroc_std
    results.append(
        Criterion(
            "cv_auroc_std", cv_auroc_std, f"< {criteria.max_cv_auroc_std:g}", std_ok,
            "" if _defined(cv_auroc_std) else "not evaluable",
        )
    )  # fmt: skip
    return GateResult(criteria, tuple(results))
