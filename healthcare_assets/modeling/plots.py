"""The validation report's figures as PNG bytes (matplotlib, Agg backend: no display, safe in any process).

Each function takes the report's numbers (never patient rows) plus, for curves, the test labels and scores, and
returns a small PNG (about 30-60 kB) that the Dagster UI shows inline and MLflow stores beside the report.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # before pyplot: never a GUI backend, whatever the environment says

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import roc_curve  # noqa: E402

from healthcare_assets.modeling.calibration import smoothed_observed  # noqa: E402

DPI = 90
SIZE = (5.2, 4.2)


def _png(fig: plt.Figure) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


def roc_plot(y: np.ndarray, curves: Mapping[str, tuple[np.ndarray, float]]) -> bytes:
    """ROC curves: ``curves`` maps a label to (scores aligned with ``y``, AUROC); NaN scores are left out."""
    fig, ax = plt.subplots(figsize=SIZE)
    for label, (scores, value) in curves.items():
        keep = ~np.isnan(scores)
        if keep.sum() and len(set(np.asarray(y)[keep])) == 2:
            fpr, tpr, _ = roc_curve(np.asarray(y)[keep], scores[keep])
            ax.plot(fpr, tpr, label=f"{label} (AUROC {value:.3f})")
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey", label="chance")
    ax.axvline(0.10, color="lightgrey", linewidth=0.8)
    ax.set(xlabel="1 - specificity", ylabel="sensitivity", title="ROC, held-out test split", xlim=(0, 1), ylim=(0, 1))
    ax.legend(loc="lower right", fontsize=8)
    return _png(fig)


def calibration_plot(y: np.ndarray, p: np.ndarray, reliability: Sequence[Mapping[str, float]], slope: float) -> bytes:
    """Observed vs predicted: equal-count bins, the LOWESS curve (the one ICI integrates), and the spread of p."""
    fig, (ax, hist) = plt.subplots(2, 1, figsize=(5.2, 5.2), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    top = float(max(np.max(p), max((r["observed_rate"] for r in reliability), default=0.0), 0.05)) * 1.05
    ax.plot([0, top], [0, top], linestyle=":", color="grey", label="ideal")
    order = np.argsort(p)
    ax.plot(p[order], smoothed_observed(y, p)[order], label="LOWESS")
    ax.scatter(
        [r["mean_predicted"] for r in reliability],
        [r["observed_rate"] for r in reliability],
        color="black",
        s=18,
        zorder=3,
        label="deciles",
    )
    ax.set(ylabel="observed 30-day readmission", title=f"Calibration (slope {slope:.2f})", xlim=(0, top), ylim=(0, top))
    ax.legend(loc="upper left", fontsize=8)
    hist.hist(p, bins=40, range=(0, top), color="steelblue")
    hist.set(xlabel="predicted probability", ylabel="stays")
    return _png(fig)


def subgroup_plot(rows: Sequence[Mapping[str, object]], overall: float) -> bytes:
    """Forest plot of AUROC with 95% intervals per subgroup; unassessed subgroups (too few events) hollow."""
    fig, ax = plt.subplots(figsize=(5.2, max(2.4, 0.32 * len(rows) + 1.2)))
    labels = [f"{r['attribute']}={r['group']} (n={r['n']}, events={r['events']})" for r in rows]
    for i, r in enumerate(rows):
        value = float(r["auroc"]) if r["auroc"] is not None else float("nan")
        if r["assessed"]:
            ax.errorbar(
                value,
                i,
                xerr=[[value - float(r["ci_low"])], [float(r["ci_high"]) - value]],
                fmt="o",
                color="black",
                capsize=3,
            )
        elif not np.isnan(value):
            ax.plot(value, i, "o", markerfacecolor="white", color="grey")
    ax.axvline(overall, color="steelblue", linestyle="--", label=f"overall {overall:.3f}")
    ax.set_yticks(range(len(rows)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set(xlabel="AUROC (95% CI; hollow = too few events to assess)", title="Subgroups")
    ax.legend(loc="lower left", fontsize=8)
    return _png(fig)


def decision_curve_plot(curve: Sequence[Mapping[str, float]]) -> bytes:
    """Net benefit of the model against treating everyone and no one, across threshold probabilities."""
    t = [r["threshold"] for r in curve]
    fig, ax = plt.subplots(figsize=SIZE)
    ax.plot(t, [r["model"] for r in curve], label="model")
    ax.plot(t, [r["treat_all"] for r in curve], label="treat all", color="grey")
    ax.plot(t, [r["treat_none"] for r in curve], label="treat none", color="black", linestyle=":")
    best = max([r["model"] for r in curve] + [0.0])
    ax.set(
        xlabel="threshold probability",
        ylabel="net benefit",
        title="Decision curve",
        ylim=(min(-0.02, -best * 0.1), best * 1.15 + 0.01),
    )
    ax.legend(loc="upper right", fontsize=8)
    return _png(fig)
