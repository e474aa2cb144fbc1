"""The split: patient-grouped, stratified, seeded; the temporal option; batch selection."""

from __future__ import annotations

import random

import polars as pl
import pytest

from healthcare_assets.features import SplitError, select_batches, split_training_set


def _frame(patients: int = 400, seed: int = 3) -> pl.DataFrame:
    rng = random.Random(seed)
    rows = []
    for p in range(patients):
        for s in range(rng.randint(1, 4)):
            rows.append((f"s{p}-{s}", f"p{p}", f"b{1 + (p + s) % 3}", int(rng.random() < 0.15)))
    return pl.DataFrame(rows, schema=["stay_id", "patient_id", "batch_id", "label"], orient="row")


def test_random_split_is_grouped_stratified_and_seeded() -> None:
    frame = _frame()
    split = split_training_set(frame, "random", 0.25, seed=7)
    sides = split.assignments.group_by("patient_id").agg(pl.col("split").n_unique())
    assert sides.get_column("split").max() == 1  # no patient on both sides
    summary = {s["split"]: s for s in split.summary(frame)}
    assert abs(summary["test"]["stays"] / frame.height - 0.25) < 0.05
    assert abs(summary["test"]["event_rate"] - summary["train"]["event_rate"]) < 0.03
    assert split.assignments.equals(split_training_set(frame, "random", 0.25, seed=7).assignments)
    assert not split.assignments.equals(split_training_set(frame, "random", 0.25, seed=8).assignments)


def test_temporal_split_tests_on_the_latest_batches_without_shared_patients() -> None:
    frame = _frame()
    split = split_training_set(frame, "temporal", 0.25, batch_order=["b1", "b2", "b3"])
    joined = split.assignments.join(frame.select("stay_id", "batch_id"), on="stay_id")
    assert set(joined.filter(pl.col("split") == "test").get_column("batch_id").unique()) == {"b3"}
    assert set(joined.filter(pl.col("split") == "train").get_column("batch_id").unique()) <= {"b1", "b2"}
    train = set(joined.filter(pl.col("split") == "train").get_column("patient_id"))
    test = set(joined.filter(pl.col("split") == "test").get_column("patient_id"))
    assert not train & test and split.dropped_stays > 0
    assert split.assignments.height + split.dropped_stays == frame.height
    with pytest.raises(SplitError, match="at least 2 batches"):
        split_training_set(frame.filter(pl.col("batch_id") == "b1"), "temporal", batch_order=["b1", "b2"])


def test_bad_requests_are_named() -> None:
    with pytest.raises(SplitError, match="unknown split strategy 'future'"):
        split_training_set(_frame(10), "future")
    with pytest.raises(SplitError, match=r"unknown batches \['b9'\]"):
        select_batches(["b1", "b2"], ["b9"])
    assert select_batches(["b1", "b2", "b3"], [], last_n=2) == ["b2", "b3"]
    assert select_batches(["b1", "b2", "b3"], ["b3", "b1"]) == ["b1", "b3"]
