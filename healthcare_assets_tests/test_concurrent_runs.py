"""Two `healthcare-assets run` at once into one data directory: the warehouse and ledger locks hold across them."""

from __future__ import annotations

import os
import subprocess
import sys

import duckdb
import pytest
from dagster import DagsterInstance, DagsterRunStatus

from healthcare_assets.config import Paths

pytestmark = pytest.mark.slow


def start_run(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "healthcare_assets.cli", "run", *args],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_concurrent_runs_forked_and_in_process_share_one_data_directory(data_home: Paths) -> None:
    runs = {
        "forked": start_run("--patients", "80", "--seed", "1", "--batch-id", "forked"),
        "inproc": start_run("--patients", "80", "--seed", "2", "--batch-id", "inproc", "--executor", "in_process"),
    }
    for name, process in runs.items():
        out, _ = process.communicate(timeout=600)
        assert process.returncode == 0, f"{name}:\n{out[-4000:]}"
        assert "✔ check deidentified_patient:residual_phi_scan passed" in out

    with DagsterInstance.get() as instance:
        runs = instance.get_runs()
    statuses = {run.tags["dagster/partition"]: run.status for run in runs if "dagster/partition" in run.tags}
    assert statuses == {"forked": DagsterRunStatus.SUCCESS, "inproc": DagsterRunStatus.SUCCESS}
    # Each run is followed by the cross-batch job (training set and split over every batch so far).
    cross = [run.status for run in runs if run.job_name == "training_pipeline"]
    assert cross == [DagsterRunStatus.SUCCESS] * 2

    verified = subprocess.run(
        [sys.executable, "-m", "healthcare_assets.cli", "audit", "verify"], capture_output=True, text=True
    )
    # 5 steps per batch run; 4 per cross-batch run (dictionary, training set, split, and the candidates' step
    # recording that so few patients are not enough to train), for each of the two
    assert verified.returncode == 0 and "OK: 18 records" in verified.stdout, verified.stdout
    with duckdb.connect(str(data_home.warehouse), read_only=True) as con:
        batches = con.execute("SELECT batch_id, count(*) FROM deidentified_patient GROUP BY 1 ORDER BY 1").fetchall()
    assert [b for b, _ in batches] == ["forked", "inproc"] and all(n > 0 for _, n in batches)
