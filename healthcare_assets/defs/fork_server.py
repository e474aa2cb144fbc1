"""The step fork server, and how a run chooses how its steps get a process; no Dagster import (the CLI's parser
and its start-up use this before Dagster is loaded).

Dagster's multiprocess executor starts every step with ``spawn``: a fresh interpreter that imports Dagster and the
project (about 2 s each) before it does any work. With ``forkserver`` one server process imports everything once
(``STEP_PRELOAD``) and forks a copy for each step, so each step keeps its own process (its memory returns when it
ends; a crash or an out-of-memory kill takes one step, not the run) and starts in a fraction of a second.

A forked step inherits the *server's* environment, which is the launching process's environment at the moment the
server started: start it only once the environment is final (the CLI does, after choosing the data directory), and
``start_step_server`` replaces a server whose configuration variables have changed since.
"""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path
from typing import Any

# Imported once by the fork server (healthcare_assets/defs/step_preload.py): Dagster's step machinery, the code
# location and the libraries every step uses, with the job already resolved and the instance opened once.
STEP_PRELOAD = ["dagster._core.executor.multiprocess", "healthcare_assets.defs.step_preload"]

EXECUTORS = ("forkserver", "spawn", "in_process")
DEFAULT_EXECUTOR = "forkserver"
AUTO = "auto"  # the command line's default: in_process for a small batch, forkserver otherwise (``choose_executor``)

# A batch at most this big runs its steps in the launching process. Measured in one process: Synthea x10 (479 MB)
# peaked at 0.87 GB resident, 5,000 synthetic patients (471 MB of NDJSON, ~100 kB a patient) at 1.2 GB, so a
# process per step isolates little, while forking and preparing each step's process cost 2.2 s over Synthea x10's
# 25 steps (wall 23.8 s forked, 20.5 s in one process). Bigger batches get a process per step: a step's memory
# returns when it ends, and an out-of-memory kill fails that step (reported) instead of the whole command.
SMALL_BATCH_BYTES = 512 * 1024 * 1024
SMALL_BATCH_PATIENTS = 5000


def choose_executor(requested: str, source: str, patients: int | None = None, path: str | None = None) -> str:
    """The executor for a command-line run: ``requested`` unless it is ``auto``; then ``in_process`` for a small
    synthetic cohort or NDJSON folder and ``forkserver`` for anything else (a Bulk export's size is unknown)."""
    if requested != AUTO:
        return requested
    if source == "synthetic" and patients is not None and patients <= SMALL_BATCH_PATIENTS:
        return "in_process"
    if source == "ndjson" and path and _folder_bytes(path, SMALL_BATCH_BYTES) <= SMALL_BATCH_BYTES:
        return "in_process"
    return DEFAULT_EXECUTOR


def _folder_bytes(path: str, stop_above: int) -> int:
    """Bytes of the files a batch from ``path`` lands: its ``*.ndjson`` / ``*.ndjson.gz`` files, as landing and
    the preflight check list them (stops counting past ``stop_above``; an unreadable folder counts as big)."""
    from healthcare_assets.fhir.ndjson import is_ndjson_name

    total = 0
    try:
        for entry in Path(path).expanduser().iterdir():
            if entry.is_file() and is_ndjson_name(entry):
                total += entry.stat().st_size
                if total > stop_above:
                    return total
    except FileNotFoundError:
        return 0  # the preflight check names the missing folder
    except OSError:
        return stop_above + 1
    return total


def execution_config(mode: str = DEFAULT_EXECUTOR) -> dict[str, Any]:
    """The ``execution`` block of a run config for ``forkserver`` (default), ``spawn`` or ``in_process``."""
    if mode == "forkserver":
        return {"config": {"multiprocess": {"start_method": {"forkserver": {"preload_modules": list(STEP_PRELOAD)}}}}}
    if mode == "spawn":
        return {"config": {"multiprocess": {"start_method": {"spawn": {}}}}}
    if mode == "in_process":
        return {"config": {"in_process": {}}}
    raise ValueError(f"unknown executor {mode!r}: choose one of {', '.join(EXECUTORS)}")


# A forked step sees the fork server's environment, not its launcher's current one. These are the variables the
# steps read as configuration (data directory, keys, Bulk credentials, instance and MLflow stores).
STEP_ENVIRONMENT_PREFIXES = ("HEALTHCARE_ASSETS_", "DAGSTER_", "MLFLOW_")
_server_environment: dict[str, str] | None = None


def _step_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith(STEP_ENVIRONMENT_PREFIXES)}


def start_step_server() -> bool:
    """Start this process's fork server now, in the background, so its imports overlap the caller's own.

    Returns at once; the first step waits only if the server has not finished importing. A server this process
    already has is reused if it was started with the same configuration environment (``STEP_ENVIRONMENT_PREFIXES``),
    and replaced otherwise, so a long-lived process that switches data directory between runs (a test, a notebook)
    never runs a step against the previous one. Returns False if a stale server could not be replaced; the caller
    must then use ``spawn``.
    """
    global _server_environment
    from multiprocessing import forkserver

    environment = _step_environment()
    server = forkserver._forkserver  # the per-process singleton behind the "forkserver" context
    if getattr(server, "_forkserver_pid", None) is not None and _server_environment != environment:
        stop = getattr(server, "_stop", None)  # private, but present from Python 3.8 to 3.13
        if stop is None:
            return False
        stop()
    multiprocessing.get_context("forkserver").set_forkserver_preload(list(STEP_PRELOAD))
    forkserver.ensure_running()
    _server_environment = environment
    return True
