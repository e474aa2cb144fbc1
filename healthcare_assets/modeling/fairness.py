"""Subgroup performance: AUROC (with a patient-clustered bootstrap interval) per value of each subgroup column,
and the disparity (highest minus lowest AUROC) per column.

A subgroup with fewer than ``min_events`` events or non-events is reported but not assessed: its AUROC is too
noisy to compare with a 0.05 limit (with 20 events its 95% interval is about +/-0.08 wide, with 100 about
+/-0.04) and it does not enter the disparity. The report and the model card list such subgroups, so the gap in
evidence is visible rather than hidden; and a column with fewer than two assessed subgroups fails the gate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from healthcare_assets.modeling.metrics import auroc, cluster_bootstrap

MISSING = "(missing)"


@dataclass(frozen=True)
class SubgroupRow:
    attribute: str
    group: str
    n: int
    events: int
    event_rate: float
    auroc: float
    ci_low: float
    ci_high: float
    assessed: bool

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class Disparity:
    attribute: str
    value: float  # max - min AUROC over assessed subgroups; NaN with fewer than two
    highest: str | None
    lowest: str | None
    assessed_groups: int
    unassessed_groups: list[str]

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def subgroup_performance(
    y: Sequence | np.ndarray,
    p: Sequence | np.ndarray,
    attributes: Mapping[str, Sequence | np.ndarray],
    patients: Sequence | np.ndarray | None = None,
    min_events: int = 100,
    bootstrap_samples: int = 500,
    seed: int = 0,
) -> tuple[list[SubgroupRow], list[Disparity]]:
    y_arr = np.asarray(y, dtype=int)
    p_arr = np.asarray(p, dtype=float)
    groups_arr = np.asarray(patients) if patients is not None else None
    rows: list[SubgroupRow] = []
    disparities: list[Disparity] = []
    for attribute, values in attributes.items():
        labels = np.array([MISSING if v is None or v != v else str(v) for v in values], dtype=object)
        attribute_rows = []
        for group in sorted(set(labels.tolist())):
            mask = labels == group
            ys, ps = y_arr[mask], p_arr[mask]
            events = int(ys.sum())
            assessed = events >= min_events and len(ys) - events >= min_events
            if assessed:
                ci = cluster_bootstrap(
                    {"auroc": auroc}, ys, ps, groups_arr[mask] if groups_arr is not None else None,
                    samples=bootstrap_samples, seed=seed,
                )["auroc"]  # fmt: skip
                value, low, high = ci.value, ci.low, ci.high
            else:
                value, low, high = auroc(ys, ps), float("nan"), float("nan")
            attribute_rows.append(
                SubgroupRow(
                    attribute=attribute,
                    group=group,
                    n=int(mask.sum()),
                    events=events,
                    event_rate=float(ys.mean()) if len(ys) else float("nan"),
                    auroc=value,
                    ci_low=low,
                    ci_high=high,
                    assessed=assessed,
                )
            )
        rows += attribute_rows
        assessed_rows = [r for r in attribute_rows if r.assessed and not np.isnan(r.auroc)]
        if len(assessed_rows) >= 2:
            hi = max(assessed_rows, key=lambda r: r.auroc)
            lo = min(assessed_rows, key=lambda r: r.auroc)
            value, highest, lowest = hi.auroc - lo.auroc, hi.group, lo.group
        else:
            value, highest, lowest = float("nan"), None, None
        disparities.append(
            Disparity(
                attribute=attribute,
                value=float(value),
                highest=highest,
                lowest=lowest,
                assessed_groups=len(assessed_rows),
                unassessed_groups=[r.group for r in attribute_rows if not r.assessed],
            )
        )
    return rows, disparities
