"""Launch the training job (after a batch, or alone) and a promotion on the real Dagster instance, with the same
progress lines as the batch pipeline, and say where the model's card and report are.

Both jobs run through ``execute_job`` like a UI launch, so they appear in the UI's run list and event log.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dagster import AssetKey, DagsterEventType, DagsterInstance, execute_job, reconstructable

from healthcare_assets.config import Paths
from healthcare_assets.defs.jobs import PROMOTE_CHAMPION, TRAINING_PIPELINE
from healthcare_assets.defs.launcher import LAUNCH_TAG, LaunchResult, Printer, _RunWatcher

# The features stage's table the training job starts from; until that stage is part of the code location,
# `healthcare-assets run` stops after the batch (the training job can still run on tables written otherwise).
FEATURES_ENTRY = "training_set"


def training_job():
    """Module-level so that ``reconstructable`` can rebuild the job in a run worker."""
    from healthcare_assets.definitions import defs

    return defs.resolve_job_def(TRAINING_PIPELINE)


def promotion_job():
    from healthcare_assets.definitions import defs

    return defs.resolve_job_def(PROMOTE_CHAMPION)


def features_stage_present() -> bool:
    """True when the code location builds ``training_set`` itself (the features stage is merged)."""
    from healthcare_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    key = AssetKey(FEATURES_ENTRY)
    return graph.has(key) and graph.get(key).is_materializable


class _Watcher(_RunWatcher):
    """The batch pipeline's progress lines, with a failed step's innermost cause (the domain error, e.g. which
    table is missing or why a promotion was refused) instead of Dagster's wrapper."""

    def _show(self, entry: Any) -> None:
        event = entry.dagster_event
        if event is None or event.event_type != DagsterEventType.STEP_FAILURE:
            return super()._show(entry)
        error = event.step_failure_data.error
        while error is not None and error.cause is not None:
            error = error.cause
        message = error.message.strip().splitlines()[0] if error and error.message.strip() else "unknown error"
        message = message.removeprefix("dagster._core.definitions.events.Failure: ")  # our own refusals
        self.errors.append(f"{entry.step_key}: {message}")
        self.printer(f"  ✘ {entry.step_key} failed: {message}")


def _launch(
    instance: DagsterInstance, job_fn: Any, name: str, run_config: Mapping[str, Any], printer: Printer
) -> LaunchResult:
    launch_id = f"{name}-{time.time_ns()}"
    # MLflow's store chatter (schema migrations) is not the user's business here; warnings still show.
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # These jobs run in this process (in-process executor): only the watcher's lines reach the terminal.
    config: dict[str, Any] = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    config.update(run_config)
    watcher = _Watcher(instance, launch_id, printer)
    watcher.start()
    try:
        result = execute_job(
            reconstructable(job_fn), instance=instance, run_config=config, tags={LAUNCH_TAG: launch_id}
        )
    finally:
        watcher.stop()
    return LaunchResult(result.run_id, result.success, watcher.failed_checks, watcher.errors)


def launch_training(
    instance: DagsterInstance, printer: Printer = print, ops_config: Mapping[str, Any] | None = None
) -> LaunchResult:
    """Train, validate (blocking gate) and card the model; registers the challenger when the gate passes."""
    run_config = {"ops": {op: {"config": dict(cfg)} for op, cfg in (ops_config or {}).items()}}
    return _launch(instance, training_job, TRAINING_PIPELINE, run_config, printer)


def launch_promotion(instance: DagsterInstance, promotion: Mapping[str, Any], printer: Printer = print) -> LaunchResult:
    run_config = {"ops": {"champion_model": {"config": dict(promotion)}}}
    return _launch(instance, promotion_job, PROMOTE_CHAMPION, run_config, printer)


@dataclass
class ModelWhere:
    registered_model: str
    version: str
    challenger: str | None
    champion: str | None
    card: str | None
    report: str | None
    mlflow: str


def where_is_the_model(paths: Paths, tracking_uri: str | None = None) -> ModelWhere | None:
    """The latest trained version, its aliases, and where its card and report are (None before any training)."""
    from healthcare_assets.modeling import candidate_table
    from healthcare_assets.modeling.promotion import CARD_MD, REPORT_ARTIFACT
    from healthcare_assets.modeling.tracking import CHALLENGER, CHAMPION, Tracker
    from healthcare_assets.warehouse import Warehouse

    if not paths.warehouse.exists():
        return None
    try:
        with Warehouse(paths.warehouse).connect(read_only=True) as con:
            chosen = candidate_table.chosen_model(con)
    except candidate_table.NoTrainedModel:
        return None
    name, version = chosen["registered_model"], chosen["model_version"]
    tracker = Tracker.embedded(paths.mlflow, name, tracking_uri)
    run_id = tracker.version(name, version).run_id
    artifacts = {a.path for a in tracker.client().list_artifacts(run_id)}
    return ModelWhere(
        registered_model=name,
        version=str(version),
        challenger=tracker.alias_version(name, CHALLENGER),
        champion=tracker.alias_version(name, CHAMPION),
        card=tracker.artifact_location(run_id, CARD_MD) if CARD_MD in artifacts else None,
        report=tracker.artifact_location(run_id, REPORT_ARTIFACT) if REPORT_ARTIFACT in artifacts else None,
        mlflow=tracker.ui_hint(),
    )
