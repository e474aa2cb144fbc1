"""When a batch's monitoring numbers call for retraining (the seed's Stage 6 thresholds as defaults)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Metadata keys of ``drift_report`` that the decision reads (the sensor reads them back from the event log).
DRIFTED_SHARE = "drifted_share"
MEAN_SHIFT = "prediction_mean_shift"
BATCH_AUROC = "batch_auroc"


@dataclass(frozen=True)
class Thresholds:
    max_drifted_share: float = 0.3  # share of the model's features that drifted
    max_mean_shift: float = 0.2  # |relative shift| of the mean predicted risk against the reference
    min_auroc: float = 0.85  # batch AUROC once labels matured (only when evaluable)

    def as_dict(self) -> dict[str, float]:
        return {
            "max_drifted_share": self.max_drifted_share,
            "max_mean_shift": self.max_mean_shift,
            "min_auroc": self.min_auroc,
        }


@dataclass(frozen=True)
class Decision:
    retrain: bool
    reasons: list[str]  # why it fires (empty when quiet)
    checked: list[str]  # every criterion and its value, fired or not

    def text(self) -> str:
        return "; ".join(self.reasons if self.retrain else self.checked)


def evaluate(numbers: Mapping[str, Any], thresholds: Thresholds) -> Decision:
    """``numbers``: ``drifted_share``, ``prediction_mean_shift`` and, when labels matured, ``batch_auroc``."""
    reasons, checked = [], []
    share = numbers.get(DRIFTED_SHARE)
    if share is not None:
        line = f"drifted share {float(share):.3f} (limit {thresholds.max_drifted_share})"
        checked.append(line)
        if float(share) > thresholds.max_drifted_share:
            reasons.append(line)
    shift = numbers.get(MEAN_SHIFT)
    if shift is not None:
        line = f"mean prediction shift {float(shift):+.1%} (limit ±{thresholds.max_mean_shift:.0%})"
        checked.append(line)
        if abs(float(shift)) > thresholds.max_mean_shift:
            reasons.append(line)
    value = numbers.get(BATCH_AUROC)
    if value is not None:
        line = f"batch AUROC {float(value):.3f} (minimum {thresholds.min_auroc})"
        checked.append(line)
        if float(value) < thresholds.min_auroc:
            reasons.append(line)
    else:
        checked.append("batch AUROC not evaluable (labels not matured or too few events)")
    return Decision(bool(reasons), reasons, checked)
