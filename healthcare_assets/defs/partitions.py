"""Partitions shared by every batch-level asset."""

import warnings
from typing import Any

from dagster import AssetCheckSpec, DynamicPartitionsDefinition

EXPORT_BATCH_PARTITIONS = "export_batch"

# One partition per landed export (a synthetic cohort, an NDJSON folder, a Bulk $export); incremental exports
# and monitoring batches are new partitions, and re-running a partition re-lands the same batch id.
export_batches = DynamicPartitionsDefinition(name=EXPORT_BATCH_PARTITIONS)


def batch_check_spec(name: str, **kwargs: Any) -> AssetCheckSpec:
    """An asset check evaluated per export batch, so each result is tied to its partition (the UI shows the
    batch, not "Partition -"). Dagster 1.13 marks a partitioned check spec as preview; that one warning is
    expected here and silenced, nothing else."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Specifying a partitions_def on an AssetCheckSpec")
        return AssetCheckSpec(name, partitions_def=export_batches, **kwargs)
