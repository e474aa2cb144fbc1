"""The training set and its train/test split.

The training set is every index stay with an observed label from the selected batches, one row per stay: it is
computed over all batches at once (a stay belongs to the batch that first carried it, so overlapping batches
cannot duplicate it, and labels that were pending when its batch arrived are relabelled from all data read).

The split is patient-grouped (no patient on both sides), stratified on the label and seeded. ``random``
uses scikit-learn's ``StratifiedGroupKFold`` (its folds, found faster and without scikit-learn:
``grouped_folds.py``) and keeps one fold as the test set (so the test fraction is 1/k); its groups are patients
ranked by their data (``canonical.py``), not by pseudonym, so the same export splits the same way in every data
directory. ``temporal`` trains on earlier batches and tests on the latest ones; patients already seen in
training are dropped from the test side. Index times cannot order stays across patients (each patient's hours
count from their own anchor, a Safe Harbor requirement), so batches are the only clock that spans patients.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from healthcare_assets.features.canonical import RANK, in_canonical_order
from healthcare_assets.features.dictionary import training_columns
from healthcare_assets.features.grouped_folds import stratified_group_folds
from healthcare_assets.features.spec import FeatureSpec
from healthcare_assets.warehouse.duckdb_store import quote_ident

STRATEGIES = ("random", "temporal")


class SplitError(ValueError):
    """The requested split cannot be made (names the reason)."""


def select_batches(available: Sequence[str], batches: Sequence[str] = (), last_n: int = 0) -> list[str]:
    """The batches to train on, in batch order: an explicit list, the last ``last_n``, or all."""
    if batches:
        unknown = [b for b in batches if b not in available]
        if unknown:
            raise SplitError(f"unknown batches {unknown}; known: {list(available)}")
        chosen = [b for b in available if b in set(batches)]
    else:
        chosen = list(available)
    if last_n:
        if last_n < 0:
            raise SplitError(f"last_n_batches must be >= 0, got {last_n}")
        chosen = chosen[-last_n:]
    return chosen


def training_sql(spec: FeatureSpec, batches: Sequence[str]) -> str:
    """SELECT over ``_fx_matrix``: observed labels of the chosen batches, the training set's columns."""
    names = ", ".join(quote_ident(c.name) for c in training_columns(spec))
    chosen = ", ".join("'" + b.replace("'", "''") + "'" for b in batches) or "NULL"
    return (
        f"SELECT {names} FROM _fx_matrix WHERE label_status = 'observed' AND batch_id IN ({chosen}) "
        "ORDER BY batch_id, patient_id, index_offset_h, stay_id"
    )


@dataclass
class Split:
    assignments: pl.DataFrame  # stay_id, patient_id, split
    strategy: str
    seed: int
    test_fraction: float
    dropped_stays: int = 0  # temporal: test stays of patients already in training
    notes: list[str] = field(default_factory=list)

    def summary(self, labels: pl.DataFrame) -> list[dict[str, object]]:
        """Per side: stays, patients, events, event rate."""
        joined = self.assignments.join(labels.select("stay_id", "label"), on="stay_id")
        rows = []
        for side in ("train", "test"):
            part = joined.filter(pl.col("split") == side)
            events = int(part.get_column("label").sum() or 0)
            rows.append(
                {
                    "split": side,
                    "stays": part.height,
                    "patients": part.get_column("patient_id").n_unique(),
                    "events": events,
                    "event_rate": round(events / part.height, 4) if part.height else 0.0,
                }
            )
        return rows


def split_training_set(
    frame: pl.DataFrame,
    strategy: str = "random",
    test_fraction: float = 0.25,
    seed: int = 42,
    batch_order: Sequence[str] = (),
) -> Split:
    """Assign every stay of ``frame`` (stay_id, patient_id, batch_id, label) to train or test."""
    if strategy not in STRATEGIES:
        raise SplitError(f"unknown split strategy {strategy!r}; expected one of {', '.join(STRATEGIES)}")
    if not 0.05 <= test_fraction <= 0.5:
        raise SplitError(f"test_fraction must be in [0.05, 0.5], got {test_fraction}")
    if frame.height == 0:
        empty = frame.select("stay_id", "patient_id").with_columns(pl.lit("train").alias("split"))
        return Split(empty, strategy, seed, test_fraction, notes=["empty training set"])
    if strategy == "random":
        return _random(in_canonical_order(frame), test_fraction, seed)
    return _temporal(frame.sort("patient_id", "stay_id"), test_fraction, seed, batch_order)


def _random(frame: pl.DataFrame, test_fraction: float, seed: int) -> Split:
    folds = max(2, round(1 / test_fraction))
    patients = frame.get_column("patient_id").n_unique()
    if patients < folds:
        raise SplitError(f"a patient-grouped split into {folds} folds needs at least {folds} patients, got {patients}")
    labels = frame.get_column("label").to_numpy()
    groups = frame.get_column(RANK).to_numpy()  # data-derived, so the split does not depend on the pseudonyms
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, test_index = stratified_group_folds(labels, groups, folds, seed)[0]
    side = np.full(frame.height, "train", dtype=object)
    side[test_index] = "test"
    assignments = frame.select("stay_id", "patient_id").with_columns(pl.Series("split", side.tolist()))
    notes = [str(w.message) for w in caught]
    return Split(assignments, "random", seed, 1 / folds, notes=notes)


def _temporal(frame: pl.DataFrame, test_fraction: float, seed: int, batch_order: Sequence[str]) -> Split:
    present = [b for b in batch_order if b in set(frame.get_column("batch_id").to_list())]
    if len(present) < 2:
        raise SplitError(f"a temporal split needs stays from at least 2 batches, got {len(present)}")
    sizes = frame.group_by("batch_id").len()
    counts = dict(zip(sizes.get_column("batch_id").to_list(), sizes.get_column("len").to_list(), strict=True))
    test_batches: list[str] = []
    total = frame.height
    for batch in reversed(present[1:]):  # the earliest batch always trains
        if test_batches and sum(counts[b] for b in test_batches) >= test_fraction * total:
            break
        test_batches.append(batch)
    in_test = pl.col("batch_id").is_in(test_batches)
    train_patients = frame.filter(~in_test).get_column("patient_id").unique()
    dropped = frame.filter(in_test & pl.col("patient_id").is_in(train_patients.to_list()))
    kept = frame.filter(~(in_test & pl.col("patient_id").is_in(train_patients.to_list())))
    assignments = kept.select("stay_id", "patient_id").with_columns(
        pl.when(pl.col("stay_id").is_in(frame.filter(in_test).get_column("stay_id").to_list()))
        .then(pl.lit("test"))
        .otherwise(pl.lit("train"))
        .alias("split")
    )
    notes = [f"test batches: {', '.join(reversed(test_batches))}"]
    if dropped.height:
        notes.append(f"{dropped.height} test-period stays of patients already in training were left out")
    return Split(assignments, "temporal", seed, test_fraction, dropped.height, notes)
