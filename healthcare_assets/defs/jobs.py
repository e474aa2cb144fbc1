"""Jobs: the whole batch pipeline for one export partition, and the cross-batch pipeline that follows it."""

from dagster import AssetSelection, define_asset_job

from healthcare_assets.defs.partitions import export_batches

BATCH_PIPELINE = "batch_pipeline"
TRAINING_PIPELINE = "training_pipeline"

# Assets that span batches (not partitioned): the training data here, and every asset of the training,
# validation and registry stages (DESIGN.md, "Batches and the model lifecycle").
CROSS_BATCH_GROUPS = ("training", "validation", "registry")
CROSS_BATCH_ASSETS = ("feature_dictionary", "training_set", "train_test_split")
cross_batch_assets = AssetSelection.groups(*CROSS_BATCH_GROUPS) | AssetSelection.assets(*CROSS_BATCH_ASSETS)

# Every asset partitioned by export batch, in dependency order; the CLI's `run` launches this job.
batch_pipeline = define_asset_job(
    BATCH_PIPELINE,
    selection=AssetSelection.all() - cross_batch_assets,
    partitions_def=export_batches,
    description="Land one export batch and take it through every batch-level asset.",
)

# The assets across batches, after a batch: `run` launches this job once the batch pipeline succeeded.
training_pipeline = define_asset_job(
    TRAINING_PIPELINE,
    selection=cross_batch_assets,
    description="Rebuild what spans batches (training set, split, and the training stage) from every batch so far.",
)
