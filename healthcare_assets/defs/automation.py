"""Scheduled exports: a nightly schedule registers a new export batch, and a sensor lands it.

Dagster schedules cannot add dynamic partitions, so the work is split: ``nightly_bulk_export`` runs the tiny
``register_bulk_export`` job, which adds a partition ``<time>-scheduled-bulk-<hex>``; ``scheduled_export_sensor``
launches the batch pipeline once for every such partition not yet landed (the partition key is the run key,
so a batch is never launched twice). The export is incremental: ``_since`` comes, per resource type, from the
last export of the same server that covered it (``fhir/export_coverage.py``), and an export interrupted the night
before is resumed (adopted) by the next night's batch instead of kicked off again. Both are off by default; the
server comes from ``$HEALTHCARE_ASSETS_BULK_URL`` (and the ``HEALTHCARE_ASSETS_BULK_*`` credentials), so nothing
in the code location names a hospital.
"""

from dagster import (
    AssetKey,
    DagsterRunStatus,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    OpExecutionContext,
    RunRequest,
    RunStatusSensorContext,
    ScheduleDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    job,
    op,
    run_status_sensor,
    sensor,
)

from healthcare_assets.defs.jobs import batch_pipeline, training_pipeline
from healthcare_assets.defs.partitions import EXPORT_BATCH_PARTITIONS
from healthcare_assets.fhir.landing import new_batch_id

SCHEDULED_KIND = "scheduled_bulk"
SCHEDULED_MARK = "-scheduled-bulk-"


@op(description="Add a new export-batch partition for a scheduled Bulk export; the sensor lands it.")
def register_export_batch(context: OpExecutionContext) -> str:
    batch_id = new_batch_id(SCHEDULED_KIND)
    context.instance.add_dynamic_partitions(EXPORT_BATCH_PARTITIONS, [batch_id])
    context.log.info(f"registered export batch {batch_id}")
    return batch_id


@job(description="Register a new export batch for the nightly FHIR Bulk export.")
def register_bulk_export():
    register_export_batch()


nightly_bulk_export = ScheduleDefinition(
    name="nightly_bulk_export",
    cron_schedule="0 2 * * *",
    execution_timezone="UTC",
    job=register_bulk_export,
    default_status=DefaultScheduleStatus.STOPPED,
    description="Every night at 02:00 UTC, register a new export batch (an incremental Bulk $export).",
)


def pending_scheduled_batches(context: SensorEvaluationContext) -> list[str]:
    keys = context.instance.get_dynamic_partitions(EXPORT_BATCH_PARTITIONS)
    landed = context.instance.get_materialized_partitions(AssetKey("raw_fhir_ndjson"))
    return [key for key in keys if SCHEDULED_MARK in key and key not in landed]


@sensor(
    name="scheduled_export_sensor",
    job=batch_pipeline,
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.STOPPED,
    description="Launch the batch pipeline (source: bulk) for each registered export batch not yet landed.",
)
def scheduled_export_sensor(context: SensorEvaluationContext):
    pending = pending_scheduled_batches(context)
    if not pending:
        return SkipReason("no registered export batch is waiting")
    return SensorResult(
        run_requests=[
            RunRequest(
                run_key=key,
                partition_key=key,
                run_config={"ops": {"raw_fhir_ndjson": {"config": {"source": "bulk"}}}},
                tags={"healthcare_assets/trigger": "nightly_bulk_export"},
            )
            for key in pending
        ]
    )


@run_status_sensor(
    name="training_after_batch_sensor",
    run_status=DagsterRunStatus.SUCCESS,
    monitored_jobs=[batch_pipeline],
    request_job=training_pipeline,
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.STOPPED,
    description="After a batch pipeline run succeeds (a nightly export, a run launched from the UI), rebuild the "
    "assets across batches (training set, split and the training stage). `healthcare-assets run` does this itself.",
)
def training_after_batch_sensor(context: RunStatusSensorContext):
    return RunRequest(run_key=f"after-{context.dagster_run.run_id}", tags={"healthcare_assets/trigger": "batch"})
