"""Monitoring end to end on the real Dagster instance of a fresh data directory: a baseline synthetic cohort is
landed, trained, validated and promoted; a batch without drift knobs keeps the retraining sensor quiet; a batch
with the generator's drift knobs on makes it request exactly one retraining run, whose new version becomes the
challenger (never the champion). Then the same through the command line:
`healthcare-assets run` of a drifted batch, followed by `healthcare-assets monitor` (the sensor's tick).

Sizes and relaxations (the cohorts are small, see README "How big a cohort the gate needs"):
* the clinical gate is relaxed (see GATE);
* only the logistic regression is trained (the gradient boosting would add minutes and test nothing here);
* each seed is its own synthetic world (hospitals, and patients that are not exchangeable across indices), so
  two seeds differ even without a drift knob: seed 13 against seed 11 has 15% of the features drifted at
  p < 0.05 (under the 0.3 that retrains), seed 12 26%; the feature values, hence these shares, do not depend on
  the random pseudonyms, so the seeds below give the same numbers on every run;
* the batch-AUROC floor is lowered to 0.6 (env ``HEALTHCARE_ASSETS_MIN_BATCH_AUROC``): a model trained on ~800
  stays reaches a batch AUROC of about 0.75-0.85, under the seed's 0.85, which would fire on every batch.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from dagster import AssetKey, AssetRecordsFilter, DagsterInstance, DagsterRunStatus, build_sensor_context

from healthcare_assets.audit import AuditLedger, verify_ledger
from healthcare_assets.config import Paths
from healthcare_assets.defs.jobs import TRAINING_PIPELINE
from healthcare_assets.defs.launcher import execute_watched, launch_batch, launch_training, training_pipeline_job
from healthcare_assets.defs.model_launcher import launch_promotion
from healthcare_assets.defs.monitoring import (
    DRIFT_EVENT_TAG,
    RUN_CONFIG_ENV,
    MonitoringSettings,
    retraining_on_drift_sensor,
)
from healthcare_assets.defs.resources import DataHome
from healthcare_assets.deid.pseudonyms import KEY_ENV
from healthcare_assets.modeling.tracking import Tracker
from healthcare_assets.monitoring.notify import ALLOWED_DETAILS
from healthcare_assets.warehouse import Warehouse

pytestmark = pytest.mark.slow

MODEL = "readmission_30d"
# The patient-grouped split follows the patients' data, not their pseudonyms (features/canonical.py), so it and the
# small test split's metrics are the same on every run (the batches landed through the API also use HMAC
# pseudonyms under a fixed test key). That test split holds 2 events in each of two age bands, so subgroups are
# judged from 2 events here. The gate is also relaxed well below what the model reaches (AUROC ~0.85 here): the
# gate is not what this test is about (test_model_assets is).
PSEUDONYM_KEY = "monitoring-end-to-end-test-key-not-a-secret-0123456789"
GATE = {
    "bootstrap_samples": 200,
    "min_auroc": 0.70,
    "min_sensitivity_at_90_specificity": 0.30,
    "max_cv_auroc_std": 0.20,
    "max_subgroup_auroc_disparity": 0.60,
    "min_subgroup_events": 2,
    "min_calibration_slope": 0.4,
    "max_calibration_slope": 2.5,
}
TRAINING = {
    "ops": {
        "candidate_models": {"config": {"candidates": ["logistic_regression"]}},
        "validation_report": {"config": GATE},
    }
}
FAST_REPORT = {"resources": {"monitoring": {"config": {"report_max_columns": 25}}}}
FIXED_PSEUDONYMS = {"ops": {"deidentified_tables": {"config": {"pseudonym_mode": "hmac"}}}}


def _land(instance: DagsterInstance, batch_id: str, **synthetic) -> None:
    result = launch_batch(
        instance,
        batch_id,
        {"source": "synthetic", **synthetic},
        printer=lambda line: None,
        extra_run_config={**FAST_REPORT, **FIXED_PSEUDONYMS},
        executor="in_process",
    )
    assert result.success and not result.failed_checks, result.errors


def _tick(instance: DagsterInstance, cursor: str | None):
    context = build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={"home": DataHome(), "monitoring": MonitoringSettings(retraining_run_config=json.dumps(TRAINING))},
    )
    return retraining_on_drift_sensor(context)


def _materialization(instance: DagsterInstance, asset: str, batch_id: str):
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey(asset), asset_partitions=[batch_id]), limit=1
    ).records
    return records[0].asset_materialization if records else None


def _drift_metadata(instance: DagsterInstance, batch_id: str) -> dict:
    materialization = _materialization(instance, "drift_report", batch_id)
    assert materialization is not None, f"no drift report for {batch_id}"
    return {k: v.value for k, v in materialization.metadata.items()}


def test_drift_triggers_one_retraining(data_home: Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("HEALTHCARE_ASSETS_MIN_BATCH_AUROC", "0.6")
    monkeypatch.setenv(KEY_ENV, PSEUDONYM_KEY)
    tracker = Tracker.embedded(data_home.mlflow, MODEL)
    with DagsterInstance.get() as instance:
        # A fresh directory: the batch is not scored (no champion), and that is not a failure.
        _land(instance, "base", patients=2000, seed=11)
        assert _materialization(instance, "batch_predictions", "base") is None
        trained = launch_training(instance, printer=lambda line: None, run_config=TRAINING)
        assert trained.success and not trained.failed_checks, trained.errors
        assert tracker.alias_version(MODEL, "challenger") == "1"
        promoted = launch_promotion(instance, {"version": "1", "approver": "Dr. Grey", "reason": "test"}, print)
        assert promoted.success, promoted.errors

        # No drift knob: the sensor stays quiet and says why.
        _land(instance, "quiet", patients=1500, seed=13)
        quiet = _drift_metadata(instance, "quiet")
        assert quiet["champion_version"] == "1" and quiet["exceeds_thresholds"] is False
        assert quiet["drifted_share"] < 0.3 and abs(quiet["prediction_mean_shift"]) < 0.2
        assert os.path.exists(quiet["drift_report_html"]) and str(data_home.phi) not in quiet["drift_report_html"]
        assert quiet["evidently_agrees_with_gate"] is True and os.path.exists(quiet["drift_report_mlflow"])
        first = _tick(instance, None)
        assert not first.run_requests
        assert "within thresholds" in first.skip_reason.skip_message and "quiet" in first.skip_reason.skip_message

        # An older, sicker population and a creatinine assay bias: drift.
        _land(instance, "drifted", patients=1500, seed=12, case_mix_shift=3.0, creatinine_shift=2.0)
        drifted = _drift_metadata(instance, "drifted")
        assert drifted["exceeds_thresholds"] is True, drifted["decision"]
        assert drifted["drifted_share"] > 0.3 or abs(drifted["prediction_mean_shift"]) > 0.2
        assert drifted["evidently_agrees_with_gate"] is True
        second = _tick(instance, first.cursor)
        assert len(second.run_requests) == 1
        request = second.run_requests[0]
        assert request.tags["healthcare_assets/drift_batches"] == "drifted" and request.run_config == TRAINING

        # The requested run: the training pipeline on the latest data registers a new challenger.
        retrained = execute_watched(
            instance, training_pipeline_job, TRAINING_PIPELINE, request.run_config, lambda line: None,
            tags=request.tags,
        )  # fmt: skip
        assert retrained.success and not retrained.failed_checks, retrained.errors
        assert tracker.alias_version(MODEL, "challenger") == "2"
        assert tracker.alias_version(MODEL, "champion") == "1"  # promotion stays a person's decision

        # One drift event, one run: the next tick has nothing new, and a tick from an old cursor (a second
        # evaluator) finds the run already there.
        third = _tick(instance, second.cursor)
        assert not third.run_requests and "no new drift report" in third.skip_reason.skip_message
        again = _tick(instance, first.cursor)
        assert not again.run_requests and "already requested" in again.skip_reason.skip_message
        runs = instance.get_runs()
        drift_runs = [r for r in runs if DRIFT_EVENT_TAG in r.tags]
        assert len(drift_runs) == 1 and drift_runs[0].status == DagsterRunStatus.SUCCESS

        # The command line: a drifted batch, then the sensor's tick, which runs the retraining.
        env = {**os.environ, RUN_CONFIG_ENV: json.dumps(TRAINING)}
        skips_before = _skips(data_home)
        done = _cli("run", "--patients", "1200", "--seed", "14", "--case-mix-shift", "3", "--batch-id", "cli", env=env)
        assert "✔ drift_report materialized" in done.stdout, done.stdout + done.stderr
        assert "ALERT drift_detected: batch cli" in done.stdout
        scored = {k: v.value for k, v in _materialization(instance, "batch_predictions", "cli").metadata.items()}
        assert scored["champion_version"] == "1" and scored["challenger_version"] == "2"  # v2 scores in shadow
        assert scored["challenger_scores_shadow"]["stays"] == scored["champion_scores"]["stays"] > 0
        with Warehouse(data_home.warehouse).connect(read_only=True) as con:
            answer, shadow = con.execute(
                "SELECT count(champion_probability), count(challenger_probability) FROM batch_predictions "
                "WHERE batch_id = 'cli'"
            ).fetchone()
        assert answer == shadow == scored["champion_scores"]["stays"]
        # `run` also runs the training pipeline after the batch (with the default gate, which this small cohort
        # may or may not pass, and its own random patient split): it registers v3, or records why it skipped.
        after_run = _latest_version(tracker)
        assert after_run == 3 or (after_run == 2 and _skips(data_home) == skips_before + 1), done.stdout
        tick = _cli("monitor", env=env)
        assert tick.returncode == 0, tick.stdout + tick.stderr
        assert "retraining requested" in tick.stdout and "✔ model_card materialized" in tick.stdout
        # The sensor's retraining (relaxed gate, see GATE) registers exactly one more version, the new challenger.
        assert _latest_version(tracker) == after_run + 1
        assert tracker.alias_version(MODEL, "challenger") == str(after_run + 1)
        assert tracker.alias_version(MODEL, "champion") == "1"
        quiet_tick = _cli("monitor", env=env)
        assert quiet_tick.returncode == 0 and "no run requested" in quiet_tick.stdout

    # Alerts are in the ledger, carry only aggregates, and the chain verifies.
    records = list(AuditLedger(data_home.audit).records())
    alerts = [r for r in records if r["action"].startswith("alert_")]
    kinds = [r["action"] for r in alerts]
    assert kinds.count("alert_retraining_requested") == 2 and "alert_drift_detected" in kinds
    for alert in alerts:
        assert set(alert["details"]["details"]) <= ALLOWED_DETAILS
    assert verify_ledger(AuditLedger(data_home.audit)).ok


def _latest_version(tracker) -> int:
    return max(int(v.version) for v in tracker.client().search_model_versions(f"name = '{MODEL}'"))


def _skips(data_home: Paths) -> int:
    return sum(r["action"] == "train_models_skipped" for r in AuditLedger(data_home.audit).records())


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "healthcare_assets.cli", *args], env=env, capture_output=True, text=True, timeout=900
    )
