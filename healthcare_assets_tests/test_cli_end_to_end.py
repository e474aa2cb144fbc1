"""`healthcare-assets run` drives the real Dagster instance (multiprocess executor) end to end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus

from healthcare_assets.config import Paths

pytestmark = pytest.mark.slow


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "healthcare_assets.cli", *args], env=env, capture_output=True, text=True, timeout=600
    )


def test_run_ndjson_then_verify_then_tamper(data_home: Paths, synthea_dir: Path) -> None:
    env = dict(os.environ)
    # Forked steps, named explicitly: the sample is small enough that the default (auto) runs it in one process.
    done = _cli(
        "run", "--source", "ndjson", "--path", str(synthea_dir), "--batch-id", "synthea-cli", "--executor",
        "forkserver", env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "(steps: each forked from a warm server; --executor)" in out
    assert "> raw_fhir_ndjson" in out and "✔ fhir_profile materialized" in out
    assert "✔ check fhir_profile:structural_integrity passed" in out
    assert "✔ check deidentified_patient:residual_phi_scan passed" in out
    assert "✔ check feature_matrix:no_future_data passed" in out
    assert "✔ check training_set:training_set_schema passed" in out and "✔ train_test_split materialized" in out
    assert str(data_home.batch_dir("synthea-cli")) in out and "dagster dev -w workspace.yaml" in out

    with DagsterInstance.get() as instance:  # DAGSTER_HOME from the fixture: the runs are visible to the UI
        runs = instance.get_runs()  # newest first: the cross-batch run follows the batch's
        assert len(runs) == 2 and all(r.status == DagsterRunStatus.SUCCESS for r in runs)
        assert runs[1].tags["dagster/partition"] == "synthea-cli" and runs[0].job_name == "training_pipeline"
        assert instance.get_dynamic_partitions("export_batch") == ["synthea-cli"]

    verified = _cli("audit", "verify", env=env)
    # land, profile, de-identify, cohort, feature matrix; dictionary, training set, split, training skipped (the
    # Synthea sample has too few readmissions to train on)
    assert verified.returncode == 0 and "OK: 9 records" in verified.stdout
    ledger = data_home.audit / "ledger.jsonl"
    lines = ledger.read_text().splitlines(keepends=True)
    ledger.write_text(lines[0].replace('"lines":38970', '"lines":38000') + lines[1])
    tampered = _cli("audit", "verify", env=env)
    assert tampered.returncode == 1 and "line 1" in tampered.stdout


def test_run_reports_bad_input(data_home: Paths, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    done = _cli("run", "--source", "ndjson", "--path", str(empty), env=dict(os.environ))
    assert done.returncode == 2  # checked before a partition is registered
    assert done.stderr.splitlines()[-1] == f"error: {empty}: no *.ndjson or *.ndjson.gz files"


def test_run_help_lists_sources() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "healthcare_assets.cli", "run", "--help"], capture_output=True, text=True
    )
    assert done.returncode == 0 and "synthetic" in done.stdout and "ndjson" in done.stdout


def test_run_synthetic_through_every_asset(data_home: Paths) -> None:
    """README command 1 in small: the default source, through de-identification, with drift knobs passed on."""
    done = _cli("run", "--patients", "120", "--seed", "5", "--icd10-dropped", "--batch-id", "syn", env=dict(os.environ))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "generating 120 synthetic patients (seed 5)" in done.stdout
    assert "(steps: all in this process; --executor)" in done.stdout  # auto: a small batch
    assert "✔ check deidentified_patient:residual_phi_scan passed" in done.stdout
    assert "✔ check feature_matrix:feature_matrix_schema passed" in done.stdout
    manifest = (data_home.batch_dir("syn") / "manifest.json").read_text()
    assert '"icd10_dropped": true' in manifest and '"patients": 120' in manifest
    # Too few outcomes to train: the card is skipped with the rest, and Dagster's engine warning that it "will
    # proceed without gating" on the clinical gate (logged before it skips the card too) is not shown.
    assert "- model_card skipped" in done.stdout
    assert "without gating" not in done.stdout + done.stderr, done.stderr
    # In one process, Dagster copies the run's captured stdout back to the terminal with `tail -F`, killed when
    # the run ends: the progress lines bypass that copy (healthcare_assets/terminal.py), so none is lost, and
    # none is in the run's compute log as if a step had printed it.
    with DagsterInstance.get() as instance:
        runs = instance.get_runs()
        assert len(runs) == 2
        for run in runs:
            assert f"run {run.run_id} started" in done.stdout
            events = instance.get_records_for_run(run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION)
            for record in events.records:
                key = record.event_log_entry.dagster_event.asset_key.to_user_string()
                assert f"✔ {key} materialized" in done.stdout, key
    captured = list(Path(os.environ["DAGSTER_HOME"]).rglob("*.out"))
    assert captured, "no compute log captured"
    for path in captured:
        text = path.read_text(errors="replace")
        assert "✔" not in text and " started" not in text, (path.name, text[:500])
