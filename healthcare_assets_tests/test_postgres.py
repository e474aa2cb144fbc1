"""PostgreSQL as hospitals deploy it: the Dagster instance (a batch, two concurrent runs, the daemon's schedule and
sensor) and MLflow's model registry, each test on its own databases, created and dropped here.

The server comes from ``$HEALTHCARE_ASSETS_TEST_POSTGRES_URL`` (any database on it; default: this OS user on
127.0.0.1:5432, which ``bash deploy/postgres.sh`` provides). Without a server the tests skip, except under CI,
where they fail.
"""

from __future__ import annotations

import getpass
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
from psycopg2 import sql

from healthcare_assets.config import Paths
from healthcare_assets.defs.automation import SCHEDULED_MARK
from healthcare_assets.defs.instance import prepare_dagster_home
from healthcare_assets.fhir.bulk.devserver import DevFhirServer
from healthcare_assets.stores import (
    POSTGRES_URL_ENV,
    SCHEME,
    libpq_url,
    mlflow_artifact_root,
    mlflow_postgres_url,
    mlflow_tracking_uri,
    with_database,
)
from healthcare_assets_tests.conftest import REPO

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
SERVER_ENV = "HEALTHCARE_ASSETS_TEST_POSTGRES_URL"


@pytest.fixture(scope="module")
def server_url() -> str:
    url = libpq_url(os.environ.get(SERVER_ENV) or f"postgresql://{getpass.getuser()}@127.0.0.1:5432/postgres")
    try:
        psycopg2.connect(libpq_url(url), connect_timeout=5).close()
    except psycopg2.OperationalError as error:
        reason = f"no PostgreSQL at ${SERVER_ENV} or 127.0.0.1:5432 (run: bash deploy/postgres.sh): {error}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return url


def _admin(server_url: str, statement: sql.Composable) -> None:
    con = psycopg2.connect(libpq_url(with_database(server_url, "postgres")), connect_timeout=5)
    con.autocommit = True  # CREATE/DROP DATABASE cannot run in a transaction
    try:
        with con.cursor() as cur:
            cur.execute(statement)
    finally:
        con.close()


@pytest.fixture
def postgres_url(server_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh database and its _mlflow sibling, selected through the environment; dropped afterwards."""
    url = SCHEME + "://" + with_database(server_url, f"ha_test_{secrets.token_hex(6)}").split("://", 1)[1]
    names = [url.rsplit("/", 1)[1], mlflow_postgres_url(url).rsplit("/", 1)[1]]
    for name in names:
        _admin(server_url, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    monkeypatch.setenv(POSTGRES_URL_ENV, url)
    try:
        yield url
    finally:
        for name in names:
            _admin(server_url, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _query(url: str, query: str) -> list[tuple]:
    con = psycopg2.connect(libpq_url(url), connect_timeout=5)
    try:
        with con.cursor() as cur:
            cur.execute(query)
            return cur.fetchall()
    finally:
        con.close()


def _cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "healthcare_assets.cli", *args],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _finish(process: subprocess.Popen[str], name: str) -> str:
    out, _ = process.communicate(timeout=600)
    assert process.returncode == 0, f"{name}:\n{out[-4000:]}"
    return out


def test_a_batch_and_two_concurrent_runs_keep_the_instance_in_postgres(
    data_home: Paths, postgres_url: str, synthea_dir: Path
) -> None:
    dagster_home = prepare_dagster_home(data_home)
    assert "env: HEALTHCARE_ASSETS_POSTGRES_URL" in (dagster_home / "dagster.yaml").read_text()
    assert postgres_url.rsplit("/", 1)[1] not in (dagster_home / "dagster.yaml").read_text()  # the name, not the URL

    out = _finish(_cli("run", "--source", "ndjson", "--path", str(synthea_dir), "--batch-id", "synthea"), "synthea")
    assert "✔ check deidentified_patient:residual_phi_scan passed" in out
    both = [
        _cli("run", "--patients", "60", "--seed", "3", "--batch-id", "left"),
        _cli("run", "--patients", "60", "--seed", "4", "--batch-id", "right", "--executor", "in_process"),
    ]
    for process, name in zip(both, ("left", "right"), strict=True):
        _finish(process, name)

    # Dagster's own tables, in the test's database: three batch runs and the three cross-batch runs that follow
    # them, every step's events (6 steps per batch, the last, batch_predictions, scoring nothing without a
    # champion; 4 across batches: dictionary, training set, split, and the candidates' step, which trains nothing
    # on so few patients), the partitions.
    runs = dict(_query(postgres_url, "SELECT status, count(*) FROM runs GROUP BY status"))
    assert runs == {"SUCCESS": 6}
    steps = _query(postgres_url, "SELECT count(*) FROM event_logs WHERE dagster_event_type = 'STEP_SUCCESS'")
    assert steps == [(30,)]
    partitions = {p for (p,) in _query(postgres_url, "SELECT partition FROM dynamic_partitions")}
    assert partitions == {"synthea", "left", "right"}
    assert not list(dagster_home.rglob("*.db")), "no SQLite storage beside a PostgreSQL instance"

    verified = _finish(_cli("audit", "verify"), "audit verify")
    assert "OK: 27 records" in verified  # one per step that did something


def _dagster(*args: str, dagster_home: Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("dagster")
    return subprocess.run(
        [str(exe), *args],
        cwd=REPO,
        env={**os.environ, "DAGSTER_HOME": str(dagster_home)},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_daemon_runs_the_schedule_and_sensor_against_postgres(
    data_home: Paths, postgres_url: str, synthea_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The nightly chain: the schedule's job registers a batch, the daemon's sensor lands it through the pipeline."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    dagster_home = prepare_dagster_home(data_home)
    with DevFhirServer(synthea_dir) as fhir:
        monkeypatch.setenv("HEALTHCARE_ASSETS_BULK_URL", fhir.base_url)
        for kind, name in (("schedule", "nightly_bulk_export"), ("sensor", "scheduled_export_sensor")):
            done = _dagster(kind, "start", name, "-w", "workspace.yaml", dagster_home=dagster_home)
            assert done.returncode == 0, done.stdout + done.stderr
        # What the schedule launches at 02:00, run now: it registers a new export batch.
        done = _dagster(
            "job", "execute", "-m", "healthcare_assets.definitions", "-j", "register_bulk_export",
            dagster_home=dagster_home,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr

        log = open(data_home.home.parent / "daemon.log", "w")
        daemon = subprocess.Popen(
            [str(Path(sys.executable).with_name("dagster-daemon")), "run", "-w", "workspace.yaml"],
            cwd=REPO,
            env={**os.environ, "DAGSTER_HOME": str(dagster_home)},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            with DagsterInstance.get() as instance:
                landed = _wait_for_scheduled_run(instance, daemon, data_home.home.parent / "daemon.log")
                heartbeats = set(instance.get_daemon_heartbeats())
                states = {s.name: s.status.value for s in instance.all_instigator_state()}
        finally:
            os.killpg(daemon.pid, signal.SIGTERM)
            try:
                daemon.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(daemon.pid, signal.SIGKILL)
            log.close()

    assert landed.tags["healthcare_assets/trigger"] == "nightly_bulk_export"
    assert {"SCHEDULER", "SENSOR"} <= heartbeats
    # retraining_on_drift_sensor is on by default (issue 13): the daemon evaluates it too, and it requests nothing
    # without a drift report.
    assert {k: v for k, v in states.items() if k != "retraining_on_drift_sensor"} == {
        "nightly_bulk_export": "RUNNING",
        "scheduled_export_sensor": "RUNNING",
    }
    # All of it lives in PostgreSQL: the sensor's ticks and the pipeline run.
    assert _query(postgres_url, "SELECT count(*) FROM job_ticks WHERE status = 'SUCCESS'")[0][0] >= 1
    runs = dict(_query(postgres_url, "SELECT pipeline_name, status FROM runs"))
    assert runs == {"register_bulk_export": "SUCCESS", "batch_pipeline": "SUCCESS"}


def _wait_for_scheduled_run(instance: DagsterInstance, daemon: subprocess.Popen, log: Path):
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        assert daemon.poll() is None, log.read_text()[-4000:]
        runs = instance.get_runs(RunsFilter(job_name="batch_pipeline"))
        for run in runs:
            assert SCHEDULED_MARK in run.tags["dagster/partition"]
            if run.status == DagsterRunStatus.SUCCESS:
                return run
            assert run.status not in (DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED), _run_log(instance, run)
        time.sleep(2)
    raise AssertionError(f"no scheduled batch landed in 10 minutes:\n{log.read_text()[-4000:]}")


def _run_log(instance: DagsterInstance, run) -> str:
    return "\n".join(str(e.user_message) for e in instance.all_logs(run.run_id))[-4000:]


def test_mlflow_registers_and_serves_a_model_from_postgres(data_home: Paths, postgres_url: str) -> None:
    """MLflow's tracking and registry store on PostgreSQL (the database beside the instance's), files on disk."""
    import mlflow
    import numpy as np
    from mlflow import MlflowClient
    from sklearn.linear_model import LogisticRegression

    uri = mlflow_tracking_uri(data_home)
    assert uri == mlflow_postgres_url(postgres_url)
    rng = np.random.default_rng(7)
    features = rng.normal(size=(200, 3))
    labels = (features[:, 0] + 0.5 * features[:, 1] > 0).astype(int)
    model = LogisticRegression().fit(features, labels)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.create_experiment("readmission_pg_test", artifact_location=mlflow_artifact_root(data_home))
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        with mlflow.start_run(experiment_id=experiment):
            mlflow.log_metric("train_accuracy", float(model.score(features, labels)))
            info = mlflow.sklearn.log_model(model, name="model", registered_model_name="readmission_pg_test")
        version = info.registered_model_version
        client.set_registered_model_alias("readmission_pg_test", "challenger", version)
        loaded = mlflow.sklearn.load_model("models:/readmission_pg_test@challenger")
    finally:
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)
    assert (loaded.predict(features) == model.predict(features)).all()
    rows = _query(mlflow_postgres_url(postgres_url), "SELECT name FROM registered_models")
    assert rows == [("readmission_pg_test",)]
    aliases = _query(mlflow_postgres_url(postgres_url), "SELECT alias, version FROM registered_model_aliases")
    assert aliases == [("challenger", int(version))]
    assert any((data_home.mlflow / "artifacts").rglob("MLmodel")), "model files under the data directory"
