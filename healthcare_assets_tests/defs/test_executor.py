"""Steps fork from a warm server: the job's own default (so UI and sensor runs too), with a current environment."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
from multiprocessing import forkserver

import pytest
from dagster import DagsterInstance, InitExecutorContext, reconstructable
from dagster._core.executor.in_process import InProcessExecutor
from dagster._core.executor.multiprocess import MultiprocessExecutor
from dagster._core.system_config.objects import ResolvedRunConfig

from healthcare_assets.config import HOME_ENV
from healthcare_assets.definitions import defs
from healthcare_assets.defs.executor import warm_multiprocess_executor
from healthcare_assets.defs.fork_server import STEP_PRELOAD, execution_config, start_step_server
from healthcare_assets.defs.jobs import BATCH_PIPELINE
from healthcare_assets.defs.launcher import batch_pipeline_job

SOURCE = {"ops": {"raw_fhir_ndjson": {"config": {"source": "synthetic", "patients": 10}}}}


def _executor_for(run_config: dict):
    """The executor a run of the batch pipeline with this run config gets (as the UI, the sensor or the CLI)."""
    job = defs.resolve_job_def(BATCH_PIPELINE)
    execution = ResolvedRunConfig.build(job, run_config).execution
    context = InitExecutorContext(
        job=reconstructable(batch_pipeline_job),
        executor_def=job.executor_def,
        executor_config=execution.execution_engine_config,
        instance=DagsterInstance.ephemeral(),
    )
    return job.executor_def.executor_creation_fn(context)


def test_a_run_that_names_no_executor_forks_its_steps_from_a_preloaded_server() -> None:
    """The code location's executor: the UI's launchpad, a UI materialization and the sensor's runs get it too."""
    assert defs.resolve_job_def(BATCH_PIPELINE).executor_def is warm_multiprocess_executor
    assert defs.resolve_implicit_global_asset_job_def().executor_def is warm_multiprocess_executor
    executor = _executor_for(SOURCE)
    assert isinstance(executor, MultiprocessExecutor)
    assert executor._start_method == "forkserver" and executor._explicit_forkserver_preload == STEP_PRELOAD
    tuned = _executor_for({**SOURCE, "execution": {"config": {"multiprocess": {"max_concurrent": 1}}}})
    assert tuned._start_method == "forkserver" and tuned._max_concurrent == 1


def test_a_run_can_still_choose_spawn_or_in_process() -> None:
    assert _executor_for({**SOURCE, "execution": execution_config("spawn")})._start_method == "spawn"
    assert isinstance(_executor_for({**SOURCE, "execution": execution_config("in_process")}), InProcessExecutor)
    assert _executor_for({**SOURCE, "execution": execution_config("forkserver")})._start_method == "forkserver"


def test_unknown_executor_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown executor 'threads'"):
        execution_config("threads")


def test_the_command_line_parser_does_not_import_dagster() -> None:
    """Every command builds the parser; `run` starts the fork server before Dagster is imported."""
    code = "import sys; from healthcare_assets.cli import _parser; _parser(); print('dagster' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.stdout.strip() == "False", done.stderr[-2000:]


def test_preloading_imports_the_code_location_and_leaves_the_collector_on() -> None:
    code = (
        "import gc, sys; import healthcare_assets.defs.preload; "
        "assert 'healthcare_assets.definitions' in sys.modules and 'duckdb' in sys.modules; "
        "assert gc.isenabled() and gc.get_freeze_count() > 100000; print('ok')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.stdout.strip() == "ok", done.stderr[-2000:]


def _home_seen_by_a_forked_step(queue) -> None:
    queue.put(os.environ.get(HOME_ENV))


def _forked_home() -> str | None:
    context = multiprocessing.get_context("forkserver")
    queue = context.Queue()
    process = context.Process(target=_home_seen_by_a_forked_step, args=(queue,))
    process.start()
    try:
        return queue.get(timeout=120)
    finally:
        process.join(30)


@pytest.mark.slow
def test_a_server_started_for_another_data_directory_is_replaced(tmp_path, monkeypatch) -> None:
    """Forked steps see the server's environment; a process that switches data directory gets a new server."""
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "first"))
    assert start_step_server()
    first_pid = forkserver._forkserver._forkserver_pid
    assert start_step_server() and forkserver._forkserver._forkserver_pid == first_pid  # same environment: reused
    assert _forked_home() == str(tmp_path / "first")

    monkeypatch.setenv(HOME_ENV, str(tmp_path / "second"))
    assert start_step_server()
    assert forkserver._forkserver._forkserver_pid != first_pid
    assert _forked_home() == str(tmp_path / "second")


def test_the_command_line_runs_a_small_batch_in_one_process_and_a_big_one_forked(tmp_path) -> None:
    from healthcare_assets.defs.fork_server import SMALL_BATCH_BYTES, SMALL_BATCH_PATIENTS, choose_executor

    assert choose_executor("auto", "synthetic", patients=SMALL_BATCH_PATIENTS) == "in_process"
    assert choose_executor("auto", "synthetic", patients=SMALL_BATCH_PATIENTS + 1) == "forkserver"
    assert choose_executor("auto", "bulk") == "forkserver"  # its size is unknown until it is downloaded
    assert choose_executor("spawn", "synthetic", patients=10) == "spawn"  # an explicit choice stands
    (tmp_path / "Patient.ndjson").write_bytes(b"{}\n" * 10)
    assert choose_executor("auto", "ndjson", path=str(tmp_path)) == "in_process"
    with open(tmp_path / "Observation.ndjson", "wb") as big:
        big.truncate(SMALL_BATCH_BYTES)  # sparse: counts by size without writing it
    assert choose_executor("auto", "ndjson", path=str(tmp_path)) == "forkserver"
    assert choose_executor("auto", "ndjson", path=str(tmp_path / "missing")) == "in_process"  # checked later
