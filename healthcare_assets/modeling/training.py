"""Train the candidates: patient-grouped, label-stratified k-fold cross-validation on the training split, a final
fit on the whole training split (recalibrated out of fold on the same folds, see ``candidates``), and the choice
of one model.

Reproducible: the folds come from ``StratifiedGroupKFold(shuffle=True, random_state=seed)`` and every estimator
gets the same seed, so the same data and settings give the same folds, metrics and fitted model. All stays of
a patient fall in one fold, so no fold is scored on a patient it was trained on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from threadpoolctl import threadpool_limits

from healthcare_assets.features.grouped_folds import stratified_group_folds
from healthcare_assets.modeling import candidates
from healthcare_assets.modeling.candidates import Hyperparameters
from healthcare_assets.modeling.metrics import auprc, auroc

if TYPE_CHECKING:  # scikit-learn and pandas are imported by the steps that train, not by the code location
    import pandas as pd
    from sklearn.base import BaseEstimator


@dataclass(frozen=True)
class TrainingSettings:
    seed: int = 42
    folds: int = 5
    candidates: tuple[str, ...] = candidates.CANDIDATES
    # A candidate earlier in ``candidates`` wins when its mean CV AUROC is within this of the best (simpler first).
    selection_tolerance: float = 0.005
    hyperparameters: Hyperparameters = field(default_factory=Hyperparameters)
    # OpenMP threads for gradient boosting. 1 by default: on a shared 2-core machine OpenMP's spin-waiting made a
    # 2-thread fit of 11,000 stays 4x SLOWER than 1 thread (0.7 s vs 3.1 s, measured while other jobs ran).
    threads: int = 1

    def __post_init__(self) -> None:
        if self.folds < 2:
            raise ValueError(f"folds must be at least 2, got {self.folds}")
        unknown = [c for c in self.candidates if c not in candidates.CANDIDATES]
        if unknown or not self.candidates:
            raise ValueError(f"candidates must be among {candidates.CANDIDATES}, got {list(self.candidates)}")


@dataclass
class CandidateResult:
    name: str
    params: dict[str, Any]
    folds: list[dict[str, float | int]]  # per fold: n, events, auroc, auprc (ranking metrics of the fold model)
    oof: np.ndarray  # out-of-fold score of every training stay (before recalibration)
    estimator: BaseEstimator  # fitted on the whole training split
    fit_seconds: float

    @property
    def cv_auroc_mean(self) -> float:
        return float(np.mean([f["auroc"] for f in self.folds]))

    @property
    def cv_auroc_std(self) -> float:
        """Sample standard deviation (ddof=1) across folds: the fold-to-fold variability, not its underestimate."""
        return float(np.std([f["auroc"] for f in self.folds], ddof=1))

    def summary(self) -> dict[str, float]:
        values = {m: [f[m] for f in self.folds] for m in ("auroc", "auprc")}
        out = {f"cv_{m}_mean": float(np.mean(v)) for m, v in values.items()}
        out["cv_auroc_std"] = self.cv_auroc_std
        out["cv_auroc_min"] = float(np.min(values["auroc"]))
        out["cv_auroc_max"] = float(np.max(values["auroc"]))
        out["fit_seconds"] = self.fit_seconds
        return out


@dataclass
class TrainingResult:
    candidates: list[CandidateResult]
    chosen: str
    fold_of_stay: np.ndarray  # fold number of every training stay (for the record)
    settings: TrainingSettings

    def candidate(self, name: str) -> CandidateResult:
        return next(c for c in self.candidates if c.name == name)

    @property
    def chosen_result(self) -> CandidateResult:
        return self.candidate(self.chosen)


def folds(y: np.ndarray, groups: np.ndarray, settings: TrainingSettings) -> list[tuple[np.ndarray, np.ndarray]]:
    # scikit-learn's StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed) folds, found faster
    return stratified_group_folds(y, groups, settings.folds, settings.seed)


def train_candidates(X: pd.DataFrame, y: np.ndarray, groups: np.ndarray, settings: TrainingSettings) -> TrainingResult:
    """Cross-validate and fit every candidate on the training split; choose one (``choose``)."""
    with threadpool_limits(limits=settings.threads):
        return _train(X, np.asarray(y, dtype=int), groups, settings)


def _train(X: pd.DataFrame, y: np.ndarray, groups: np.ndarray, settings: TrainingSettings) -> TrainingResult:
    splits = folds(y, groups, settings)
    fold_of_stay = np.empty(len(y), dtype=int)
    for k, (_, test) in enumerate(splits):
        fold_of_stay[test] = k
    results = []
    for name in settings.candidates:
        started = time.perf_counter()
        oof = np.empty(len(y), dtype=float)
        scores = np.empty(len(y), dtype=float)  # the fold models' decision values: the calibrator's input
        per_fold = []
        for k, (train, test) in enumerate(splits):
            model = candidates.fit_base(name, settings.hyperparameters, settings.seed, X.iloc[train], y[train])
            p = model.predict_proba(X.iloc[test])[:, 1]
            oof[test] = p
            scores[test] = model.decision_function(X.iloc[test])
            per_fold.append(
                {
                    "fold": k,
                    "n": int(len(test)),
                    "events": int(y[test].sum()),
                    "auroc": auroc(y[test], p),
                    "auprc": auprc(y[test], p),
                }
            )
        final = candidates.fit_reusing_folds(name, settings.hyperparameters, settings.seed, X, y, splits, scores)
        results.append(
            CandidateResult(
                name=name,
                params=settings.hyperparameters.for_candidate(name),
                folds=per_fold,
                oof=oof,
                estimator=final,
                fit_seconds=round(time.perf_counter() - started, 3),
            )
        )
    return TrainingResult(results, choose(results, settings.selection_tolerance), fold_of_stay, settings)


def choose(results: list[CandidateResult], tolerance: float) -> str:
    """The highest mean CV AUROC; an earlier (simpler) candidate within ``tolerance`` of it wins instead."""
    best = max(r.cv_auroc_mean for r in results)
    return next(r.name for r in results if r.cv_auroc_mean >= best - tolerance)
