"""Training data contract checks, candidate training (grouped CV, reproducibility), and the model format."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest
import skops.io

from healthcare_assets.modeling import candidates, model_format
from healthcare_assets.modeling.calibration import calibration
from healthcare_assets.modeling.dataset import TrainingDataError, load_training_data
from healthcare_assets.modeling.training import TrainingSettings, choose, folds, train_candidates
from healthcare_assets.warehouse import Warehouse
from healthcare_assets_tests.modeling.contract import contract_tables, write_contract

FAST = candidates.Hyperparameters(gb_max_iter=60, gb_n_iter_no_change=10)


@pytest.fixture(scope="module")
def tables(strong_truth: pl.DataFrame) -> dict[str, pl.DataFrame]:
    return contract_tables(strong_truth, seed=3)


def _load(tmp_path, tables: dict[str, pl.DataFrame]):
    path = tmp_path / "warehouse.duckdb"
    write_contract(path, tables)
    with Warehouse(path).connect(read_only=True) as con:
        return load_training_data(con)


def test_contract_tables_load_with_features_in_dictionary_order(tmp_path, tables) -> None:
    data = _load(tmp_path, tables)
    dictionary = tables["feature_dictionary"]
    assert data.features == dictionary.filter(pl.col("role") == "feature")["name"].to_list()
    assert set(data.frame["split"]) == {"train", "test"}
    assert len(data.frame) == tables["training_set"].height
    assert all(len(h) == 64 for h in data.hashes.values())
    summary = data.summary()
    assert summary["train"]["stays"] + summary["test"]["stays"] == len(data.frame)
    assert set(summary["sex"]) <= {"female", "male", "other", "unknown"}
    again = tmp_path / "again"
    again.mkdir()
    assert _load(again, tables).hashes == data.hashes  # same tables, same hashes


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.update(training_set=t["training_set"].drop("lace_score")), "lacks the column(s) lace_score"),
        (
            lambda t: t.update(training_set=pl.concat([t["training_set"], t["training_set"].head(2)])),
            "stay_id has 2 duplicate(s)",
        ),
        (
            lambda t: t.update(training_set=t["training_set"].with_columns(pl.lit(2).alias("label"))),
            "not 0 or 1",
        ),
        (
            lambda t: t.update(train_test_split=t["train_test_split"].tail(-5)),
            "5 stay(s) of training_set have no row in train_test_split",
        ),
        (
            lambda t: t.update(
                training_set=t["training_set"].with_columns(pl.col("age_years").cast(pl.Utf8).alias("age_years"))
            ),
            "features must be numeric",
        ),
        (
            lambda t: t.update(
                feature_dictionary=t["feature_dictionary"].with_columns(
                    pl.when(pl.col("name") == "label").then(pl.lit("feature")).otherwise(pl.col("role")).alias("role")
                )
            ),
            "as features",
        ),
        (lambda t: t.pop("train_test_split"), "no table 'train_test_split'"),
    ],
)
def test_contract_violations_are_named(tmp_path, tables, change, message) -> None:
    broken = dict(tables)
    change(broken)
    with pytest.raises(TrainingDataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _load(tmp_path, broken)


def test_subgroup_values_that_are_not_codes_are_refused_without_quoting_them(tmp_path, tables) -> None:
    planted = "Jane Q. Doe 555-867-5309 \u00e9\u00ff" + "x" * 5000
    training = tables["training_set"].with_columns(
        pl.when(pl.int_range(pl.len()) < 3).then(pl.lit(planted)).otherwise(pl.col("sex")).alias("sex")
    )
    with pytest.raises(TrainingDataError) as raised:
        _load(tmp_path, {**tables, "training_set": training})
    assert "training_set.sex: 3 value(s) are not short subgroup codes" in str(raised.value)
    assert "Doe" not in str(raised.value) and "555" not in str(raised.value)
    many = tables["training_set"].with_columns(pl.col("stay_id").str.slice(0, 6).alias("age_band"))
    (tmp_path / "many").mkdir()
    with pytest.raises(TrainingDataError, match="age_band has [0-9]+ distinct values"):
        _load(tmp_path / "many", {**tables, "training_set": many})


def test_a_patient_in_both_splits_is_refused(tmp_path, tables) -> None:
    split = tables["train_test_split"]
    patient = split.group_by("patient_id").len().filter(pl.col("len") > 1).sort("patient_id")["patient_id"][0]
    first_stay = split.filter(pl.col("patient_id") == patient)["stay_id"][0]
    leaked = split.with_columns(
        pl.when(pl.col("stay_id") == first_stay)
        .then(pl.lit("test"))
        .when(pl.col("patient_id") == patient)
        .then(pl.lit("train"))
        .otherwise(pl.col("split"))
        .alias("split")
    )
    with pytest.raises(TrainingDataError, match="1 patient\\(s\\) in both train and test"):
        _load(tmp_path, {**tables, "train_test_split": leaked})


def test_grouped_folds_keep_patients_together_and_stratify() -> None:
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(400), rng.integers(1, 4, 400))
    y = (rng.random(len(groups)) < 0.15).astype(int)
    splits = folds(y, groups, TrainingSettings(seed=7))
    assert len(splits) == 5
    seen = np.zeros(len(y), dtype=int)
    for train, test in splits:
        assert not set(groups[train]) & set(groups[test])
        seen[test] += 1
        assert abs(y[test].mean() - y.mean()) < 0.05
    assert (seen == 1).all()
    assert [t.tolist() for _, t in folds(y, groups, TrainingSettings(seed=7))] == [t.tolist() for _, t in splits]


def test_candidates_train_reproducibly_and_the_corrected_logistic_regression_is_calibrated(tmp_path, tables) -> None:
    data = _load(tmp_path, tables)
    settings = TrainingSettings(seed=11, hyperparameters=FAST)
    assert settings.workers == 2  # side by side in two processes by default...
    first = train_candidates(data.X("train"), data.y("train"), data.groups("train"), settings)
    # ... and one after the other in this process: the same folds, the same bits.
    serial = TrainingSettings(seed=11, hyperparameters=FAST, workers=1)
    second = train_candidates(data.X("train"), data.y("train"), data.groups("train"), serial)
    assert [c.name for c in first.candidates] == list(candidates.CANDIDATES)
    for a, b in zip(first.candidates, second.candidates, strict=True):
        assert a.folds == b.folds
        np.testing.assert_array_equal(a.oof, b.oof)
        assert a.fit_seconds > 0
        np.testing.assert_array_equal(
            a.estimator.predict_proba(data.X("test")), b.estimator.predict_proba(data.X("test"))
        )
        assert len(a.folds) == 5 and all(0.5 < f["auroc"] <= 1 for f in a.folds)
        assert a.cv_auroc_std == pytest.approx(np.std([f["auroc"] for f in a.folds], ddof=1))
    assert first.chosen == second.chosen
    # Balanced class weights inflate probabilities (to over 1.5 times the event rate, below); the out-of-fold
    # recalibration brings them back. ~790 training stays: the mean's standard error is ~0.012, so 0.03 is 2.5 SE.
    for candidate in first.candidates:
        p = candidate.estimator.predict_proba(data.X("train"))[:, 1]
        assert p.mean() == pytest.approx(data.y("train").mean(), abs=0.03), candidate.name
    weighted = candidates.fit_base(candidates.LOGISTIC, FAST, 11, data.X("train"), data.y("train"))
    assert weighted.predict_proba(data.X("train"))[:, 1].mean() > 1.5 * data.y("train").mean()  # what was fixed
    lr = first.candidate(candidates.LOGISTIC).estimator
    test = calibration(data.y("test"), lr.predict_proba(data.X("test"))[:, 1])
    assert abs(test.in_the_large) < 0.05 and 0.5 < test.slope < 2.0  # ~300 test stays: the slope's SE is ~0.2


def test_choice_prefers_the_simpler_model_on_a_near_tie() -> None:
    class R:
        def __init__(self, name, auroc):
            self.name, self.cv_auroc_mean = name, auroc

    assert choose([R("logistic_regression", 0.900), R("gradient_boosting", 0.903)], 0.005) == "logistic_regression"
    assert choose([R("logistic_regression", 0.890), R("gradient_boosting", 0.903)], 0.005) == "gradient_boosting"
    with pytest.raises(ValueError, match="candidates must be among"):
        TrainingSettings(candidates=("random_forest",))
    with pytest.raises(ValueError, match="workers must be at least 1"):
        TrainingSettings(workers=0)


def test_every_candidate_round_trips_through_skops_with_exactly_the_trusted_types() -> None:
    """Columns no training row has (a stay trend of a lab measured once per stay) and constant ones included:
    scikit-learn 1.9's gradient boosting cannot bin a column without values, so the candidate drops them."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(300, 4)), columns=["a", "b", "c", "d"])
    X.iloc[::7, 1] = np.nan
    X["never_measured"] = np.nan
    X["constant"] = 1.0
    y = (rng.random(300) < 0.3).astype(int)
    splits = folds(y, np.arange(300), TrainingSettings(seed=0))
    for name in candidates.CANDIDATES:
        model = candidates.fit_reusing_folds(name, FAST, 0, X, y, splits, _fold_scores(name, X, y, splits))
        blob = skops.io.dumps(model)
        assert set(skops.io.get_untrusted_types(data=blob)) <= set(model_format.TRUSTED_TYPES)
        loaded = skops.io.loads(blob, trusted=list(model_format.TRUSTED_TYPES))
        np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    example = model_format.input_example(X)
    assert example.shape == (2, 6) and example.iloc[1].isna().all()
    assert example.iloc[0].tolist()[:4] == X.median().tolist()[:4]  # aggregates, no one's row


def _fold_scores(name: str, X: pd.DataFrame, y: np.ndarray, splits, seed: int = 0) -> np.ndarray:
    """What training computes: each fold model's decision values on its held-out rows."""
    scores = np.empty(len(y))
    for train, test in splits:
        scores[test] = candidates.fit_base(name, FAST, seed, X.iloc[train], y[train]).decision_function(X.iloc[test])
    return scores


@pytest.mark.parametrize("name", candidates.CANDIDATES)
def test_reusing_the_fold_models_gives_exactly_the_stock_calibrated_model(name: str) -> None:
    """Training reuses the cross-validation's fold models for the recalibration instead of letting
    CalibratedClassifierCV fit them again: the model must be the one CalibratedClassifierCV.fit builds."""
    rng = np.random.default_rng(5)
    X = pd.DataFrame(rng.normal(size=(400, 5)), columns=[f"x{i}" for i in range(5)])
    X.iloc[::5, 2] = np.nan
    X["never_measured"] = np.nan
    y = (rng.random(400) < 1 / (1 + np.exp(-(X["x0"] - 1.0).to_numpy()))).astype(int)
    splits = folds(y, np.arange(400) // 2, TrainingSettings(seed=3))  # two stays per patient
    stock = candidates.fit(name, FAST, 3, X, y, splits)
    reused = candidates.fit_reusing_folds(name, FAST, 3, X, y, splits, _fold_scores(name, X, y, splits, 3))
    np.testing.assert_array_equal(reused.predict_proba(X), stock.predict_proba(X))
    assert type(reused) is type(stock) and reused.get_params().keys() == stock.get_params().keys()
    assert list(reused.feature_names_in_) == list(stock.feature_names_in_) and reused.n_features_in_ == 6
    assert (reused.classes_ == stock.classes_).all()
    a, b = stock.calibrated_classifiers_[0].calibrators[0], reused.calibrated_classifiers_[0].calibrators[0]
    assert (a.a_, a.b_) == (b.a_, b.b_)
    with pytest.raises(ValueError, match="one score per training row"):
        candidates.fit_reusing_folds(name, FAST, 3, X, y, splits, np.zeros(3))


def test_the_same_data_under_other_pseudonyms_trains_the_same_models(tmp_path, tables) -> None:
    """Another data directory draws other pseudonyms: rows, folds and models must not change with them."""
    rng = np.random.default_rng(1)
    ids = set(tables["training_set"]["stay_id"]) | set(tables["training_set"]["patient_id"])
    fresh = {old: f"{rng.integers(2**63):016x}" for old in sorted(ids)}
    renamed = {
        name: frame.with_columns(
            *(pl.col(c).replace_strict(fresh) for c in ("stay_id", "patient_id") if c in frame.columns)
        ).sample(fraction=1.0, shuffle=True, seed=2)
        if name != "feature_dictionary"
        else frame
        for name, frame in tables.items()
    }
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, second = _load(tmp_path / "a", tables), _load(tmp_path / "b", renamed)
    original = {new: old for old, new in fresh.items()}
    assert [original[s] for s in second.frame["stay_id"]] == first.frame["stay_id"].tolist()
    np.testing.assert_array_equal(first.groups("train"), second.groups("train"))
    settings = TrainingSettings(seed=11, hyperparameters=FAST)
    a = train_candidates(first.X("train"), first.y("train"), first.groups("train"), settings)
    b = train_candidates(second.X("train"), second.y("train"), second.groups("train"), settings)
    for x, y in zip(a.candidates, b.candidates, strict=True):
        assert x.folds == y.folds
        np.testing.assert_array_equal(
            x.estimator.predict_proba(first.X("test")), y.estimator.predict_proba(second.X("test"))
        )


def test_a_column_without_values_is_dropped_without_warnings() -> None:
    """A lab no training stay has is an all-NaN column: boosting's VarianceThreshold drops it silently, while any
    other RuntimeWarning still shows."""
    import warnings

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=200), "never_measured": np.full(200, np.nan), "b": rng.normal(size=200)})
    y = (X["a"] + rng.normal(scale=0.5, size=200) > 0).astype(int).to_numpy()
    params = candidates.Hyperparameters(gb_max_iter=20)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = candidates.fit_base(candidates.BOOSTING, params, 0, X, y)
        warnings.warn("still shown", RuntimeWarning, stacklevel=1)
    assert list(model.named_steps["drop_empty"].get_support()) == [True, False, True]
    assert [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)] == ["still shown"]
