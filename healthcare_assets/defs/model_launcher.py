"""Launch a promotion on the real Dagster instance, with the same progress lines as the batch pipeline, and say
where the model's card and report are. (The training job is launched by ``launcher.launch_training``.)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dagster import DagsterInstance

from healthcare_assets.config import Paths
from healthcare_assets.defs.jobs import PROMOTE_CHAMPION
from healthcare_assets.defs.launcher import LaunchResult, Printer, execute_watched


def promotion_job():
    """Module-level so that ``reconstructable`` can rebuild the job in a run worker."""
    from healthcare_assets.definitions import defs

    return defs.resolve_job_def(PROMOTE_CHAMPION)


def launch_promotion(instance: DagsterInstance, promotion: Mapping[str, Any], printer: Printer = print) -> LaunchResult:
    run_config = {"ops": {"champion_model": {"config": dict(promotion)}}}
    return execute_watched(instance, promotion_job, PROMOTE_CHAMPION, run_config, printer)


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
