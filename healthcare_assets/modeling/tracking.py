"""MLflow: where runs, models and the registry live, and the few operations the pipeline needs.

Embedded default: a SQLite tracking and registry store ``$HEALTHCARE_ASSETS_HOME/mlflow/mlflow.db`` with
artifacts under ``$HEALTHCARE_ASSETS_HOME/mlflow/artifacts`` (MLflow 3 refuses a bare ``./mlruns`` file store);
``MLFLOW_TRACKING_URI`` (or an explicit URI) points everything at a server instead.

Why not dagster-mlflow's ``mlflow_tracking`` resource: it keeps ONE MLflow run per Dagster run as the ``mlflow``
module's global active run (found again in each step process by searching a tag) and needs a job hook
(``end_mlflow_on_run_finished``) to close it, which an asset materialized from the UI's graph does not get, so
runs stay open. The training stage needs a parent run per training with a child run per candidate, later steps
(validation, model card) log to the CHOSEN MODEL'S run, possibly from another Dagster run, and every run must
be closed with its real status. ``Tracker`` does that with explicit run ids and ``MlflowClient``; the fluent
API is used only inside ``Tracker.active`` (model logging needs it), with the URI restored afterwards.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

TRACKING_ENV = "MLFLOW_TRACKING_URI"
REGISTRY_ENV = "MLFLOW_REGISTRY_URI"
ARTIFACTS_DIR = "artifacts"
CHALLENGER = "challenger"
CHAMPION = "champion"
# MLflow draws a tqdm bar per artifact download on stderr: noise in run output and Dagster's compute logs.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def default_tracking_uri(mlflow_dir: Path, explicit: str | None = None) -> str:
    """An explicit URI, else ``$MLFLOW_TRACKING_URI``, else PostgreSQL's ``_mlflow`` database when the platform
    runs on PostgreSQL, else the embedded SQLite store under ``mlflow_dir`` (one rule: ``stores.mlflow_store_uri``)."""
    from healthcare_assets.stores import mlflow_store_uri

    return explicit or mlflow_store_uri(mlflow_dir)


@dataclass(frozen=True)
class Tracker:
    """One tracking/registry store and the experiment of one use case."""

    tracking_uri: str
    artifact_root: str | None  # for a new experiment; None lets the server decide
    experiment: str

    @classmethod
    def embedded(cls, mlflow_dir: Path, experiment: str, explicit_uri: str | None = None) -> Tracker:
        uri = default_tracking_uri(mlflow_dir, explicit_uri)
        root = None
        if uri.startswith(("sqlite:", "postgresql")):  # a database store holds no files: artifacts go to disk
            artifacts = (mlflow_dir / ARTIFACTS_DIR).resolve()
            artifacts.mkdir(parents=True, exist_ok=True)
            root = artifacts.as_uri()
        return cls(uri, root, experiment)

    def client(self):
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    def experiment_id(self) -> str:
        client = self.client()
        found = client.get_experiment_by_name(self.experiment)
        if found is not None:
            return found.experiment_id
        location = f"{self.artifact_root}/{self.experiment}" if self.artifact_root else None
        return client.create_experiment(self.experiment, artifact_location=location)

    def prepare(self) -> str:
        """Open the store (creating its tables on first use) and the experiment, and import what logging a
        scikit-learn model needs; returns the experiment id. All of it is waiting a training step otherwise does
        after its fits (about 3 s on a new data directory: the schema migrations, and skops, whose import scans
        every loaded module), so the step does it while the fits run in other processes."""
        import mlflow.sklearn  # noqa: F401
        import skops.io  # noqa: F401

        return self.experiment_id()

    @contextmanager
    def active(self) -> Iterator[Any]:
        """The ``mlflow`` module pointed at this store for the block (fluent API); no run is left active after it."""
        import mlflow

        # mlflow.set_*_uri also export MLFLOW_TRACKING_URI / MLFLOW_REGISTRY_URI to the environment; a long-lived
        # process (the UI's code server, a test session, the fork server's children) would then keep using this
        # store for every later data directory. The block's end puts both variables back as they were.
        saved = {name: os.environ.get(name) for name in (TRACKING_ENV, REGISTRY_ENV)}
        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)
        try:
            yield mlflow
        finally:
            while mlflow.active_run() is not None:  # never leave a run open in a long-lived process
                mlflow.end_run(status="FAILED")
            mlflow.set_tracking_uri(saved[TRACKING_ENV])  # None unsets both the global and the variable
            mlflow.set_registry_uri(saved[REGISTRY_ENV])
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    @contextmanager
    def run(self, name: str, tags: Mapping[str, str], parent_run_id: str | None = None) -> Iterator[str]:
        """A new run, ended FINISHED when the block completes and FAILED when it raises; yields the run id."""
        client = self.client()
        all_tags = dict(tags)
        if parent_run_id:
            all_tags["mlflow.parentRunId"] = parent_run_id
        run = client.create_run(self.experiment_id(), run_name=name, tags=all_tags)
        run_id = run.info.run_id
        try:
            yield run_id
        except BaseException:
            client.set_terminated(run_id, status="FAILED")
            raise
        client.set_terminated(run_id, status="FINISHED")

    def log_json(self, run_id: str, name: str, value: Any) -> None:
        self.log_bytes(run_id, name, json.dumps(value, indent=2, sort_keys=True, allow_nan=False).encode("utf-8"))

    def log_bytes(self, run_id: str, name: str, data: bytes, directory: str | None = None) -> None:
        with tempfile.TemporaryDirectory(prefix="healthcare-assets-mlflow-") as tmp:
            path = Path(tmp) / name
            path.write_bytes(data)
            self.client().log_artifact(run_id, str(path), directory)

    def read_artifact(self, run_id: str, name: str) -> bytes:
        """An artifact's bytes (downloaded to a temporary folder and read)."""
        with tempfile.TemporaryDirectory(prefix="healthcare-assets-mlflow-") as tmp:
            local = self.client().download_artifacts(run_id, name, tmp)
            return Path(local).read_bytes()

    def artifact_location(self, run_id: str, name: str = "") -> str:
        """Where an artifact lives: a local path for the embedded store, else its URI."""
        uri = self.client().get_run(run_id).info.artifact_uri.rstrip("/")
        full = f"{uri}/{name}" if name else uri
        parsed = urlparse(full)
        return unquote(parsed.path) if parsed.scheme == "file" else full

    # registry ----------------------------------------------------------------------------------------------
    def version(self, model: str, version: str | int):
        return self.client().get_model_version(model, str(version))

    def alias_version(self, model: str, alias: str) -> str | None:
        from mlflow.exceptions import MlflowException

        try:
            return str(self.client().get_model_version_by_alias(model, alias).version)
        except MlflowException:
            return None

    def set_alias(self, model: str, alias: str, version: str | int) -> None:
        self.client().set_registered_model_alias(model, alias, str(version))

    def tag_version(self, model: str, version: str | int, tags: Mapping[str, str]) -> None:
        client = self.client()
        for key, value in tags.items():
            client.set_model_version_tag(model, str(version), key, str(value))

    def ui_hint(self) -> str:
        if self.tracking_uri.startswith("sqlite:"):
            return f"mlflow ui --backend-store-uri {self.tracking_uri}"
        return self.tracking_uri
