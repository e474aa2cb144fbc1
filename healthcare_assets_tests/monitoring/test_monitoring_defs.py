"""Where the monitoring assets and the sensor sit in the code location."""

from __future__ import annotations

import pytest
from dagster import AssetKey, DefaultSensorStatus

from healthcare_assets.definitions import defs
from healthcare_assets.defs.monitoring import MonitoringSettings, retraining_on_drift_sensor

MONITORING = {AssetKey("batch_predictions"), AssetKey("drift_report")}


def test_monitoring_assets_are_per_batch_and_in_the_batch_job_only() -> None:
    batch = defs.resolve_job_def("batch_pipeline").asset_layer.executable_asset_keys
    training = defs.resolve_job_def("training_pipeline").asset_layer.executable_asset_keys
    assert MONITORING <= batch and not MONITORING & training
    graph = defs.resolve_asset_graph()
    for key in MONITORING:
        node = graph.get(key)
        assert node.group_name == "monitoring" and node.partitions_def is not None


def test_sensor_is_on_by_default_and_requests_the_training_job() -> None:
    sensor = defs.get_sensor_def("retraining_on_drift_sensor")
    assert sensor is retraining_on_drift_sensor or sensor.name == retraining_on_drift_sensor.name
    assert sensor.default_status == DefaultSensorStatus.RUNNING
    assert sensor.job_name == "training_pipeline"


def test_thresholds_from_config_and_environment(monkeypatch) -> None:
    assert MonitoringSettings().thresholds().as_dict() == {
        "max_drifted_share": 0.3,
        "max_mean_shift": 0.2,
        "min_auroc": 0.85,
    }
    monkeypatch.setenv("HEALTHCARE_ASSETS_MAX_DRIFTED_SHARE", "0.5")
    assert MonitoringSettings().thresholds().max_drifted_share == 0.5
    monkeypatch.setenv("HEALTHCARE_ASSETS_MIN_BATCH_AUROC", "high")
    with pytest.raises(ValueError, match="HEALTHCARE_ASSETS_MIN_BATCH_AUROC must be a number"):
        MonitoringSettings().thresholds()
    monkeypatch.setenv("HEALTHCARE_ASSETS_RETRAINING_RUN_CONFIG", "[1]")
    with pytest.raises(ValueError, match="must be a JSON object"):
        MonitoringSettings().run_config()
