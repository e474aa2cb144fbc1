"""Train the candidates: patient-grouped, label-stratified k-fold cross-validation on the training split, a final
fit on the whole training split (recalibrated out of fold on the same folds, see ``candidates``), and the choice
of one model.

Reproducible: the folds come from ``StratifiedGroupKFold(shuffle=True, random_state=seed)`` and every estimator
gets the same seed, so the same data and settings give the same folds, metrics and fitted model. All stays of
a patient fall in one fold, so no fold is scored on a patient it was trained on.

The fits (per candidate: one per fold and one on the whole split) are independent of each other, so they run
side by side in ``workers`` processes (joblib's loky pool, as scikit-learn's own ``n_jobs``), the longest
first, each fit with ``threads`` OpenMP/BLAS threads. Processes, not threads: boosting holds the GIL between
its Cython loops, and two fitting threads took 17.0 s where one took 18.8 s (12 fits, 10,302 stays; 2 worker
processes: 13.8 s, pool start-up included). Every fit sees the same rows and seed whichever worker runs it,
so the result is the same, bit for bit, with any number of workers (a test checks it).
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
    # Fits run side by side in this many processes (1: one after the other, in this process).
    workers: int = 2

    def __post_init__(self) -> None:
        if self.folds < 2:
            raise ValueError(f"folds must be at least 2, got {self.folds}")
        if self.workers < 1:
            raise ValueError(f"workers must be at least 1, got {self.workers}")
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
    fit_seconds: float  # its fits' seconds, summed (they run side by side with other fits: not a wall time)

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
    return _train(X, np.asarray(y, dtype=int), groups, settings)


def _fit(
    name: str, params: Hyperparameters, seed: int, X: pd.DataFrame, y: np.ndarray, rows: tuple | None
) -> tuple[Any, float]:
    """One fit, in a worker: ``rows`` None, the candidate on all of ``X`` (returned); else ``(train, test)``, the
    fold model's probabilities and decision values on its held-out stays. Also the seconds it took."""
    started = time.perf_counter()
    if rows is None:
        return candidates.fit_base(name, params, seed, X, y), time.perf_counter() - started
    train, test = rows
    model = candidates.fit_base(name, params, seed, X.iloc[train], y[train])
    held_out = X.iloc[test]
    scored = (model.predict_proba(held_out)[:, 1], model.decision_function(held_out))
    return scored, time.perf_counter() - started


def _fit_all(X: pd.DataFrame, y: np.ndarray, tasks: list[tuple], settings: TrainingSettings) -> list:
    from joblib import Parallel, delayed, parallel_config  # imported by the step that trains, not at start-up

    params, seed = settings.hyperparameters, settings.seed
    jobs = [delayed(_fit)(name, params, seed, X, y, rows) for name, rows in tasks]
    if settings.workers == 1:
        with threadpool_limits(limits=settings.threads):
            return Parallel(n_jobs=1)(jobs)
    with parallel_config(backend="loky", inner_max_num_threads=settings.threads):
        return Parallel(n_jobs=min(settings.workers, len(jobs)))(jobs)


def _train(X: pd.DataFrame, y: np.ndarray, groups: np.ndarray, settings: TrainingSettings) -> TrainingResult:
    splits = folds(y, groups, settings)
    fold_of_stay = np.empty(len(y), dtype=int)
    for k, (_, test) in enumerate(splits):
        fold_of_stay[test] = k
    # Boosting (the slowest fits) first, the whole-split fits before the fold fits: the workers finish close
    # together.
    order = sorted(settings.candidates, key=lambda n: n != candidates.BOOSTING)
    keys = [(name, None) for name in order] + [(name, k) for name in order for k in range(len(splits))]
    tasks = [(name, None if k is None else splits[k]) for name, k in keys]
    done = dict(zip(keys, _fit_all(X, y, tasks, settings), strict=True))
    params = settings.hyperparameters
    results = []
    for name in settings.candidates:
        oof = np.empty(len(y), dtype=float)
        scores = np.empty(len(y), dtype=float)  # the fold models' decision values: the calibrator's input
        per_fold, seconds = [], 0.0
        for k, (_, test) in enumerate(splits):
            (p, decision), took = done[name, k]
            oof[test], scores[test] = p, decision
            seconds += took
            per_fold.append(
                {
                    "fold": k,
                    "n": int(len(test)),
                    "events": int(y[test].sum()),
                    "auroc": auroc(y[test], p),
                    "auprc": auprc(y[test], p),
                }
            )
        base, took = done[name, None]
        final = candidates.fit_reusing_folds(name, params, settings.seed, X, y, splits, scores, base=base)
        results.append(
            CandidateResult(
                name=name,
                params=params.for_candidate(name),
                folds=per_fold,
                oof=oof,
                estimator=final,
                fit_seconds=round(seconds + took, 3),
            )
        )
    return TrainingResult(results, choose(results, settings.selection_tolerance), fold_of_stay, settings)


def choose(results: list[CandidateResult], tolerance: float) -> str:
    """The highest mean CV AUROC; an earlier (simpler) candidate within ``tolerance`` of it wins instead."""
    best = max(r.cv_auroc_mean for r in results)
    return next(r.name for r in results if r.cv_auroc_mean >= best - tolerance)
