"""Cohort, labels and features for 30-day readmission, from the de-identified tables (plain Python + DuckDB SQL).

``build_features(con)`` computes the cohort and the feature matrix from any DuckDB connection holding tables
shaped like ``deidentified_*`` (the warehouse, or one patient's Bundle in memory: same code, no skew). The
definitions are data (``FeatureSpec``, ``CohortSpec``, the codesets); the data dictionary, the pandera gate and
the leakage gate are generated from them.
"""

from healthcare_assets.features.build import (
    COHORT_SOURCES,
    COHORT_TABLE,
    MATRIX_TABLE,
    FeatureBuild,
    build_features,
    compute_cohort,
    compute_features,
    load_sources,
)
from healthcare_assets.features.cohort import AttritionStep, attrition
from healthcare_assets.features.current import FeatureInputError, current_rows_sql
from healthcare_assets.features.dictionary import (
    DICTIONARY_COLUMNS,
    dictionary_rows,
    feature_columns,
    matrix_columns,
    training_columns,
)
from healthcare_assets.features.gate import GateResult, validate
from healthcare_assets.features.leakage import LeakageResult, check_leakage, verified_rows_sql
from healthcare_assets.features.spec import CohortSpec, FeatureSpec, SpecError, WindowSpec
from healthcare_assets.features.training import Split, SplitError, select_batches, split_training_set, training_sql

__all__ = [
    "COHORT_SOURCES",
    "COHORT_TABLE",
    "DICTIONARY_COLUMNS",
    "MATRIX_TABLE",
    "AttritionStep",
    "CohortSpec",
    "FeatureBuild",
    "FeatureInputError",
    "FeatureSpec",
    "GateResult",
    "LeakageResult",
    "Split",
    "SpecError",
    "SplitError",
    "WindowSpec",
    "attrition",
    "build_features",
    "check_leakage",
    "compute_cohort",
    "compute_features",
    "current_rows_sql",
    "dictionary_rows",
    "feature_columns",
    "load_sources",
    "matrix_columns",
    "select_batches",
    "split_training_set",
    "training_columns",
    "training_sql",
    "validate",
    "verified_rows_sql",
]
