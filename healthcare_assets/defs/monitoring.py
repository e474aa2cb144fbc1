"""Stage 6, monitoring (per export batch): champion scoring with the challenger in shadow, the drift report, and
the sensor that requests a retraining when a batch drifts.

Domain logic is in ``healthcare_assets.monitoring``; these assets read the de-identified zone and the registry,
write the batch's scores to the warehouse, the Evidently HTML under ``$HEALTHCARE_ASSETS_HOME/monitoring/``
and aggregates (never a patient row) to MLflow, the metadata and the audit ledger.
"""
# No `from __future__ import annotations` here: Dagster reads the Config annotations at import.

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetRecordsFilter,
    ConfigurableResource,
    DefaultSensorStatus,
    MaterializeResult,
    MetadataValue,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    asset,
    sensor,
)
from pydantic import Field

from healthcare_assets import __version__
from healthcare_assets.audit import AuditEvent
from healthcare_assets.audit.canonical import sha256_file
from healthcare_assets.defs.audit import append_audit
from healthcare_assets.defs.jobs import training_pipeline
from healthcare_assets.defs.metadata import md_table
from healthcare_assets.defs.mlflow_tracking import DEFAULT_USE_CASE, MlflowTracking
from healthcare_assets.defs.partitions import export_batches
from healthcare_assets.defs.resources import DataHome
from healthcare_assets.features.publish import publish_partition
from healthcare_assets.modeling import candidate_table
from healthcare_assets.modeling.tracking import CHAMPION
from healthcare_assets.monitoring import evidently_report, triggers
from healthcare_assets.monitoring.drift import drift_gate
from healthcare_assets.monitoring.notify import WEBHOOK_ENV, Alert, Delivery, notifier
from healthcare_assets.monitoring.performance import labelled_performance, prediction_shift
from healthcare_assets.monitoring.scoring import (
    PREDICTIONS_TABLE,
    MonitoringDataError,
    batch_rows,
    load_alias,
    load_served,
    reference_rows,
)

GROUP = "monitoring"
MONITORING_DIR = "monitoring"
SENSOR_NAME = "retraining_on_drift_sensor"
DRIFT_EVENT_TAG = "healthcare_assets/drift_event"
TRIGGER_TAG = "healthcare_assets/trigger"
RUN_CONFIG_ENV = "HEALTHCARE_ASSETS_RETRAINING_RUN_CONFIG"
# Environment overrides of the retraining thresholds (the resource's defaults are the seed's Stage 6 values).
THRESHOLD_ENV = {
    "max_drifted_share": "HEALTHCARE_ASSETS_MAX_DRIFTED_SHARE",
    "max_mean_shift": "HEALTHCARE_ASSETS_MAX_MEAN_SHIFT",
    "min_auroc": "HEALTHCARE_ASSETS_MIN_BATCH_AUROC",
}


class MonitoringSettings(ConfigurableResource):
    """Thresholds and sinks shared by the drift report (its alert) and the retraining sensor (its decision)."""

    use_case: str = Field(default=DEFAULT_USE_CASE, description="Registered model whose champion is monitored.")
    max_drifted_share: float = Field(
        default=0.3,
        description="Retrain when more than this share of features drifted "
        f"(env {THRESHOLD_ENV['max_drifted_share']}).",
    )
    max_mean_shift: float = Field(
        default=0.2,
        description=f"Retrain when the mean predicted risk moves by more than this fraction of the "
        f"reference mean (env {THRESHOLD_ENV['max_mean_shift']}).",
    )
    min_auroc: float = Field(
        default=0.85,
        description=f"Retrain when the batch AUROC on matured labels falls below this "
        f"(env {THRESHOLD_ENV['min_auroc']}).",
    )
    min_label_events: int = Field(
        default=50, description="Outcomes and non-outcomes with observed labels a batch needs for its AUROC to count."
    )
    report_max_rows: int = Field(
        default=evidently_report.DEFAULT_MAX_ROWS,
        description="Rows per side in Evidently's HTML report; larger sides are sampled (uniform, seed 0).",
    )
    drift_rule: str = Field(
        default="tests",
        description="Per-feature drift tests: 'tests' (KS / chi-square / z, p < 0.05) or 'evidently_default' "
        "(Evidently's default: distances >= 0.1 for references over 1,000 rows).",
    )
    report_max_columns: int = Field(
        default=0,
        description="Features in Evidently's HTML report (0: every model feature; N: the gate's drifted features "
        "first, then the strongest). Evidently takes about 0.15 s per feature per 1,000 rows.",
    )
    webhook_url: str | None = Field(default=None, description=f"Alert webhook (POST JSON); default ${WEBHOOK_ENV}.")
    retraining_run_config: str = Field(
        default="",
        description="Run config (JSON) of the retraining run the sensor requests, e.g. the operator's gate "
        'overrides: {"ops": {"validation_report": {"config": {"min_subgroup_events": 50}}}}; '
        f"default ${RUN_CONFIG_ENV}, else none.",
    )

    def thresholds(self) -> triggers.Thresholds:
        values = {
            "max_drifted_share": self.max_drifted_share,
            "max_mean_shift": self.max_mean_shift,
            "min_auroc": self.min_auroc,
        }
        for name, env in THRESHOLD_ENV.items():
            if os.environ.get(env):
                try:
                    values[name] = float(os.environ[env])
                except ValueError:
                    raise ValueError(f"{env} must be a number, got {os.environ[env]!r}") from None
        return triggers.Thresholds(**values)

    def webhook(self) -> str | None:
        return self.webhook_url or os.environ.get(WEBHOOK_ENV) or None

    def run_config(self) -> dict:
        text, where = self.retraining_run_config, "monitoring.retraining_run_config"
        if not text:
            text, where = os.environ.get(RUN_CONFIG_ENV, ""), RUN_CONFIG_ENV
        try:
            config = json.loads(text or "{}")
        except json.JSONDecodeError as exc:
            raise ValueError(f"{where} is not JSON: {exc.msg} at {exc.pos}") from None
        if not isinstance(config, dict):
            raise ValueError(f"{where} must be a JSON object")
        return config


def monitoring_dir(home: DataHome) -> Path:
    return home.paths().home / MONITORING_DIR


def _ledger_recorder(home: DataHome, run_id: str | None, partition: str | None):
    def record(alert: Alert, delivery: Delivery) -> None:
        home.ledger().append(
            AuditEvent(
                action=f"alert_{alert.kind}",
                asset_key="drift_report",
                partition=partition,
                run_id=run_id,
                code_version=f"pkg{__version__}",
                details={**alert.payload(), "sent": delivery.sent, "failed": delivery.failed},
            )
        )

    return record


def trained_before(home: DataHome) -> bool:
    """Whether any training has registered a model here (the warehouse's ``candidate_models`` table): before that
    there can be no champion, and the registry is not asked at all. Asking would create MLflow's store, and two
    batch runs doing so at once race in its schema migration (SQLite and PostgreSQL alike)."""
    if not home.paths().warehouse.exists():
        return False
    with home.warehouse().connect(read_only=True) as con:
        return bool(
            con.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [candidate_table.TABLE]
            ).fetchone()[0]
        )


def _skip_no_champion(context: AssetExecutionContext, what: str) -> None:
    context.log.warning(
        f"{what} skipped: no champion model yet. Promote a validated version "
        "(healthcare-assets promote VERSION --approver NAME --reason TEXT), then materialize this batch's "
        f"{what} again."
    )


@asset(
    key="batch_predictions",
    group_name=GROUP,
    deps=["feature_matrix", "champion_model"],
    partitions_def=export_batches,
    code_version="batch_predictions-1",
    output_required=False,  # no champion yet: skipped with the reason in the log, not a failure
    kinds={"scikit-learn", "duckdb"},
    tags={"zone": "deidentified"},
    description=(
        "The batch's index stays scored by the champion (the answer), with the challenger, if any, scoring the "
        "same stays in shadow beside it (never the answer). Warehouse table `batch_predictions` (column "
        "batch_id; pseudonymous stay ids, probabilities). Skipped, with the reason, while there is no champion."
    ),
    metadata={"warehouse_table": PREDICTIONS_TABLE},
)
def batch_predictions(
    context: AssetExecutionContext, home: DataHome, mlflow: MlflowTracking, monitoring: MonitoringSettings
) -> Iterator[MaterializeResult]:
    batch_id = context.partition_key
    if not trained_before(home):
        _skip_no_champion(context, "batch_predictions")
        return
    tracker = mlflow.tracker(home, monitoring.use_case)
    champion, challenger = load_served(tracker, monitoring.use_case)
    if champion is None:
        _skip_no_champion(context, "batch_predictions")
        return
    features = list(dict.fromkeys([*champion.features, *(challenger.features if challenger else [])]))
    with home.warehouse().connect(read_only=True) as con:
        frame = batch_rows(con, batch_id, features)
    scores = champion.score(frame) if len(frame) else np.zeros(0)
    shadow = challenger.score(frame) if challenger is not None and len(frame) else None
    import pandas as pd  # imported by the step, not by the code location

    out = pd.DataFrame(
        {
            "batch_id": batch_id,
            "stay_id": frame["stay_id"].astype(str),
            "model_name": champion.name,
            "champion_version": champion.version,
            "champion_probability": scores,
            "challenger_version": challenger.version if challenger is not None else None,
            "challenger_probability": shadow if shadow is not None else np.full(len(frame), np.nan),
        }
    )
    staging = monitoring_dir(home) / ".staging" / f"predictions-{batch_id}-{context.run_id}"
    staging.mkdir(parents=True, exist_ok=True)
    try:
        target = staging / "batch_predictions.parquet"
        out.to_parquet(target, index=False)
        published = publish_partition(home.warehouse(), PREDICTIONS_TABLE, target, "batch_id", batch_id)
        digest = sha256_file(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    summary = _score_summary(scores)
    shadow_summary = _score_summary(shadow) if shadow is not None else {}
    agreement = _agreement(scores, shadow)
    record = append_audit(
        context,
        home,
        "score_batch",
        outputs={PREDICTIONS_TABLE: digest},
        counts={"stays": len(out)},
        details={
            "registered_model": champion.name,
            "champion_version": champion.version,
            "challenger_version": challenger.version if challenger is not None else None,
            "champion": summary,
            "challenger": shadow_summary,
        },
    )
    context.log.info(
        f"scored {len(out)} stays with champion version {champion.version}"
        + (f"; challenger version {challenger.version} in shadow" if challenger is not None else "; no challenger")
    )
    yield MaterializeResult(
        metadata={
            "dagster/row_count": published.rows,
            "registered_model": champion.name,
            "champion_version": champion.version,
            "challenger_version": challenger.version if challenger is not None else "none",
            "champion_scores": MetadataValue.json(summary),
            "challenger_scores_shadow": MetadataValue.json(shadow_summary),
            "champion_challenger_agreement": MetadataValue.json(agreement),
            "audit_record": record["hash"],
        }
    )


def _score_summary(p: np.ndarray | None) -> dict:
    if p is None or len(p) == 0:
        return {"stays": 0}
    qs = np.quantile(p, [0.1, 0.5, 0.9])
    return {
        "stays": int(len(p)),
        "mean": round(float(np.mean(p)), 5),
        "p10": round(float(qs[0]), 5),
        "p50": round(float(qs[1]), 5),
        "p90": round(float(qs[2]), 5),
    }


def _agreement(p: np.ndarray, q: np.ndarray | None) -> dict:
    if q is None or len(p) < 2:
        return {}
    return {
        "mean_absolute_difference": round(float(np.mean(np.abs(p - q))), 5),
        "pearson_r": round(float(np.corrcoef(p, q)[0, 1]), 5) if np.std(p) > 0 and np.std(q) > 0 else None,
    }


@asset(
    key="drift_report",
    group_name=GROUP,
    deps=["batch_predictions", "feature_matrix"],
    partitions_def=export_batches,
    code_version="drift_report-1",
    output_required=False,
    kinds={"evidently", "mlflow"},
    tags={"zone": "deidentified"},
    description=(
        "The batch against the champion's training reference (the feature_matrix rows of the batches it was "
        "trained on): per-feature drift and the drifted share (fast gate, Evidently's default tests), the shift "
        "of the predicted risk (mean and quantiles), and once labels matured AUROC and calibration on the "
        "batch. Evidently's data drift preset as an HTML report (path in the metadata, also in MLflow). The "
        "retraining sensor reads these numbers."
    ),
)
def drift_report(
    context: AssetExecutionContext, home: DataHome, mlflow: MlflowTracking, monitoring: MonitoringSettings
) -> Iterator[MaterializeResult]:
    batch_id = context.partition_key
    if not trained_before(home):
        _skip_no_champion(context, "drift_report")
        return
    tracker = mlflow.tracker(home, monitoring.use_case)
    champion = load_alias(tracker, monitoring.use_case, CHAMPION)
    if champion is None:
        _skip_no_champion(context, "drift_report")
        return
    with home.warehouse().connect(read_only=True) as con:
        current = batch_rows(con, batch_id, champion.features)
        reference = reference_rows(con, champion)
        stored = con.execute(
            f"SELECT stay_id, champion_version, champion_probability FROM {PREDICTIONS_TABLE} WHERE batch_id = ? "
            "ORDER BY stay_id",
            [batch_id],
        ).df()
    if len(current) == 0:
        context.log.warning(f"batch {batch_id} has no index stays: nothing to compare")
        return
    versions = set(stored["champion_version"].astype(str))
    scored = current[["stay_id"]].merge(stored, on="stay_id", how="left")
    if versions != {champion.version} or scored["champion_probability"].isna().any():
        raise MonitoringDataError(
            f"{PREDICTIONS_TABLE} of batch {batch_id} does not hold the current champion's (version "
            f"{champion.version}) score of every stay (scored by: {sorted(versions) or 'none'}): materialize "
            "batch_predictions for this batch again"
        )
    p = scored["champion_probability"].to_numpy(dtype=float)
    gate = drift_gate(reference, current, champion.features, monitoring.drift_rule)
    shift = prediction_shift(champion.score(reference), p)
    labels = current["label"]
    performance = labelled_performance(
        labels.fillna(0).to_numpy(dtype=float), p, labels.notna().to_numpy(), monitoring.min_label_events
    )
    numbers = {
        triggers.DRIFTED_SHARE: gate.drifted_share,
        triggers.MEAN_SHIFT: shift.relative_mean_shift,
        triggers.BATCH_AUROC: performance.auroc if performance.evaluable else None,
    }
    thresholds = monitoring.thresholds()
    decision = triggers.evaluate(numbers, thresholds)

    html = monitoring_dir(home) / "drift" / batch_id / f"drift_report-{champion.name}-v{champion.version}.html"
    shown = evidently_report.report_columns(champion.features, gate.ranked(), monitoring.report_max_columns)
    evidently = evidently_report.run_preset(
        reference, current, shown, html, monitoring.report_max_rows, monitoring.drift_rule
    )
    agree = sorted(evidently.drifted) == sorted(set(gate.drifted) & set(shown))
    html_sha = sha256_file(html)
    run_id = _log_to_mlflow(tracker, batch_id, champion, gate, shift, performance, decision, html, context.run_id)

    if decision.retrain:
        notifier(context.log, monitoring.webhook(), _ledger_recorder(home, context.run_id, batch_id)).notify(
            Alert(
                "drift_detected",
                f"batch {batch_id}: {'; '.join(decision.reasons)} (champion {champion.name} v{champion.version})",
                {
                    "batch_id": batch_id,
                    "model": champion.name,
                    "model_version": champion.version,
                    "drifted_share": round(gate.drifted_share, 4),
                    "drifted_columns": gate.drifted[:50],
                    "prediction_mean_shift": round(shift.relative_mean_shift, 4),
                    "batch_auroc": numbers[triggers.BATCH_AUROC],
                    "thresholds": thresholds.as_dict(),
                    "report": str(html),
                },
            )
        )
    record = append_audit(
        context,
        home,
        "drift_report",
        outputs={"drift_report.html": html_sha},
        counts={
            "reference_rows": gate.reference_rows,
            "batch_rows": gate.current_rows,
            "drifted_columns": len(gate.drifted),
        },
        details={
            "registered_model": champion.name,
            "champion_version": champion.version,
            "reference_batches": champion.training_batch_ids,
            "drifted_share": round(gate.drifted_share, 4),
            "prediction_shift": shift.as_dict(),
            "performance": performance.as_dict(),
            "thresholds": thresholds.as_dict(),
            "exceeds_thresholds": decision.retrain,
            "mlflow_run": run_id,
        },
    )
    context.log.info(f"drift of batch {batch_id}: {decision.text()}")
    yield MaterializeResult(
        metadata={
            "dagster/row_count": gate.current_rows,
            "drift_report_html": MetadataValue.path(str(html)),
            "drift_report_mlflow": MetadataValue.path(tracker.artifact_location(run_id, f"drift_report/{html.name}")),
            "drift_report_sha256": html_sha,
            triggers.DRIFTED_SHARE: round(gate.drifted_share, 4),
            "drifted_columns": len(gate.drifted),
            "columns_tested": len(gate.tested),
            "drifted_features": MetadataValue.md(", ".join(gate.drifted) or "none"),
            "drift_scores": md_table(
                ["feature", "method", "score", "threshold", "drifted"],
                sorted((c.as_row() for c in gate.tested), key=lambda r: (not r[4], r[0])),
            ),
            "evidently_drifted_columns": len(evidently.drifted),
            "evidently_columns": len(evidently.scores),
            "evidently_agrees_with_gate": agree,
            "evidently_sample": f"{evidently.reference_rows} reference / {evidently.current_rows} batch rows"
            + (" (sampled, seed 0)" if evidently.sampled else ""),
            triggers.MEAN_SHIFT: round(shift.relative_mean_shift, 5),
            "prediction_shift": MetadataValue.json(shift.as_dict()),
            "labels": MetadataValue.json(performance.as_dict()),
            **({triggers.BATCH_AUROC: round(float(performance.auroc), 5)} if performance.evaluable else {}),
            "champion_version": champion.version,
            "reference_batches": ", ".join(champion.training_batch_ids),
            "reference_rows": gate.reference_rows,
            "drift_rule": monitoring.drift_rule,
            "thresholds": MetadataValue.json(thresholds.as_dict()),
            "exceeds_thresholds": decision.retrain,
            "decision": decision.text(),
            "mlflow_run": run_id,
            "audit_record": record["hash"],
        }
    )


def _log_to_mlflow(tracker, batch_id, champion, gate, shift, performance, decision, html: Path, dagster_run: str):
    """One MLflow run per drift report, in the use case's experiment: aggregates and the HTML, no rows."""
    from healthcare_assets.modeling.experiment import _metrics

    tags = {
        "stage": "monitoring",
        "batch_id": batch_id,
        "model_version": champion.version,
        "dagster_run_id": dagster_run,
        "use_case": champion.name,
    }
    with tracker.run(f"drift-{batch_id}", tags) as run_id:
        metrics = {
            "drifted_share": gate.drifted_share,
            "drifted_columns": len(gate.drifted),
            "prediction_mean_shift": shift.relative_mean_shift,
            "prediction_mean": shift.batch_mean,
        }
        if performance.evaluable:
            metrics.update(
                {
                    "batch_auroc": performance.auroc,
                    "batch_brier": performance.brier,
                    "batch_calibration_slope": performance.calibration_slope,
                }
            )
        tracker.client().log_batch(run_id, metrics=_metrics(metrics))
        tracker.log_json(
            run_id, "drift_scores.json", {"scores": gate.scores(), "drifted": gate.drifted, "summary": gate.summary()}
        )
        tracker.log_json(run_id, "prediction_shift.json", shift.as_dict())
        tracker.log_json(run_id, "labels.json", performance.as_dict())
        tracker.log_json(
            run_id,
            "decision.json",
            {"retrain": decision.retrain, "reasons": decision.reasons, "checked": decision.checked},
        )
        tracker.client().log_artifact(run_id, str(html), "drift_report")
    return run_id


# The retraining sensor ---------------------------------------------------------------------------------------


def drift_tick(
    instance, cursor: str | None, monitoring: MonitoringSettings, home: DataHome, log=None, alert: bool = True
) -> SensorResult:
    """One evaluation: every drift report materialized since ``cursor`` (an event storage id) is judged against
    the thresholds; if any exceeds them, ONE retraining run is requested for all of them (run key: the latest
    such report), unless a run for that drift event already exists. The new cursor is the latest report seen."""
    after = int(cursor) if cursor else None
    result = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey("drift_report"), after_storage_id=after), limit=1000, ascending=True
    )
    records = list(result.records)
    if not records:
        return SensorResult(skip_reason="no new drift report since the last evaluation", cursor=cursor)
    thresholds = monitoring.thresholds()
    quiet, fired = [], []
    for record in records:
        mat = record.asset_materialization
        meta = {k: v.value for k, v in mat.metadata.items()}
        decision = triggers.evaluate(meta, thresholds)
        (fired if decision.retrain else quiet).append((record.storage_id, mat.partition, decision))
    new_cursor = str(records[-1].storage_id)
    if not fired:
        lines = [f"batch {batch}: within thresholds ({d.text()})" for _, batch, d in quiet]
        return SensorResult(skip_reason="no retraining: " + " | ".join(lines), cursor=new_cursor)
    event_id, _, _ = fired[-1]
    run_key = f"drift-{event_id}"
    if instance.get_runs(RunsFilter(tags={DRIFT_EVENT_TAG: str(event_id)}), limit=1):
        return SensorResult(skip_reason=f"retraining for drift event {event_id} already requested", cursor=new_cursor)
    batches = [batch for _, batch, _ in fired]
    reasons = [f"batch {batch}: {'; '.join(d.reasons)}" for _, batch, d in fired]
    if alert:
        notifier(log, monitoring.webhook(), _ledger_recorder(home, None, None)).notify(
            Alert(
                "retraining_requested",
                "retraining requested: " + " | ".join(reasons),
                {"batch_ids": batches, "run_key": run_key, "thresholds": thresholds.as_dict()},
            )
        )
    request = RunRequest(
        run_key=run_key,
        run_config=monitoring.run_config(),
        tags={
            TRIGGER_TAG: "drift",
            DRIFT_EVENT_TAG: str(event_id),
            "healthcare_assets/drift_batches": ",".join(batches),
        },
    )
    return SensorResult(run_requests=[request], cursor=new_cursor)


@sensor(
    name=SENSOR_NAME,
    job=training_pipeline,
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description="After each drift report: when the drifted share, the mean prediction shift or the batch AUROC "
    "crosses its threshold (resource `monitoring`), request ONE retraining run (training set from the latest "
    "data, train, validate, card, new challenger). Each evaluation says why it fired or not. Promotion stays a "
    "person's decision.",
)
def retraining_on_drift_sensor(context: SensorEvaluationContext, home: DataHome, monitoring: MonitoringSettings):
    return drift_tick(context.instance, context.cursor, monitoring, home, context.log)


# The same tick from the command line (`healthcare-assets monitor`) -------------------------------------------

CLI_CURSOR_FILE = "retraining_sensor.cursor"


def _read_cursor(path: Path) -> str | None:
    text = path.read_text().strip() if path.exists() else ""
    if text and not text.isdigit():
        raise ValueError(f"{path}: not a sensor cursor (an event storage id), got {text[:20]!r}; delete the file")
    return text or None


def _write_cursor(path: Path, cursor: str | None) -> None:
    if cursor is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(cursor + "\n")
    os.replace(tmp, path)


def cli_tick(instance, printer, launch: bool = True, verbose: bool = False):
    """Evaluate ``retraining_on_drift_sensor`` once on ``instance`` (what the daemon does every minute), print its
    decision and, with ``launch``, run the retraining it requests (tagged like the daemon's run, so neither runs
    it twice). The command line keeps its own cursor in ``$HEALTHCARE_ASSETS_HOME/monitoring/``; without
    ``launch`` (``--dry-run``) nothing is sent, launched or remembered.

    Returns (requested run keys, the launches' results)."""
    from dagster import build_sensor_context

    from healthcare_assets.definitions import defs
    from healthcare_assets.defs.jobs import TRAINING_PIPELINE
    from healthcare_assets.defs.launcher import execute_watched, training_pipeline_job

    home = DataHome()
    cursor_path = monitoring_dir(home) / CLI_CURSOR_FILE
    monitoring = defs.resources.get("monitoring", MonitoringSettings())
    cursor = _read_cursor(cursor_path)
    if not launch:  # the decision only: no alert, the cursor stays
        result = drift_tick(instance, cursor, monitoring, home, alert=False)
    else:
        context = build_sensor_context(
            instance=instance,
            cursor=cursor,
            resources={"home": home, "monitoring": monitoring},
            sensor_name=SENSOR_NAME,
        )
        result = retraining_on_drift_sensor(context)
    requests = list(result.run_requests or [])
    if not requests:
        skip = result.skip_reason
        printer(f"{SENSOR_NAME}: no run requested: {getattr(skip, 'skip_message', skip) or 'nothing to do'}")
        if launch:
            _write_cursor(cursor_path, result.cursor)
        return [], []
    launches = []
    if launch:  # before launching: one drift event, one run, even if it fails
        _write_cursor(cursor_path, result.cursor)
    for request in requests:
        printer(
            f"{SENSOR_NAME}: retraining requested (run key {request.run_key}, batches "
            f"{request.tags.get('healthcare_assets/drift_batches', '?')})"
        )
        if launch:
            launches.append(
                execute_watched(
                    instance,
                    training_pipeline_job,
                    TRAINING_PIPELINE,
                    request.run_config,
                    printer,
                    verbose,
                    tags=request.tags,
                )
            )
    return [r.run_key for r in requests], launches
