"""Partitions shared by every batch-level asset."""

from dagster import DynamicPartitionsDefinition

EXPORT_BATCH_PARTITIONS = "export_batch"

# One partition per landed export (a synthetic cohort, an NDJSON folder, a Bulk $export); incremental exports
# and monitoring batches are new partitions, and re-running a partition re-lands the same batch id.
export_batches = DynamicPartitionsDefinition(name=EXPORT_BATCH_PARTITIONS)
