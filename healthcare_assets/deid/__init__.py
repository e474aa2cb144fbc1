"""De-identification under HIPAA Safe Harbor: allow-list views, pseudonyms, relative time, residual-PHI scan."""

from healthcare_assets.deid.engine import DeidError, DeidResult, StagedTable, deidentify_batch
from healthcare_assets.deid.policy import Policy, Profile, build_policy
from healthcare_assets.deid.pseudonyms import Codebook, CodebookPseudonymizer, HmacPseudonymizer
from healthcare_assets.deid.scan import Finding, ScanResult, scan_tables

__all__ = [
    "Codebook",
    "CodebookPseudonymizer",
    "DeidError",
    "DeidResult",
    "Finding",
    "HmacPseudonymizer",
    "Policy",
    "Profile",
    "ScanResult",
    "StagedTable",
    "build_policy",
    "deidentify_batch",
    "scan_tables",
]
