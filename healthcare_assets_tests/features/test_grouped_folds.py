"""The fast StratifiedGroupKFold makes scikit-learn's choices: each fold choice, the folds, the errors and warnings."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.model_selection import StratifiedGroupKFold as SklearnFolds

from healthcare_assets.features.grouped_folds import StratifiedGroupKFold, best_fold


def test_each_choice_is_scikit_learns_including_near_ties() -> None:
    rng = np.random.default_rng(0)
    ties = 0
    for _ in range(4000):
        n = int(rng.integers(2, 8))
        totals = np.array([rng.integers(50, 9000), rng.integers(5, 1500)])
        counts = np.floor(rng.random((n, 2)) * totals / n)
        if rng.random() < 0.5:  # every fold alike: the choice falls to the tie rules
            counts[:] = counts[0]
            ties += 1
        group = rng.integers(0, 4, size=2).astype(float)
        expected = SklearnFolds(n_splits=n)._find_best_fold(counts.copy(), totals, group)
        assert best_fold(counts.tolist(), totals.astype(float).tolist(), *group.tolist()) == expected
    assert ties > 1000


def _split(cls, k, shuffle, seed, y, groups):
    splitter = cls(n_splits=k, shuffle=shuffle, random_state=seed)
    return [(train.tolist(), test.tolist()) for train, test in splitter.split(np.zeros(len(y)), y, groups)]


def test_the_folds_are_scikit_learns_on_many_data_sets() -> None:
    rng = np.random.default_rng(1)
    compared = 0
    for _ in range(80):
        n_groups = int(rng.integers(5, 300))
        groups = np.repeat(rng.permutation(n_groups) * 7 + 3, rng.integers(1, 6, size=n_groups))
        y = (rng.random(len(groups)) < rng.uniform(0.02, 0.6)).astype(int)
        k, shuffle = int(rng.integers(2, 7)), bool(rng.integers(0, 2))
        seed = int(rng.integers(0, 1000)) if shuffle else None
        if not 0 < y.sum() < len(y) or k > n_groups:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a class smaller than k: both warn (checked below)
            assert _split(StratifiedGroupKFold, k, shuffle, seed, y, groups) == _split(
                SklearnFolds, k, shuffle, seed, y, groups
            )
        compared += 1
    assert compared > 50


def test_labels_that_are_not_0_1_one_class_and_more_than_two_classes_are_scikit_learns() -> None:
    rng = np.random.default_rng(2)
    groups = np.repeat(np.arange(60), 3)
    for y in (rng.choice(["no", "yes"], size=180), rng.integers(0, 3, size=180), np.zeros(180, dtype=int)):
        assert _split(StratifiedGroupKFold, 4, True, 3, y, groups) == _split(SklearnFolds, 4, True, 3, y, groups)


@pytest.mark.parametrize(
    ("y", "groups", "k"),
    [
        ([0, 1] * 5, [0, 1, 2, 3, 4] * 2, 6),  # more folds than groups
        ([0] * 9 + [1], list(range(10)), 11),  # more folds than members of each class
        ([0.5, 1.5] * 5, list(range(10)), 2),  # not a class label
    ],
)
def test_errors_are_scikit_learns(y, groups, k) -> None:
    with pytest.raises(ValueError) as expected:
        _split(SklearnFolds, k, False, None, np.array(y), np.array(groups))
    with pytest.raises(ValueError, match=None) as got:
        _split(StratifiedGroupKFold, k, False, None, np.array(y), np.array(groups))
    assert str(got.value) == str(expected.value)


def test_a_class_smaller_than_k_warns_as_scikit_learn_does() -> None:
    y, groups = np.array([0] * 18 + [1] * 2), np.arange(20)
    messages = []
    for cls in (SklearnFolds, StratifiedGroupKFold):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _split(cls, 3, True, 0, y, groups)
        messages.append([str(w.message) for w in caught])
    assert messages[0] == messages[1] and messages[0]
