"""Jobs: the whole batch pipeline for one export partition; training after a batch; a person's promotion."""

from dagster import AssetSelection, define_asset_job, in_process_executor

from healthcare_assets.defs.partitions import export_batches

BATCH_PIPELINE = "batch_pipeline"
TRAINING_PIPELINE = "training_pipeline"
PROMOTE_CHAMPION = "promote_champion"

# Computed across batches (not partitioned), in dependency order: what the training job materializes after a
# batch. The features stage's training_set, train_test_split and feature_dictionary join this list when merged.
TRAINING_ASSETS = ("candidate_models", "validation_report", "model_card")
# Only a person materializes it (`healthcare-assets promote`, or the UI with run config): no job runs it otherwise.
PROMOTION_ASSET = "champion_model"

# Every asset partitioned by export batch, in dependency order; the CLI's `run` launches this job.
batch_pipeline = define_asset_job(
    BATCH_PIPELINE,
    selection=AssetSelection.all() - AssetSelection.assets(*TRAINING_ASSETS, PROMOTION_ASSET),
    partitions_def=export_batches,
    description="Land one export batch and take it through every batch-level asset.",
)

# A linear chain: one process (steps could not run in parallel anyway, and each would re-import the ML stack).
training_pipeline = define_asset_job(
    TRAINING_PIPELINE,
    selection=AssetSelection.assets(*TRAINING_ASSETS),
    executor_def=in_process_executor,
    description="Train the candidates on the training set, validate the chosen model behind the clinical gate, "
    "card it and register it as the challenger. Never promotes.",
)

promote_champion = define_asset_job(
    PROMOTE_CHAMPION,
    selection=AssetSelection.assets(PROMOTION_ASSET),
    executor_def=in_process_executor,
    description="Point the champion alias at an approved version (run config: version, approver, reason), or "
    "roll it back. Started only by a person.",
)
