"""The fast StratifiedGroupKFold makes scikit-learn's choices: each fold choice, the folds, errors and warnings."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.model_selection import StratifiedGroupKFold

from healthcare_assets.features.grouped_folds import best_fold, stratified_group_folds


@pytest.mark.parametrize("classes", [1, 2])
def test_each_choice_is_scikit_learns_including_near_ties(classes: int) -> None:
    rng = np.random.default_rng(classes)
    ties = 0
    for _ in range(3000):
        n = int(rng.integers(2, 8))
        totals = np.array([rng.integers(50, 9000), rng.integers(5, 1500)])[:classes]
        counts = np.floor(rng.random((n, classes)) * totals / n)
        if rng.random() < 0.5:  # every fold alike: the choice falls to the tie rules
            counts[:] = counts[0]
            ties += 1
        group = rng.integers(0, 4, size=classes).astype(float)
        expected = StratifiedGroupKFold(n_splits=n)._find_best_fold(counts.copy(), totals, group)
        assert best_fold(counts.tolist(), totals.astype(float).tolist(), group.tolist()) == expected
    assert ties > 1000


def _sklearn(y, groups, k, seed):
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    return [(train.tolist(), test.tolist()) for train, test in splitter.split(np.zeros(len(y)), y, groups)]


def _ours(y, groups, k, seed):
    return [(train.tolist(), test.tolist()) for train, test in stratified_group_folds(y, groups, k, seed)]


def test_the_folds_are_scikit_learns_on_many_data_sets() -> None:
    rng = np.random.default_rng(1)
    compared = 0
    for case in range(80):
        n_groups = int(rng.integers(5, 300))
        groups = np.repeat(rng.permutation(n_groups) * 7 + 3, rng.integers(1, 6, size=n_groups))
        y = (rng.random(len(groups)) < rng.uniform(0.02, 0.6)).astype(int)
        if case % 10 == 0:
            y[:] = 0  # one class, as Synthea x10 has no readmission
        k, seed = int(rng.integers(2, 7)), int(rng.integers(0, 1000))
        if k > n_groups:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a class smaller than k: both warn (checked below)
            assert _ours(y, groups, k, seed) == _sklearn(y, groups, k, seed)
        compared += 1
    assert compared > 50


def test_other_labels_and_bad_arguments_get_scikit_learns_folds_or_errors() -> None:
    rng = np.random.default_rng(2)
    groups = np.repeat(np.arange(60), 3)
    for y in (rng.choice(["no", "yes"], size=180), rng.integers(0, 3, size=180), rng.random(180) < 0.3):
        assert _ours(y, groups, 4, 3) == _sklearn(y, groups, 4, 3)
    for y, groups, k in (
        ([0, 1] * 5, [0, 1, 2, 3, 4] * 2, 6),  # more folds than groups
        ([0] * 9 + [1], list(range(10)), 11),  # more folds than rows
        ([0.5, 1.5] * 5, list(range(10)), 2),  # not a class label
        ([0, 1] * 5, list(range(10)), 1),  # one fold
    ):
        with pytest.raises(ValueError) as expected:
            _sklearn(np.array(y), np.array(groups), k, 0)
        with pytest.raises(ValueError) as got:
            _ours(y, groups, k, 0)
        assert str(got.value) == str(expected.value)


def test_a_class_smaller_than_k_warns_as_scikit_learn_does() -> None:
    y, groups = np.array([0] * 18 + [1] * 2), np.arange(20)
    messages = []
    for split in (_sklearn, _ours):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            split(y, groups, 3, 0)
        messages.append([str(w.message) for w in caught])
    assert messages[0] == messages[1] and messages[0]


def test_a_0_1_label_is_split_without_importing_scikit_learn() -> None:
    probe = (
        "import sys, numpy as np; from healthcare_assets.features.grouped_folds import stratified_group_folds; "
        "stratified_group_folds(np.array([0, 1] * 20), np.arange(40) // 2, 5, 0); "
        "stratified_group_folds(np.zeros(40, dtype=int), np.arange(40) // 2, 5, 0); print('sklearn' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
