"""Deterministic synthetic FHIR R4 cohort with a known true readmission risk (the embedded default data source).

    from healthcare_assets.synthetic import SyntheticConfig, generate_cohort
    summary = generate_cohort(out_dir, SyntheticConfig(patients=2000, seed=42), ground_truth_path)

See ``generator`` (files, determinism, crash safety), ``patient`` (what is simulated, and which module holds
each part), ``stays`` (``STAY_MERGE_RULE``), ``ground_truth`` (the truth rows), ``risk`` (the true readmission
model), ``vocab`` (codes and units) and README.md beside this file.
Plain Python: nothing here imports Dagster.
"""

from healthcare_assets.synthetic.config import SyntheticConfig, SyntheticConfigError
from healthcare_assets.synthetic.generator import (
    ALL_RESOURCE_TYPES,
    GenerationSummary,
    auroc,
    generate_cohort,
)
from healthcare_assets.synthetic.ground_truth import GROUND_TRUTH_COLUMNS
from healthcare_assets.synthetic.people import RESTRICTED_ZIP3
from healthcare_assets.synthetic.risk import DischargeState, charlson_index, true_readmission_probability
from healthcare_assets.synthetic.stays import STAY_MERGE_GAP_HOURS, STAY_MERGE_RULE

__all__ = [
    "ALL_RESOURCE_TYPES",
    "GROUND_TRUTH_COLUMNS",
    "RESTRICTED_ZIP3",
    "STAY_MERGE_GAP_HOURS",
    "STAY_MERGE_RULE",
    "DischargeState",
    "GenerationSummary",
    "SyntheticConfig",
    "SyntheticConfigError",
    "auroc",
    "charlson_index",
    "generate_cohort",
    "true_readmission_probability",
]
