"""The fast drift gate: per-feature drift of a batch against the champion's training reference.

The gate's numbers decide retraining, so they must be cheap on wide data; Evidently's HTML report
(``evidently_report.py``) is for people. Both use the same per-column tests (Evidently's own implementations
are the reference for these; the gate computes each once with SciPy, Evidently several times):

* missing and infinite values are dropped per column first; a column with no values left on either side is
  not tested (reported as ``untestable``; Evidently refuses such a column);
* rule ``tests`` (the default): the two-sample Kolmogorov-Smirnov test for columns with more than 5 distinct
  values, Pearson's chi-square test of homogeneity for 3-5 values, a two-proportion z-test for 2 values; drift
  when the p-value is below 0.05 (Evidently's default rule for references of up to 1,000 rows, applied at
  every size, with a two-sample chi-square: see ``_chi_square``). Sensitive: on large batches it flags small
  but real shifts;
* rule ``evidently_default``: exactly Evidently's default selection (for references of more than 1,000 values a
  normed Wasserstein distance, or Jensen-Shannon for 5 or fewer values, drift when >= 0.1). Coarser: in
  ``bench/drift.py`` it finds the planted shifts of 0.3 SD and more, not those of 0.1-0.2 SD or a 2-point change
  of a prevalence.

The drifted share is the drifted columns over the tested columns (Evidently's ``DriftedColumnsCount``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

LARGE_REFERENCE = 1000  # Evidently's switch from p-value tests to distances
FEW_VALUES = 5  # at most this many distinct values: a frequency test
DISTANCE_THRESHOLD = 0.1
P_VALUE_THRESHOLD = 0.05
JS_FEW_DISTINCT = 20
P_VALUE_METHODS = frozenset(
    {"ks", "chisquare", "z"}
)  # Evidently bins numeric values for Jensen-Shannon only beyond this many distinct values


class DriftInputError(ValueError):
    """The reference or the batch cannot be compared (the message names the column or the side)."""


@dataclass(frozen=True)
class ColumnDrift:
    column: str
    method: str  # wasserstein, jensenshannon, ks, chisquare, z, untestable
    score: float  # distance, or p-value for the tests
    threshold: float
    drifted: bool
    reference_n: int
    current_n: int

    def as_row(self) -> tuple[Any, ...]:
        return (self.column, self.method, round(self.score, 5), self.threshold, self.drifted)


@dataclass(frozen=True)
class DriftResult:
    columns: list[ColumnDrift]
    reference_rows: int
    current_rows: int
    drifted: list[str] = field(default_factory=list)

    @property
    def tested(self) -> list[ColumnDrift]:
        return [c for c in self.columns if c.method != "untestable"]

    @property
    def drifted_share(self) -> float:
        tested = self.tested
        return len(self.drifted) / len(tested) if tested else 0.0

    def ranked(self) -> list[str]:
        """Tested columns, drifted first, then from the smallest p-value (or the largest distance)."""

        def key(c: ColumnDrift) -> tuple[bool, float]:
            return (not c.drifted, c.score if c.method in P_VALUE_METHODS else -c.score)

        return [c.column for c in sorted(self.tested, key=key)]

    def scores(self) -> dict[str, float]:
        return {c.column: round(c.score, 6) for c in self.tested}

    def summary(self) -> dict[str, Any]:
        return {
            "columns_tested": len(self.tested),
            "columns_untestable": len(self.columns) - len(self.tested),
            "drifted_columns": len(self.drifted),
            "drifted_share": round(self.drifted_share, 4),
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
        }


def _clean(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    return values[np.isfinite(values)]


def _frequencies(reference: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    keys = np.union1d(np.unique(reference), np.unique(current))
    ref_counts = np.searchsorted(keys, reference)
    cur_counts = np.searchsorted(keys, current)
    return keys, np.bincount(ref_counts, minlength=len(keys)), np.bincount(cur_counts, minlength=len(keys))


def _jensenshannon(reference: np.ndarray, current: np.ndarray) -> float:
    from scipy.spatial import distance  # scipy is imported by the steps that compare, not by the code location

    if np.unique(reference).size > JS_FEW_DISTINCT:
        edges = np.histogram_bin_edges(np.concatenate([reference, current]), bins="sturges")
        ref = np.histogram(reference, edges)[0] / reference.size
        cur = np.histogram(current, edges)[0] / current.size
    else:
        _, ref_counts, cur_counts = _frequencies(reference, current)
        ref, cur = ref_counts / reference.size, cur_counts / current.size
    return float(distance.jensenshannon(ref, cur))


def _z_test(reference: np.ndarray, current: np.ndarray) -> float:
    """Two-proportion z-test on the share of the first of the two values (p-value)."""
    from scipy import stats

    first = np.union1d(np.unique(reference), np.unique(current))[0]
    p1, p2 = float(np.mean(reference == first)), float(np.mean(current == first))
    n1, n2 = reference.size, current.size
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0
    return float(2 * stats.norm.sf(abs(p1 - p2) / se))


def _chi_square(reference: np.ndarray, current: np.ndarray) -> float:
    """Pearson's chi-square test of homogeneity on the 2 x k table of value counts (p-value).

    Evidently's own ``chisquare`` uses the reference's sample frequencies as if they were the true ones, which
    ignores the reference's sampling error: two samples of one 4-value distribution (3,000 rows each) are flagged
    27% of the time at p < 0.05 instead of 5% (``test_chi_square_false_positive_rate_is_nominal``). This
    two-sample form is nominal, and the HTML report is given the same test."""
    from scipy import stats

    _, ref_counts, cur_counts = _frequencies(reference, current)
    if ref_counts.size < 2:
        return 1.0
    return float(stats.chi2_contingency(np.vstack([ref_counts, cur_counts]), correction=False).pvalue)


RULES = ("tests", "evidently_default")


def method_for(reference_n: int, distinct: int, rule: str = "tests") -> str:
    """The test a column gets: by its number of distinct values (and, for ``evidently_default``, the reference size)."""
    if rule == "evidently_default" and reference_n > LARGE_REFERENCE:
        return "wasserstein" if distinct > FEW_VALUES else "jensenshannon"
    if distinct > FEW_VALUES:
        return "ks"
    return "chisquare" if distinct > 2 else "z"


def column_drift(name: str, reference: np.ndarray, current: np.ndarray, rule: str = "tests") -> ColumnDrift:
    from scipy import stats

    ref, cur = _clean(reference), _clean(current)
    if ref.size == 0 or cur.size == 0:
        return ColumnDrift(name, "untestable", float("nan"), float("nan"), False, int(ref.size), int(cur.size))
    distinct = np.union1d(np.unique(ref), np.unique(cur)).size
    if rule == "evidently_default" and ref.size > LARGE_REFERENCE:
        if distinct > FEW_VALUES:
            norm = max(float(np.std(ref)), 0.001)
            method, score = "wasserstein", float(stats.wasserstein_distance(ref, cur)) / norm
        else:
            method, score = "jensenshannon", _jensenshannon(ref, cur)
        return ColumnDrift(name, method, score, DISTANCE_THRESHOLD, score >= DISTANCE_THRESHOLD, ref.size, cur.size)
    if distinct > FEW_VALUES:
        method, score = "ks", float(stats.ks_2samp(ref, cur).pvalue)
    elif distinct > 2:
        method, score = "chisquare", _chi_square(ref, cur)
    elif distinct == 2:
        method, score = "z", _z_test(ref, cur)
    else:  # one value on both sides: nothing moved
        method, score = "z", 1.0
    return ColumnDrift(name, method, score, P_VALUE_THRESHOLD, score < P_VALUE_THRESHOLD, ref.size, cur.size)


def drift_gate(
    reference: Mapping[str, np.ndarray] | Any,
    current: Mapping[str, np.ndarray] | Any,
    columns: Sequence[str],
    rule: str = "tests",
) -> DriftResult:
    """Per-column drift of ``current`` against ``reference`` (pandas frames or mappings of arrays) on ``columns``."""
    if rule not in RULES:
        raise DriftInputError(f"unknown drift rule {rule!r}; known: {', '.join(RULES)}")
    if not columns:
        raise DriftInputError("no columns to compare: the model's feature list is empty")
    for side, frame in (("reference", reference), ("batch", current)):
        missing = [c for c in columns if c not in frame]
        if missing:
            raise DriftInputError(f"the {side} lacks feature column(s) {', '.join(missing[:5])}")
    ref_rows, cur_rows = len(reference[columns[0]]), len(current[columns[0]])
    if ref_rows == 0:
        raise DriftInputError("the reference has no rows")
    if cur_rows == 0:
        raise DriftInputError("the batch has no rows")
    results = [column_drift(c, np.asarray(reference[c]), np.asarray(current[c]), rule) for c in columns]
    return DriftResult(results, ref_rows, cur_rows, [r.column for r in results if r.drifted])
