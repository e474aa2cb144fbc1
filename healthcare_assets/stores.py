"""Where the Dagster instance and MLflow keep their records: embedded files by default, PostgreSQL when asked.

``HEALTHCARE_ASSETS_POSTGRES_URL`` (``postgresql+psycopg2://user[:password]@host:port/database``) switches both:

- the Dagster instance (runs, event log, schedules and sensor state) to that database; the generated
  ``dagster.yaml`` names the variable, never its value, so no password is written to disk;
- MLflow's tracking and model-registry store to the database of the same name with ``_mlflow`` appended, on the same
  server (Dagster and MLflow both have a ``runs`` and an ``alembic_version`` table, so they cannot share one).

Unset, the instance stays in SQLite files under ``$DAGSTER_HOME`` and MLflow in ``$HEALTHCARE_ASSETS_HOME/mlflow/``.
``MLFLOW_TRACKING_URI``, when set, wins for MLflow. Both databases must exist (``deploy/postgres.sh`` creates them).
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from healthcare_assets.config import Paths
from healthcare_assets.errors import ConfigError

POSTGRES_URL_ENV = "HEALTHCARE_ASSETS_POSTGRES_URL"
MLFLOW_URI_ENV = "MLFLOW_TRACKING_URI"
MLFLOW_DATABASE_SUFFIX = "_mlflow"
MLFLOW_DB_FILE = "mlflow.db"
# Dagster's PostgreSQL event log needs the psycopg2 driver (with psycopg 3, SQLAlchemy 2.1's default for a plain
# postgresql:// URL, its NOTIFY statement fails), so the URL names it.
SCHEME = "postgresql+psycopg2"


class StoreConfigError(ConfigError):
    """A store setting that cannot work; the message names the variable, never a password."""


def redact(url: str) -> str:
    """The URL with any password replaced by ``***`` (for messages and metadata)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))


def postgres_url() -> str | None:
    """The configured PostgreSQL URL, checked; None when the embedded stores are in use."""
    url = os.environ.get(POSTGRES_URL_ENV, "").strip()
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme != SCHEME:
        raise StoreConfigError(
            f"${POSTGRES_URL_ENV} must start with {SCHEME}:// (got {parts.scheme or 'no scheme'}://): Dagster's "
            "event log on PostgreSQL needs the psycopg2 driver"
        )
    if not parts.path.strip("/"):
        raise StoreConfigError(f"${POSTGRES_URL_ENV} names no database: {redact(url)}")
    return url


def libpq_url(url: str) -> str:
    """The same URL for libpq and psycopg2 themselves, which know no ``+driver`` suffix."""
    return urlunsplit(urlsplit(url)._replace(scheme="postgresql"))


def check_reachable(url: str, timeout_s: int = 10) -> None:
    """Connect once, so an unreachable server or a missing database is one clear line, not Dagster's retries."""
    import psycopg2

    try:
        psycopg2.connect(libpq_url(url), connect_timeout=timeout_s).close()
    except psycopg2.Error as error:
        reason = (str(error).strip().splitlines() or ["no reason given"])[0]  # libpq: host, port, database, role
        raise StoreConfigError(f"${POSTGRES_URL_ENV} ({redact(url)}): {reason}") from None


def database_name(url: str) -> str:
    return urlsplit(url).path.strip("/")


def with_database(url: str, database: str) -> str:
    """The same server, user and options, another database."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


def mlflow_postgres_url(url: str) -> str:
    return with_database(url, database_name(url) + MLFLOW_DATABASE_SUFFIX)


def mlflow_tracking_uri(paths: Paths) -> str:
    """MLflow's tracking and registry store: ``$MLFLOW_TRACKING_URI``, else PostgreSQL, else the data directory."""
    return mlflow_store_uri(paths.mlflow)


def mlflow_store_uri(mlflow_dir: Path) -> str:
    """``$MLFLOW_TRACKING_URI``, else the ``_mlflow`` database beside the instance's, else the embedded SQLite
    store ``mlflow_dir/mlflow.db`` (MLflow 3 refuses a bare file store)."""
    explicit = os.environ.get(MLFLOW_URI_ENV, "").strip()
    if explicit:
        return explicit
    url = postgres_url()
    if url:
        return mlflow_postgres_url(url)
    mlflow_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(mlflow_dir / MLFLOW_DB_FILE).resolve()}"


def mlflow_artifact_root(paths: Paths) -> str:
    """Where MLflow writes model files when its store is a database (a database holds no artifacts)."""
    return (paths.mlflow / "artifacts").as_uri()


DAGSTER_POSTGRES_STORAGE = f"""\
# Runs, event log, schedules and sensor state in PostgreSQL: the URL is read from ${POSTGRES_URL_ENV}.
storage:
  postgres:
    postgres_url:
      env: {POSTGRES_URL_ENV}
"""
