"""Evidently's data drift preset as an HTML report for people, and its drifted-column set.

Evidently runs each column's test several times (the metric, the per-column widget, the test) and builds plots,
so it is slow on wide data; the numbers that decide retraining come from ``drift.drift_gate``. The preset is
given the gate's per-column tests (``per_column_method``, from ``drift.method_for``) so that the report and the
gate judge every column the same way. Large inputs are sampled with a documented, seeded rule (``sample_rows``).
The report holds de-identified feature values only (distributions of the model's inputs), so it is written
under the data directory's ``monitoring/`` folder, never into the PHI zone, and logged to MLflow by the caller.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pandas is imported by the steps that use it, not by the code location
    import pandas as pd

DEFAULT_MAX_ROWS = 20_000
SAMPLE_SEED = 0


@dataclass(frozen=True)
class EvidentlyDrift:
    drifted: list[str]  # columns Evidently found drifted
    scores: dict[str, float]
    methods: dict[str, str]
    drifted_share: float
    reference_rows: int  # after sampling
    current_rows: int
    sampled: bool


def sample_rows(frame: pd.DataFrame, max_rows: int, seed: int = SAMPLE_SEED) -> pd.DataFrame:
    """At most ``max_rows`` rows: a uniform sample without replacement drawn with NumPy's PCG64 seeded with
    ``seed``, kept in the original row order; frames at or under the limit are returned whole."""
    if max_rows <= 0 or len(frame) <= max_rows:
        return frame
    rng = np.random.default_rng(seed)
    keep = np.sort(rng.choice(len(frame), size=max_rows, replace=False))
    return frame.iloc[keep]


def usable_columns(reference: pd.DataFrame, current: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    """Columns with at least one finite value on each side (Evidently refuses an all-missing column)."""
    import pandas as pd

    out = []
    for c in columns:
        ref = pd.to_numeric(reference[c], errors="coerce").replace([np.inf, -np.inf], np.nan)
        cur = pd.to_numeric(current[c], errors="coerce").replace([np.inf, -np.inf], np.nan)
        if ref.notna().any() and cur.notna().any():
            out.append(c)
    return out


TWO_SAMPLE_CHISQUARE = "chisquare_two_sample"
_registered = False


def _register_two_sample_chisquare() -> None:
    """Give Evidently the gate's two-sample chi-square (its own ``chisquare`` treats the reference's frequencies
    as exact; see ``drift._chi_square``), registered once per process under ``TWO_SAMPLE_CHISQUARE``."""
    global _registered
    if _registered:
        return
    from evidently.legacy.calculations.stattests.registry import StatTest, register_stattest
    from evidently.legacy.core import ColumnType

    from healthcare_assets.monitoring.drift import _chi_square

    def impl(reference: pd.Series, current: pd.Series, feature_type: Any, threshold: float) -> tuple[float, bool]:
        p_value = _chi_square(reference.to_numpy(dtype=float), current.to_numpy(dtype=float))
        return p_value, p_value < threshold

    test = StatTest(
        name=TWO_SAMPLE_CHISQUARE,
        display_name="chi-square (two-sample) p_value",
        allowed_feature_types=[ColumnType.Categorical],
    )
    register_stattest(test, default_impl=impl)
    _registered = True


def _method(reference: pd.Series, current: pd.Series, rule: str) -> str:
    import pandas as pd

    from healthcare_assets.monitoring.drift import method_for

    ref = reference.replace([np.inf, -np.inf], np.nan).dropna()
    cur = current.replace([np.inf, -np.inf], np.nan).dropna()
    method = method_for(len(ref), int(pd.concat([ref, cur]).nunique()), rule)
    return TWO_SAMPLE_CHISQUARE if method == "chisquare" else method


P_VALUE_METHODS = frozenset(
    {"ks", "chisquare", TWO_SAMPLE_CHISQUARE, "z", "t_test", "mannw", "fisher_exact", "cramer_von_mises"}
)


def _is_p_value(method: str) -> bool:
    """Tests report a p-value (drift below the threshold); distances a distance (drift at or above it)."""
    return method in P_VALUE_METHODS or "p_value" in method.lower()


def run_preset(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    columns: Sequence[str],
    html_path: Path | None = None,
    max_rows: int = DEFAULT_MAX_ROWS,
    rule: str = "tests",
) -> EvidentlyDrift:
    """Run ``DataDriftPreset`` on ``columns`` (all numeric), write its HTML to ``html_path`` (temporary file and
    rename: a reader never sees half a report) and return the columns it found drifted. Columns with no finite
    value on one side are left out (Evidently refuses them; the gate reports them as untestable)."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    _register_two_sample_chisquare()
    cols = usable_columns(reference, current, columns)
    if not cols:
        raise ValueError("no column has values on both sides: nothing for Evidently to compare")
    ref = sample_rows(reference[cols], max_rows).astype(float)
    cur = sample_rows(current[cols], max_rows).astype(float)
    methods = {c: _method(ref[c], cur[c], rule) for c in cols}
    # Evidently applies chi-square and z only to categorical columns: columns with 5 or fewer values are declared so.
    categorical = [c for c in cols if methods[c] in (TWO_SAMPLE_CHISQUARE, "z", "jensenshannon")]
    definition = DataDefinition(
        numerical_columns=[c for c in cols if c not in set(categorical)], categorical_columns=categorical
    )
    snapshot = Report([DataDriftPreset(columns=list(cols), per_column_method=methods)]).run(
        Dataset.from_pandas(cur, data_definition=definition), Dataset.from_pandas(ref, data_definition=definition)
    )
    drifted, scores, methods, share = _parse(snapshot.dict())
    if html_path is not None:
        html_path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".drift-", suffix=".html", dir=html_path.parent)
        os.close(fd)
        try:
            snapshot.save_html(tmp)
            os.replace(tmp, html_path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return EvidentlyDrift(
        drifted, scores, methods, share, len(ref), len(cur), len(ref) < len(reference) or len(cur) < len(current)
    )


def _parse(report: dict[str, Any]) -> tuple[list[str], dict[str, float], dict[str, str], float]:
    drifted, scores, methods, share = [], {}, {}, 0.0
    for metric in report.get("metrics", []):
        config = metric.get("config", {})
        kind = str(config.get("type", ""))
        if kind.endswith("DriftedColumnsCount"):
            share = float(metric["value"]["share"])
        elif kind.endswith("ValueDrift"):
            column, method = str(config["column"]), str(config["method"])
            value, threshold = float(metric["value"]), float(config["threshold"])
            scores[column], methods[column] = value, method
            if (value < threshold) if _is_p_value(method) else (value >= threshold):
                drifted.append(column)
    return drifted, scores, methods, share


def report_columns(columns: Sequence[str], ranked: Sequence[str], max_columns: int) -> list[str]:
    """The columns the HTML shows: all of them (``max_columns`` <= 0, the default), else the first ``max_columns``
    of ``ranked`` (the gate's drifted columns first, then by p-value/distance), in the model's order."""
    if max_columns <= 0 or max_columns >= len(columns):
        return list(columns)
    keep = set(list(ranked)[:max_columns])
    return [c for c in columns if c in keep]
