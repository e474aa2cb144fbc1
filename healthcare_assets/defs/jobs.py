"""Jobs: the batch pipeline for one export partition, the cross-batch pipeline that follows it, and a person's
promotion."""

from dagster import AssetSelection, define_asset_job, in_process_executor

from healthcare_assets.defs.partitions import export_batches

BATCH_PIPELINE = "batch_pipeline"
TRAINING_PIPELINE = "training_pipeline"
PROMOTE_CHAMPION = "promote_champion"

# Only a person materializes it (`healthcare-assets promote`, or the UI with run config): no job runs it otherwise.
PROMOTION_ASSET = "champion_model"
# Assets that span batches (not partitioned): the training data, and every asset of the training, validation and
# registry stages (DESIGN.md, "Batches and the model lifecycle"), except the promotion.
CROSS_BATCH_GROUPS = ("training", "validation", "registry")
CROSS_BATCH_ASSETS = ("feature_dictionary", "training_set", "train_test_split")
# The training job's model steps (`healthcare-assets train` runs only these, on the current training set).
MODEL_ASSETS = ("candidate_models", "validation_report", "model_card")
cross_batch_assets = (
    AssetSelection.groups(*CROSS_BATCH_GROUPS) | AssetSelection.assets(*CROSS_BATCH_ASSETS)
) - AssetSelection.assets(PROMOTION_ASSET)

# Every asset partitioned by export batch, in dependency order; the CLI's `run` launches this job.
batch_pipeline = define_asset_job(
    BATCH_PIPELINE,
    selection=AssetSelection.all() - cross_batch_assets - AssetSelection.assets(PROMOTION_ASSET),
    partitions_def=export_batches,
    description="Land one export batch and take it through every batch-level asset.",
)

# After a batch: `run` launches this job once the batch pipeline succeeded. A linear chain, so one process (steps
# could not run in parallel anyway, and each would re-import the ML stack).
training_pipeline = define_asset_job(
    TRAINING_PIPELINE,
    selection=cross_batch_assets,
    executor_def=in_process_executor,
    description="Rebuild what spans batches from every batch so far (training set, split), train the candidates, "
    "validate the chosen model behind the clinical gate, card it and register it as the challenger. Never promotes.",
)

promote_champion = define_asset_job(
    PROMOTE_CHAMPION,
    selection=AssetSelection.assets(PROMOTION_ASSET),
    executor_def=in_process_executor,
    description="Point the champion alias at an approved version (run config: version, approver, reason), or "
    "roll it back. Started only by a person.",
)
