"""Patient-grouped, label-stratified k folds: scikit-learn's ``StratifiedGroupKFold`` folds, found faster and
without importing scikit-learn.

scikit-learn gives each group (a patient) in turn to the fold that keeps the class proportions most even, trying
every fold with a dozen NumPy calls on arrays of ten numbers: about 0.2 ms a patient, 1.5 s for the 7,500 patients
of a 20,000-patient cohort, paid by the train/test split and again by training's cross-validation. Importing it
costs the split step another 0.5-1 s, often its only use there. For a 0/1 label (the readmission label)
``stratified_group_folds`` does the same arithmetic on Python floats, in the same order (IEEE double either way),
so it picks the same fold every time: the folds, and so every model, are unchanged. The tests compare each choice
with scikit-learn's own ``_find_best_fold`` and the folds of both on many data sets. Anything else (another
label, bad arguments) goes to scikit-learn itself, for its folds or its error.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Sequence

import numpy as np


def stratified_group_folds(
    y: Sequence | np.ndarray, groups: Sequence | np.ndarray, n_splits: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) row indices of each fold, exactly as ``StratifiedGroupKFold(n_splits, shuffle=True,
    random_state=seed).split(X, y, groups)`` gives them, with its warning when a class is smaller than
    ``n_splits``."""
    y_arr, groups_arr = np.asarray(y), np.asarray(groups)
    if _zero_one_label(y_arr, groups_arr, n_splits, seed):
        _, y_inv, y_cnt = np.unique(y_arr, return_inverse=True, return_counts=True)
        _, groups_inv, groups_cnt = np.unique(groups_arr, return_inverse=True, return_counts=True)
        if len(groups_cnt) >= n_splits and not np.all(n_splits > y_cnt):  # else scikit-learn's error
            return _folds(y_inv, y_cnt, groups_inv, groups_cnt, n_splits, seed)
    from sklearn.model_selection import StratifiedGroupKFold

    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(y_arr)), y_arr, groups_arr))


def _zero_one_label(y: np.ndarray, groups: np.ndarray, n_splits: int, seed: int) -> bool:
    """A 0/1 label (one class or both) with arguments scikit-learn accepts as they are."""
    if not (isinstance(n_splits, numbers.Integral) and n_splits >= 2 and isinstance(seed, numbers.Integral)):
        return False
    if y.ndim != 1 or groups.ndim != 1 or len(y) != len(groups) or len(y) < n_splits:
        return False
    return (np.issubdtype(y.dtype, np.integer) or y.dtype == bool) and bool(np.isin(y, (0, 1)).all())


def _folds(
    y_inv: np.ndarray, y_cnt: np.ndarray, groups_inv: np.ndarray, groups_cnt: np.ndarray, n_splits: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """As scikit-learn 1.9's StratifiedGroupKFold._iter_test_indices, with its shuffle."""
    if n_splits > np.min(y_cnt):
        warnings.warn(
            f"The least populated class in y has only {np.min(y_cnt)} members, which is less than n_splits={n_splits}.",
            UserWarning,
            stacklevel=3,
        )
    y_counts_per_group = np.zeros((len(groups_cnt), len(y_cnt)))
    np.add.at(y_counts_per_group, (groups_inv, y_inv), 1)
    perm = np.arange(len(groups_cnt))
    np.random.RandomState(seed).shuffle(perm)  # scikit-learn's check_random_state(seed)
    y_counts_per_group = y_counts_per_group[perm]
    inv_perm = np.empty_like(perm)
    inv_perm[perm] = np.arange(perm.size)
    groups_inv = inv_perm[groups_inv]
    # Stable sort: groups with the same spread of classes keep their (shuffled) order.
    order = np.argsort(-np.std(y_counts_per_group, axis=1), kind="stable")
    chosen = assign_folds(y_counts_per_group[order].tolist(), y_cnt.tolist(), n_splits)
    fold_of_group = np.empty(len(groups_cnt), dtype=int)
    fold_of_group[order] = chosen
    fold_of_row = fold_of_group[groups_inv]
    return [(np.flatnonzero(fold_of_row != i), np.flatnonzero(fold_of_row == i)) for i in range(n_splits)]


def assign_folds(group_counts: Sequence[Sequence[float]], class_counts: Sequence[int], n_splits: int) -> list[int]:
    """The fold of each group, given in the order they are assigned as its counts per class (one or two)."""
    totals = [float(c) for c in class_counts]
    counts = [[0.0] * len(totals) for _ in range(n_splits)]
    chosen = []
    for group in group_counts:
        best = best_fold(counts, totals, group)
        for k, n in enumerate(group):
            counts[best][k] += n
        chosen.append(best)
    return chosen


def best_fold(counts: list[list[float]], totals: Sequence[float], group: Sequence[float]) -> int:
    """scikit-learn's ``StratifiedGroupKFold._find_best_fold`` for one or two classes, operation for operation.

    For each fold, with the group added to it: the standard deviation across folds of each class's share (sums
    run fold by fold, as NumPy reduces a column), averaged over the classes. The lowest wins; a tie
    (``np.isclose``) goes to the fold with fewer rows. With more than two classes NumPy's mean over the classes
    sums in another order, so that case is not handled here.
    """
    if len(totals) > 2:
        raise ValueError("best_fold handles one or two classes")
    shares = [[c[k] / totals[k] for c in counts] for k in range(len(totals))]
    best, min_eval, min_samples = 0, math.inf, math.inf
    for i in range(len(counts)):
        spreads = []
        for k, column in enumerate(shares):
            proposed = column.copy()
            proposed[i] = (counts[i][k] + group[k]) / totals[k]
            spreads.append(_std(proposed))
        fold_eval = _sum(spreads) / len(spreads)
        samples = _sum(counts[i])
        # np.isclose(fold_eval, min_eval): |a - b| <= atol + rtol * |b|, and never close to infinity.
        close = min_eval != math.inf and abs(fold_eval - min_eval) <= 1e-08 + 1e-05 * abs(min_eval)
        if fold_eval < min_eval or (close and samples < min_samples):
            best, min_eval, min_samples = i, fold_eval, samples
    return best


def _sum(values: Sequence[float]) -> float:
    """Element by element, in order (NumPy's reduction along a column, and of two or fewer numbers)."""
    total = 0.0
    for v in values:
        total += v
    return total


def _std(values: list[float]) -> float:
    """``np.std`` of a column: the mean, then the mean squared deviation, each summed in order."""
    mean = _sum(values) / len(values)
    return math.sqrt(_sum([(v - mean) * (v - mean) for v in values]) / len(values))
