"""The candidate models: what each one is and how it is built, with its hyperparameters in one place.

* ``logistic_regression``: median imputation with missing-value indicators, standardization, and an L2
  logistic regression with balanced class weights.
* ``gradient_boosting``: scikit-learn's histogram gradient boosting, which handles missing values natively
  (each split learns which side missing values go to); early stopping on an internal validation share. Columns
  without two distinct values in the training rows are dropped first (``VarianceThreshold``): scikit-learn 1.9
  cannot bin a column with no value at all (a stay trend of a lab measured once per stay), and a constant
  column offers no split anyway.

The fitted model is either one wrapped in a sigmoid (Platt) recalibration learned on OUT-OF-FOLD predictions of
the same patient-grouped folds (``CalibratedClassifierCV(cv=folds, ensemble=False)``: one base model fitted on
the whole training split, one calibrator). Training builds that same object from the cross-validation's fold
models (``fit_reusing_folds``) instead of letting it fit them again. Class weighting inflates probabilities and
small data makes them too extreme; on 800 training stays the class-weighted regression had a test calibration
slope of 0.60 even with its intercept corrected for the weights (prior correction), 0.95 recalibrated this way.

Everything is a stock scikit-learn object (no project class), so a serving process needs only scikit-learn to
load it (see ``model_format``).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # scikit-learn and pandas are imported by the steps that train, not by the code location
    import pandas as pd
    from sklearn.base import BaseEstimator

LOGISTIC = "logistic_regression"
BOOSTING = "gradient_boosting"
CANDIDATES = (LOGISTIC, BOOSTING)  # also the preference order when two are equally good (simplest first)


@dataclass(frozen=True)
class Hyperparameters:
    """Every knob of every candidate; defaults chosen for 1,000-100,000 index stays."""

    lr_c: float = 1.0
    lr_max_iter: int = 2000
    # Newton steps on the exact Hessian: the L2-regularised optimum in a few iterations (features are a few
    # hundred, stays thousands). lbfgs stopped at its tolerance short of it, after ~180 iterations, and slower.
    lr_solver: str = "newton-cholesky"
    gb_learning_rate: float = 0.05
    gb_max_iter: int = 500
    gb_max_leaf_nodes: int = 15
    gb_min_samples_leaf: int = 40
    gb_l2_regularization: float = 1.0
    gb_validation_fraction: float = 0.15
    gb_n_iter_no_change: int = 20

    def for_candidate(self, name: str) -> dict[str, Any]:
        prefix = {LOGISTIC: "lr_", BOOSTING: "gb_"}[name]
        return {k[len(prefix) :]: v for k, v in asdict(self).items() if k.startswith(prefix)}


def build(name: str, params: Hyperparameters, seed: int) -> BaseEstimator:
    """An unfitted candidate."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.feature_selection import VarianceThreshold
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    if name == LOGISTIC:
        return Pipeline(
            [
                ("impute", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)),
                ("scale", StandardScaler()),
                (
                    "model",
                    LogisticRegression(
                        C=params.lr_c,
                        class_weight="balanced",
                        max_iter=params.lr_max_iter,
                        solver=params.lr_solver,
                        random_state=seed,
                    ),
                ),
            ]
        )
    if name == BOOSTING:
        boosting = HistGradientBoostingClassifier(
            learning_rate=params.gb_learning_rate,
            max_iter=params.gb_max_iter,
            max_leaf_nodes=params.gb_max_leaf_nodes,
            min_samples_leaf=params.gb_min_samples_leaf,
            l2_regularization=params.gb_l2_regularization,
            early_stopping=True,
            validation_fraction=params.gb_validation_fraction,
            n_iter_no_change=params.gb_n_iter_no_change,
            random_state=seed,
        )
        return Pipeline([("drop_empty", VarianceThreshold()), ("model", boosting)])
    raise ValueError(f"unknown candidate {name!r}; expected one of {', '.join(CANDIDATES)}")


def fit_base(name: str, params: Hyperparameters, seed: int, X: pd.DataFrame, y: np.ndarray) -> BaseEstimator:
    """A candidate without recalibration (the cross-validation's fold models: ranking metrics only)."""
    with _empty_columns_quiet():
        return build(name, params, seed).fit(X, y)


def fit(
    name: str,
    params: Hyperparameters,
    seed: int,
    X: pd.DataFrame,
    y: np.ndarray,
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
) -> BaseEstimator:
    """The candidate fitted on all of ``X`` with a sigmoid recalibration learned out of fold on ``folds``."""
    with _empty_columns_quiet():
        return _recalibrated(name, params, seed, folds).fit(X, y)


@contextmanager
def _empty_columns_quiet() -> Iterator[None]:
    """Silences the two numpy warnings ``VarianceThreshold`` raises for a column with no value in the training rows
    (a lab no stay has; "All-NaN slice encountered", "Degrees of freedom <= 0"): dropping such columns is its job
    here. Only warnings attributed to that module; the fits run in worker processes, which do not inherit the
    command line's filters, so without this a run printed a dozen of them."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", category=RuntimeWarning, module=r"sklearn\.feature_selection\._variance_threshold"
        )
        yield


RECALIBRATION = "sigmoid"


def _recalibrated(
    name: str, params: Hyperparameters, seed: int, folds: Sequence[tuple[np.ndarray, np.ndarray]]
) -> BaseEstimator:
    """The unfitted recalibrated candidate: ``fit`` fits it, ``fit_reusing_folds`` fills in what fitting builds."""
    from sklearn.calibration import CalibratedClassifierCV

    return CalibratedClassifierCV(build(name, params, seed), method=RECALIBRATION, cv=list(folds), ensemble=False)


def fit_reusing_folds(
    name: str,
    params: Hyperparameters,
    seed: int,
    X: pd.DataFrame,
    y: np.ndarray,
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    oof_scores: np.ndarray,
    base: BaseEstimator | None = None,
) -> BaseEstimator:
    """``fit``'s model, without fitting the fold models a second time.

    ``fit`` gets its out-of-fold predictions from ``cross_val_predict``, which refits one model per fold: the
    same models, on the same folds with the same seed, that the cross-validation has just fitted for its
    metrics. ``oof_scores`` are those models' ``decision_function`` values on their held-out stays (what
    ``cross_val_predict`` would return); the base model is fitted on all of ``X`` and the sigmoid calibrator on
    ``oof_scores`` exactly as ``CalibratedClassifierCV.fit`` does (``ensemble=False``). The result is a stock
    ``CalibratedClassifierCV``, fitted; the tests check it predicts what ``fit``'s does, to the last bit.
    Five of each candidate's eleven fits are saved. ``base``: the candidate already fitted on all of ``X``
    (``fit_base``), when the caller fitted it alongside the fold models.
    """
    # scikit-learn's own private step of CalibratedClassifierCV.fit (the lock pins the version; the equivalence
    # test fails if a release changes what it builds).
    from sklearn.calibration import _fit_calibrator

    y = np.asarray(y)
    scores = np.asarray(oof_scores, dtype=float)
    if scores.shape != y.shape:
        raise ValueError(f"oof_scores has shape {scores.shape}, expected {y.shape} (one score per training row)")
    model = _recalibrated(name, params, seed, folds)
    if base is None:
        base = fit_base(name, params, seed, X, y)
    model.classes_ = np.unique(y)
    calibrated = _fit_calibrator(base, scores.reshape(-1, 1), y, model.classes_, RECALIBRATION, np)
    model.calibrated_classifiers_ = [calibrated]
    model.n_features_in_ = base.n_features_in_
    if hasattr(base, "feature_names_in_"):
        model.feature_names_in_ = base.feature_names_in_
    return model


def describe(name: str) -> str:
    return {
        LOGISTIC: "logistic regression (median imputation + missing indicators, standardized, L2, balanced class "
        "weights), sigmoid-recalibrated out of fold",
        BOOSTING: "histogram gradient boosting (native missing-value handling, early stopping), sigmoid-recalibrated "
        "out of fold",
    }[name]
