"""The training data as the features stage publishes it: ``training_set``, ``train_test_split`` and
``feature_dictionary`` in the warehouse (the contract between features and training, README "Training").

``load_training_data`` reads the three tables from any DuckDB connection, checks the contract (and says which
table and column breaks it), and returns the frame the candidates train on. The model's inputs are exactly the
dictionary's rows with role ``feature``, in dictionary order. Error messages name tables, columns and counts,
never a value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import duckdb
import numpy as np
import polars as pl

from healthcare_assets.audit.canonical import sha256_bytes
from healthcare_assets.features.canonical import RANK, in_canonical_order

if TYPE_CHECKING:  # pandas is imported by the steps that use it, not by the code location
    import pandas as pd

TRAINING_SET = "training_set"
SPLIT = "train_test_split"
DICTIONARY = "feature_dictionary"

KEY_COLUMNS = ("stay_id", "patient_id", "batch_id", "index_offset_h")
LABEL = "label"
SUBGROUPS = ("sex", "age_band")
COMPARATORS = ("lace_score", "hospital_score")
REQUIRED_COLUMNS = (*KEY_COLUMNS, LABEL, *SUBGROUPS, *COMPARATORS)
ROLES = ("key", "label", "feature", "comparator", "subgroup", "meta")
DICTIONARY_COLUMNS = ("name", "role", "dtype", "definition", "unit", "window", "source_codes")
NUMERIC_TYPES = ("DOUBLE", "FLOAT", "REAL", "INTEGER", "BIGINT", "SMALLINT", "TINYINT", "HUGEINT", "BOOLEAN")
NUMERIC_PREFIXES = ("DECIMAL", "UINTEGER", "UBIGINT", "USMALLINT", "UTINYINT")
MIN_EVENTS = 10  # per split: fewer events cannot support 5-fold CV or a test estimate
# Subgroup values go into the report, the model card and MLflow: they must be short codes ("female", "65-79",
# "80+"), few per column. Anything else (free text, an identifier) is refused rather than published.
SUBGROUP_VALUE = r"^[A-Za-z0-9<>=+][A-Za-z0-9 +<>=._/-]{0,31}$"
MAX_SUBGROUP_VALUES = 24


class TrainingDataError(ValueError):
    """The warehouse's training data does not meet the features/training contract."""


class NotEnoughData(TrainingDataError):
    """The training data is well formed but has too few labelled events to train and validate on (yet)."""


@dataclass
class TrainingData:
    """Every labelled index stay with its split, and the feature list in dictionary order."""

    frame: pd.DataFrame  # contract columns, features (float64), and ``split``
    features: list[str]
    dictionary: list[dict[str, object]]
    hashes: dict[str, str]  # table -> SHA-256 of its canonical CSV (rows in key order)
    batch_ids: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if RANK not in self.frame.columns:  # built by hand (tests, tools): patients numbered and ordered by their data
            self.frame = in_canonical_order(pl.from_pandas(self.frame)).to_pandas()

    def part(self, split: str) -> pd.DataFrame:
        return self.frame[self.frame["split"] == split]

    def X(self, split: str) -> pd.DataFrame:
        return self.part(split)[self.features]

    def y(self, split: str) -> np.ndarray:
        return self.part(split)[LABEL].to_numpy(dtype=int)

    def groups(self, split: str) -> np.ndarray:
        """Patients as their data-derived rank (``features/canonical.py``): folds do not depend on pseudonyms."""
        return self.part(split)[RANK].to_numpy()

    def summary(self) -> dict[str, object]:
        """Sizes and event rates per split, and the subgroups' shares: aggregate numbers only."""
        out: dict[str, object] = {"features": len(self.features), "batches": len(self.batch_ids)}
        for split in ("train", "test"):
            part = self.part(split)
            out[split] = {
                "stays": int(len(part)),
                "patients": int(part["patient_id"].nunique()),
                "events": int(part[LABEL].sum()),
                "event_rate": float(part[LABEL].mean()) if len(part) else float("nan"),
            }
        for column in SUBGROUPS:
            counts = self.frame[column].fillna("(missing)").value_counts().sort_index()
            out[column] = {str(k): int(v) for k, v in counts.items()}
        return out


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    rows = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position",
        [table],
    ).fetchall()
    if not rows:
        raise TrainingDataError(
            f"the warehouse has no table {table!r}: materialize the features stage (training_set, "
            "train_test_split, feature_dictionary) before training"
        )
    return {name: kind.upper() for name, kind in rows}


def _is_numeric(kind: str) -> bool:
    return kind in NUMERIC_TYPES or kind.startswith(NUMERIC_PREFIXES)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def load_dictionary(con: duckdb.DuckDBPyConnection) -> list[dict[str, object]]:
    columns = _columns(con, DICTIONARY)
    missing = [c for c in DICTIONARY_COLUMNS if c not in columns]
    if missing:
        raise TrainingDataError(f"{DICTIONARY} lacks the column(s) {', '.join(missing)}")
    select = ", ".join(_q(c) for c in DICTIONARY_COLUMNS)
    frame = con.sql(f"SELECT {select} FROM {DICTIONARY} ORDER BY rowid").pl()
    rows = frame.to_dicts()
    bad_roles = sorted({str(r["role"]) for r in rows} - set(ROLES))
    if bad_roles:
        raise TrainingDataError(f"{DICTIONARY}.role has unknown role(s) {bad_roles}; expected one of {ROLES}")
    names = [r["name"] for r in rows]
    if len(names) != len(set(names)):
        raise TrainingDataError(f"{DICTIONARY}.name is not unique")
    return rows


def load_training_data(con: duckdb.DuckDBPyConnection) -> TrainingData:
    """Read and check the contract's three tables; raise ``TrainingDataError`` naming what is wrong."""
    dictionary = load_dictionary(con)
    features = [str(r["name"]) for r in dictionary if r["role"] == "feature"]
    if not features:
        raise TrainingDataError(f"{DICTIONARY} lists no row with role 'feature': the model would have no inputs")
    columns = _columns(con, TRAINING_SET)
    missing = [c for c in (*REQUIRED_COLUMNS, *features) if c not in columns]
    if missing:
        raise TrainingDataError(f"{TRAINING_SET} lacks the column(s) {', '.join(missing)}")
    reserved = sorted(set(features) & set(REQUIRED_COLUMNS))
    if reserved:
        raise TrainingDataError(
            f"{DICTIONARY} lists key, label, subgroup or comparator column(s) as features: {reserved}"
        )
    not_numeric = [f"{c} ({columns[c]})" for c in features if not _is_numeric(columns[c])]
    if not_numeric:
        raise TrainingDataError(f"{TRAINING_SET}: features must be numeric (NULL = missing): {', '.join(not_numeric)}")
    split_columns = _columns(con, SPLIT)
    missing = [c for c in ("stay_id", "patient_id", "split") if c not in split_columns]
    if missing:
        raise TrainingDataError(f"{SPLIT} lacks the column(s) {', '.join(missing)}")

    checks = con.execute(
        f"""SELECT
              (SELECT count(*) - count(DISTINCT stay_id) FROM {TRAINING_SET}),
              (SELECT count(*) FROM {TRAINING_SET} WHERE stay_id IS NULL OR patient_id IS NULL),
              (SELECT count(*) FROM {TRAINING_SET} WHERE label IS NULL OR label NOT IN (0, 1)),
              (SELECT count(*) - count(DISTINCT stay_id) FROM {SPLIT}),
              (SELECT count(*) FROM {SPLIT} WHERE split IS NULL OR split NOT IN ('train', 'test')),
              (SELECT count(*) FROM {TRAINING_SET} t ANTI JOIN {SPLIT} s USING (stay_id)),
              (SELECT count(*) FROM (SELECT patient_id FROM {SPLIT} GROUP BY patient_id
                                     HAVING count(DISTINCT split) > 1)),
              (SELECT count(*) FROM {TRAINING_SET} t JOIN {SPLIT} s USING (stay_id)
                WHERE t.patient_id IS DISTINCT FROM s.patient_id)"""
    ).fetchall()[0]
    problems = [
        (checks[0], f"{TRAINING_SET}.stay_id has {checks[0]} duplicate(s)"),
        (checks[1], f"{TRAINING_SET}: {checks[1]} row(s) without stay_id or patient_id"),
        (checks[2], f"{TRAINING_SET}.label: {checks[2]} row(s) not 0 or 1 (only observed labels belong here)"),
        (checks[3], f"{SPLIT}.stay_id has {checks[3]} duplicate(s)"),
        (checks[4], f"{SPLIT}.split: {checks[4]} row(s) not 'train' or 'test'"),
        (checks[5], f"{checks[5]} stay(s) of {TRAINING_SET} have no row in {SPLIT}"),
        (checks[6], f"{SPLIT}: {checks[6]} patient(s) in both train and test (the split must be patient-grouped)"),
        (checks[7], f"{checks[7]} stay(s) have a different patient_id in {TRAINING_SET} and {SPLIT}"),
    ]
    for column in SUBGROUPS:
        bad, distinct = con.execute(
            f"""SELECT count(*) FILTER (WHERE {_q(column)} IS NOT NULL
                                        AND NOT regexp_full_match({_q(column)}, '{SUBGROUP_VALUE}')),
                       count(DISTINCT {_q(column)})
                FROM {TRAINING_SET}"""
        ).fetchall()[0]
        if bad:
            problems.append((bad, f"{TRAINING_SET}.{column}: {bad} value(s) are not short subgroup codes"))
        if distinct > MAX_SUBGROUP_VALUES:
            problems.append(
                (distinct, f"{TRAINING_SET}.{column} has {distinct} distinct values (at most {MAX_SUBGROUP_VALUES})")
            )
    found = [message for count, message in problems if count]
    if found:
        raise TrainingDataError("; ".join(found))

    select = ", ".join(
        [*(f"t.{_q(c)}" for c in REQUIRED_COLUMNS), *(f"t.{_q(c)}::DOUBLE AS {_q(c)}" for c in features)]
    )
    frame = con.sql(
        f"SELECT {select}, s.split FROM {TRAINING_SET} t JOIN {SPLIT} s USING (stay_id) ORDER BY t.stay_id"
    ).pl()
    for split in ("train", "test"):
        part = frame.filter(pl.col("split") == split)
        events = int(part[LABEL].sum()) if part.height else 0
        if events < MIN_EVENTS or part.height - events < MIN_EVENTS:
            raise NotEnoughData(
                f"the {split} split has {part.height} stays with {events} events: at least {MIN_EVENTS} events and "
                f"{MIN_EVENTS} non-events are needed (land more data)"
            )
    hashes = {
        TRAINING_SET: _table_sha256(con, TRAINING_SET, "stay_id"),
        SPLIT: _table_sha256(con, SPLIT, "stay_id"),
        DICTIONARY: _table_sha256(con, DICTIONARY, "rowid"),
    }
    # Rows in the data's own order (by patient rank, then index time), so cross-validation folds and the models'
    # own randomness (early-stopping holdouts) are the same in every data directory holding this export.
    frame = in_canonical_order(frame)
    batches = sorted(str(b) for b in frame["batch_id"].unique().to_list() if b is not None)
    pandas_frame = frame.to_pandas()
    pandas_frame[LABEL] = pandas_frame[LABEL].astype(int)
    return TrainingData(pandas_frame, features, dictionary, hashes, batches)


def _table_sha256(con: duckdb.DuckDBPyConnection, table: str, order: str) -> str:
    """SHA-256 of the whole table as CSV with its rows in key order: the same data gives the same hash."""
    frame = con.sql(f"SELECT * FROM {table} ORDER BY {order}").pl()
    return sha256_bytes(frame.write_csv().encode("utf-8"))
