"""The fork server's preload opens the instance once, so forked steps inherit what opening it costs, and never
raises (a fork server that dies on an exception fails every step with a broken pipe instead of the cause)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from healthcare_assets.defs.fork_server import STEP_PRELOAD
from healthcare_assets.defs.instance import DAGSTER_YAML

PROBE = (
    "import sys, healthcare_assets.defs.step_preload; "
    "from healthcare_assets.defs.sqlite_storage import head_revision; "
    "print(head_revision.cache_info().currsize, 'upath' in sys.modules, 'pandera.polars' in sys.modules)"
)


def _run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "HEALTHCARE_ASSETS_"))}
    return subprocess.run([sys.executable, "-c", PROBE], env={**clean, **env}, capture_output=True, text=True)


def test_the_fork_server_preloads_the_opened_instance(tmp_path: Path) -> None:
    assert "healthcare_assets.defs.step_preload" in STEP_PRELOAD
    home = tmp_path / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text(DAGSTER_YAML)
    done = _run({"DAGSTER_HOME": str(home)})
    assert done.returncode == 0, done.stderr
    # The schema head resolved, the lazily imported libraries loaded, and pandas and pandera, which the later
    # steps would each import again (STEP_LIBRARIES).
    assert done.stdout.split() == ["1", "True", "True"]
    assert (home / "history" / "runs.db").exists()


def test_an_instance_that_cannot_open_leaves_the_preload_quiet(tmp_path: Path) -> None:
    home = tmp_path / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        "storage:\n  postgres:\n    postgres_url: postgresql://nobody@127.0.0.1:9/none\n"
    )
    done = _run({"DAGSTER_HOME": str(home), "HEALTHCARE_ASSETS_POSTGRES_URL": "postgresql://nobody@127.0.0.1:9/none"})
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr  # the steps will open it themselves and report why they cannot
