"""Store settings: embedded by default, PostgreSQL when HEALTHCARE_ASSETS_POSTGRES_URL says so, no password on disk."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from healthcare_assets.cli import main
from healthcare_assets.config import Paths
from healthcare_assets.defs.instance import DAGSTER_YAML, prepare_dagster_home
from healthcare_assets.stores import (
    POSTGRES_URL_ENV,
    StoreConfigError,
    libpq_url,
    mlflow_tracking_uri,
    postgres_url,
    redact,
)

URL = "postgresql+psycopg2://dagster:s3cret-pw@db.hospital.internal:5432/healthcare_assets"


def _without_dagster_home(monkeypatch) -> None:
    """DAGSTER_HOME unset; what ``prepare_dagster_home`` then sets is undone after the test (setting it first makes
    monkeypatch record the original, which a ``delenv`` of an unset variable would not)."""
    monkeypatch.setenv("DAGSTER_HOME", "unset-by-the-test")
    monkeypatch.delenv("DAGSTER_HOME")


def test_redact_hides_only_the_password() -> None:
    assert redact(URL) == "postgresql+psycopg2://dagster:***@db.hospital.internal:5432/healthcare_assets"
    assert redact("postgresql+psycopg2://dagster@h/db") == "postgresql+psycopg2://dagster@h/db"
    assert libpq_url(URL).startswith("postgresql://dagster:s3cret-pw@")


@pytest.mark.parametrize(
    "value, message",
    [
        ("postgresql://dagster:s3cret-pw@h:5432/db", r"must start with postgresql\+psycopg2://"),
        ("mysql://dagster:s3cret-pw@h/db", "got mysql://"),
        ("postgresql+psycopg2://dagster:s3cret-pw@h:5432/", "names no database"),
    ],
)
def test_a_bad_url_is_refused_without_echoing_the_password(monkeypatch, value: str, message: str) -> None:
    monkeypatch.setenv(POSTGRES_URL_ENV, value)
    with pytest.raises(StoreConfigError, match=message) as error:
        postgres_url()
    assert "s3cret" not in str(error.value) and POSTGRES_URL_ENV in str(error.value)


def test_mlflow_store_follows_the_environment(monkeypatch, tmp_path) -> None:
    paths = Paths(tmp_path / "home")
    monkeypatch.delenv(POSTGRES_URL_ENV, raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert mlflow_tracking_uri(paths) == f"sqlite:///{tmp_path / 'home' / 'mlflow' / 'mlflow.db'}"
    monkeypatch.setenv(POSTGRES_URL_ENV, URL)
    assert mlflow_tracking_uri(paths) == URL + "_mlflow"  # same server, its own database
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.hospital.internal:5000")
    assert mlflow_tracking_uri(paths) == "http://mlflow.hospital.internal:5000"


def test_dagster_yaml_switches_with_the_setting_and_never_holds_the_url(monkeypatch, tmp_path) -> None:
    _without_dagster_home(monkeypatch)
    monkeypatch.delenv(POSTGRES_URL_ENV, raising=False)
    paths = Paths(tmp_path / "home")
    config = prepare_dagster_home(paths) / "dagster.yaml"
    assert config.read_text() == DAGSTER_YAML and "postgres" not in config.read_text()

    monkeypatch.setenv(POSTGRES_URL_ENV, URL)
    prepare_dagster_home(paths)
    text = config.read_text()
    assert "postgres_url:\n      env: HEALTHCARE_ASSETS_POSTGRES_URL" in text
    assert "s3cret" not in text and "hospital" not in text

    monkeypatch.delenv(POSTGRES_URL_ENV)
    prepare_dagster_home(paths)
    assert config.read_text() == DAGSTER_YAML


@pytest.mark.parametrize("postgres", [False, True], ids=["sqlite", "postgres"])
def test_the_instance_has_telemetry_and_the_ui_sign_up_prompt_off(monkeypatch, tmp_path, postgres: bool) -> None:
    _without_dagster_home(monkeypatch)
    if postgres:
        monkeypatch.setenv(POSTGRES_URL_ENV, URL)
    else:
        monkeypatch.delenv(POSTGRES_URL_ENV, raising=False)
    prepare_dagster_home(Paths(tmp_path / "home"))
    from dagster._core.instance.config import dagster_instance_config  # the instance's own reading of the file

    config, _ = dagster_instance_config(os.environ["DAGSTER_HOME"])
    assert config["telemetry"] == {"enabled": False} and config["nux"] == {"enabled": False}


def test_an_operators_own_dagster_yaml_is_left_alone(monkeypatch, tmp_path) -> None:
    _without_dagster_home(monkeypatch)
    monkeypatch.setenv(POSTGRES_URL_ENV, URL)
    own = "run_coordinator:\n  module: dagster.core.run_coordinator\n  class: QueuedRunCoordinator\n"
    (tmp_path / "home" / "dagster").mkdir(parents=True)
    (tmp_path / "home" / "dagster" / "dagster.yaml").write_text(own)
    assert (prepare_dagster_home(Paths(tmp_path / "home")) / "dagster.yaml").read_text() == own


def test_run_refuses_a_bad_url_in_one_line(data_home: Paths, monkeypatch, capsys) -> None:
    monkeypatch.setenv(POSTGRES_URL_ENV, "postgres://dagster:s3cret-pw@h/db")
    assert main(["run", "--patients", "10"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: $HEALTHCARE_ASSETS_POSTGRES_URL must start with postgresql+psycopg2://")
    assert "s3cret" not in err and len(err.strip().splitlines()) == 1


def test_an_unreachable_server_is_one_line_naming_it_without_the_password(data_home: Paths) -> None:
    env = {**os.environ, POSTGRES_URL_ENV: "postgresql+psycopg2://dagster:s3cret-pw@127.0.0.1:9/healthcare_assets"}
    done = subprocess.run(
        [sys.executable, "-m", "healthcare_assets.cli", "run", "--patients", "10", "--executor", "in_process"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: $HEALTHCARE_ASSETS_POSTGRES_URL (postgresql+psycopg2://dagster:***@127.0.0.1:9/")
    assert "s3cret" not in done.stdout + done.stderr
