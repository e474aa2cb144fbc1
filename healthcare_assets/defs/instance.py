"""The Dagster instance the CLI, the UI and the tests share: ``$DAGSTER_HOME`` under the data directory."""

from __future__ import annotations

import os
from pathlib import Path

from healthcare_assets.config import Paths

DAGSTER_YAML = """\
# Written by healthcare-assets. Runs, event logs and schedules live in SQLite files in this folder.
# Telemetry is off: nothing here may touch the network.
telemetry:
  enabled: false
# Engine chatter (step workers starting) stays out of the terminal; the event log keeps everything.
python_logs:
  python_log_level: INFO
"""


def prepare_dagster_home(paths: Paths) -> Path:
    """Use ``$DAGSTER_HOME`` when set, else ``<data dir>/dagster``; make sure it has a dagster.yaml."""
    home = Path(os.environ.get("DAGSTER_HOME") or paths.dagster_home).resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML)
    os.environ["DAGSTER_HOME"] = str(home)
    return home
