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


def _stays_with_data(patients: int = 600, seed: int = 5) -> pl.DataFrame:
    """Stays with what the training set knows of them (index time, label, sex, age band, scores)."""
    rng = random.Random(seed)
    rows = []
    for p in range(patients):
        sex, band = rng.choice(["female", "male"]), rng.choice(["18-44", "45-64", "65-74", "75-84", "85+"])
        hours = 0.0
        for s in range(rng.randint(1, 4)):
            hours += rng.randint(24, 9000) + rng.randint(0, 59) / 60
            rows.append(
                (f"s{p}-{s}", f"p{p}", "b1", int(rng.random() < 0.15), hours, sex, band, rng.randint(0, 19),
                 rng.randint(0, 13))
            )  # fmt: skip
    columns = ["stay_id", "patient_id", "batch_id", "label", "index_offset_h", "sex", "age_band", "lace_score",
               "hospital_score"]  # fmt: skip
    return pl.DataFrame(rows, schema=columns, orient="row")


def _repseudonymized(frame: pl.DataFrame, seed: int) -> tuple[pl.DataFrame, dict[str, str]]:
    """The same stays under fresh random pseudonyms and in another row order (another data directory)."""
    rng = random.Random(seed)
    ids = frame.get_column("patient_id").unique().to_list() + frame.get_column("stay_id").to_list()
    fresh = {old: f"{rng.getrandbits(64):016x}" for old in ids}
    renamed = frame.with_columns(
        pl.col("patient_id").replace_strict(fresh), pl.col("stay_id").replace_strict(fresh)
    ).sample(fraction=1.0, shuffle=True, seed=seed)
    return renamed, {new: old for old, new in fresh.items()}


def test_the_random_split_is_the_same_under_other_pseudonyms() -> None:
    """Each data directory draws its own pseudonyms; the same export must still split the same way."""
    frame = _stays_with_data()
    reference = split_training_set(frame, "random", 0.25, seed=42).assignments
    expected = dict(zip(reference.get_column("stay_id"), reference.get_column("split"), strict=True))
    assert 0.15 < sum(v == "test" for v in expected.values()) / len(expected) < 0.35
    for directory in (1, 2, 3):
        renamed, original = _repseudonymized(frame, directory)
        got = split_training_set(renamed, "random", 0.25, seed=42).assignments
        assert {original[s]: side for s, side in got.select("stay_id", "split").iter_rows()} == expected


def test_patient_ranks_follow_the_data_not_the_pseudonyms() -> None:
    from healthcare_assets.features.canonical import in_canonical_order, patient_ranks

    frame = _stays_with_data(200)
    ranks = dict(patient_ranks(frame).iter_rows())
    assert sorted(ranks.values()) == list(range(200))
    renamed, original = _repseudonymized(frame, 9)
    assert {original[p]: r for p, r in patient_ranks(renamed).iter_rows()} == ranks
    ordered = in_canonical_order(renamed)
    assert [original[s] for s in ordered.get_column("stay_id")] == in_canonical_order(frame).get_column(
        "stay_id"
    ).to_list()
    # A patient's rank changes with their data: another label on one stay moves them.
    changed = frame.with_columns(
        pl.when(pl.col("stay_id") == "s0-0").then(1 - pl.col("label")).otherwise(pl.col("label")).alias("label")
    )
    assert dict(patient_ranks(changed).iter_rows())["p0"] != ranks["p0"]
