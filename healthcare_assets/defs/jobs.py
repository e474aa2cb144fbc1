"""Jobs: the whole batch pipeline for one export partition."""

from dagster import AssetSelection, define_asset_job

from healthcare_assets.defs.partitions import export_batches

BATCH_PIPELINE = "batch_pipeline"

# Every asset partitioned by export batch, in dependency order; the CLI's `run` launches this job.
batch_pipeline = define_asset_job(
    BATCH_PIPELINE,
    selection=AssetSelection.all(),
    partitions_def=export_batches,
    description="Land one export batch and take it through every batch-level asset.",
)
