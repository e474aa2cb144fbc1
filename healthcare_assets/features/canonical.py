"""A patient order that the data decides, not the pseudonyms, so the same export gives the same split and model.

Pseudonyms are drawn at random per data directory (``deid/pseudonyms.py``), by design. scikit-learn's grouped
splitters number the groups in sorted order of their labels, so grouping stays by pseudonym made the seeded
patient-grouped split, the cross-validation folds and the row order of training differ from one data directory
to the next on the very same export: another model, other metrics, and a clinical gate that a fresh quickstart
could fail on one machine and pass on another. Here each patient is ranked by a digest of everything the
frame says of their stays except identifiers (index time, label, sex, age band, scores, features; numbers to nine
significant digits, so a last-bit difference in a computed mean cannot move a patient); only patients whose stays
are identical in all of it are ordered by pseudonym, the one place chance remains.
"""

from __future__ import annotations

import hashlib

import polars as pl

RANK = "patient_rank"
# Not part of a patient's digest: identifiers (random per data directory), the batch (named by landing time), and
# what is derived from the order itself.
NOT_DATA = ("stay_id", "patient_id", "batch_id", "split", RANK)
SIGNIFICANT_DIGITS = 9


def patient_ranks(frame: pl.DataFrame) -> pl.DataFrame:
    """``patient_id``, ``patient_rank`` (0 .. patients - 1) for every patient of ``frame`` (one row per stay)."""
    values = [_text(c, frame.schema[c]) for c in frame.columns if c not in NOT_DATA]
    stay_key = pl.concat_str(values, separator="|") if values else pl.lit("")
    keys = (
        frame.select("patient_id", stay_key.alias("_stay"))
        .group_by("patient_id")
        .agg(pl.col("_stay").sort().str.join(";").alias("_key"))
    )
    digests = [hashlib.sha256(k.encode("utf-8")).hexdigest() for k in keys.get_column("_key").to_list()]
    return (
        keys.select("patient_id")
        .with_columns(pl.Series("_digest", digests, dtype=pl.Utf8))
        .sort("_digest", "patient_id")
        .with_row_index(RANK)
        .select("patient_id", pl.col(RANK).cast(pl.Int64))
    )


def in_canonical_order(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with ``patient_rank`` (re)computed, its rows ordered by patient rank, then index time, then stay."""
    frame = frame.drop(RANK, strict=False)  # a frame ranked before (``TrainingData``) is ranked from its data again
    ranked = frame.join(patient_ranks(frame), on="patient_id", how="left")
    order = [c for c in (RANK, "index_offset_h", "stay_id") if c in ranked.columns]
    return ranked.sort(order)


def _text(column: str, dtype: pl.DataType) -> pl.Expr:
    value = pl.col(column)
    if dtype.is_float():
        value = value.round_sig_figs(SIGNIFICANT_DIGITS)
    return value.cast(pl.Utf8).fill_null("")
