"""Launch the batch pipeline for a new export batch on the real Dagster instance, showing progress.

The job runs through ``execute_job`` with the definitions' own executor (multiprocess), exactly as a run
launched from the UI would, so it appears in the UI's run list. A watcher thread follows the run's event log
and prints one line per step, materialization, check and log message, and collects what the command line
reports at the end: each failure's one-line cause (a Failure's description, else the innermost error), the
counts a user should see (lines, quarantined, superseded, rejected files), and, for ``--verbose``, the stack.
Dagster's own console logger is silenced unless verbose, so a failure is not printed as 60 lines of trace.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from dagster import (
    AssetCheckSeverity,
    AssetKey,
    DagsterEventType,
    DagsterInstance,
    RunsFilter,
    execute_job,
    reconstructable,
)

from healthcare_assets.defs.fork_server import DEFAULT_EXECUTOR, execution_config, start_step_server
from healthcare_assets.defs.jobs import BATCH_PIPELINE, MODEL_ASSETS, TRAINING_PIPELINE
from healthcare_assets.defs.partitions import EXPORT_BATCH_PARTITIONS

LAUNCH_TAG = "healthcare_assets/launch"
Printer = Callable[[str], None]


def batch_pipeline_job():
    """Module-level so that ``reconstructable`` can rebuild the job in each step's process."""
    from healthcare_assets.definitions import defs

    return defs.resolve_job_def(BATCH_PIPELINE)


def training_pipeline_job():
    """Module-level so that ``reconstructable`` can rebuild the cross-batch job in each step's process."""
    from healthcare_assets.definitions import defs

    return defs.resolve_job_def(TRAINING_PIPELINE)


@dataclass
class LaunchResult:
    run_id: str
    success: bool
    failed_checks: list[str]
    errors: list[str]  # one line each: "<step>: <cause>" or "blocking check <asset>:<check> failed: <why>"
    warnings: list[str] = field(default_factory=list)  # checks that failed with WARN severity (not blocking)
    stacks: list[str] = field(default_factory=list)  # the failures' stack traces (code locations, no data)
    summary: dict[str, Any] = field(default_factory=dict)  # counts from the extraction assets' metadata


def launch_batch(
    instance: DagsterInstance,
    batch_id: str,
    source_config: Mapping[str, Any],
    printer: Printer = print,
    extra_run_config: Mapping[str, Any] | None = None,
    verbose: bool = False,
    executor: str = DEFAULT_EXECUTOR,
) -> LaunchResult:
    """Register ``batch_id`` as a partition and materialize every batch asset for it (check the source with
    ``preflight.check_source`` first: a partition, once added, stays until ``batches delete``).

    ``executor`` is ``forkserver`` (the job's default), ``spawn`` or ``in_process`` (see defs/fork_server.py).
    """
    if executor == "forkserver" and not start_step_server():
        executor = "spawn"  # a stale fork server would run the steps with another process's environment
    instance.add_dynamic_partitions(EXPORT_BATCH_PARTITIONS, [batch_id])
    launch_id = f"{batch_id}-{time.time_ns()}"
    run_config: dict[str, Any] = {
        "ops": {"raw_fhir_ndjson": {"config": dict(source_config)}},
        # The watcher prints every event; Dagster's console logger would add each failure's full trace.
        "loggers": {"console": {"config": {"log_level": "ERROR" if verbose else "CRITICAL"}}},
        "execution": execution_config(executor),
    }
    for key, value in (extra_run_config or {}).items():
        run_config.setdefault(key, {}).update(value)
    result, watcher = _execute_printing(
        instance,
        launch_id,
        printer,
        batch_pipeline_job,
        run_config=run_config,
        tags={"dagster/partition": batch_id, LAUNCH_TAG: launch_id},
    )
    return LaunchResult(
        result.run_id,
        result.success,
        watcher.failed_checks,
        watcher.errors,
        watcher.warnings,
        watcher.stacks,
        watcher.summary,
    )


def launch_training(
    instance: DagsterInstance,
    printer: Printer = print,
    run_config: Mapping[str, Any] | None = None,
    verbose: bool = False,
    models_only: bool = False,
) -> LaunchResult:
    """Materialize the cross-batch assets from every batch so far: training set and split, then train, validate
    (blocking clinical gate), card and register the challenger. The unpartitioned half of a ``run``, launched once
    the batch pipeline succeeded. ``models_only`` (``healthcare-assets train``) keeps the current training set and
    split and runs only the training, validation and card steps. The job runs in one process (its own executor)."""
    # MLflow's store chatter (schema migrations) is not the user's business here; warnings still show.
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    selection = [AssetKey(key) for key in MODEL_ASSETS] if models_only else None
    return execute_watched(
        instance, training_pipeline_job, TRAINING_PIPELINE, run_config, printer, verbose, asset_selection=selection
    )


def execute_watched(
    instance: DagsterInstance,
    job_fn: Callable[[], Any],
    name: str,
    run_config: Mapping[str, Any] | None,
    printer: Printer,
    verbose: bool = False,
    asset_selection: Sequence[AssetKey] | None = None,
    tags: Mapping[str, str] | None = None,
) -> LaunchResult:
    """Run an unpartitioned job of the code location (or some of its assets) like a UI launch, printing progress.
    ``tags`` are added to the run's (a sensor's request: its trigger and drift event)."""
    launch_id = f"{name}-{time.time_ns()}"
    config: dict[str, Any] = {"loggers": {"console": {"config": {"log_level": "ERROR" if verbose else "CRITICAL"}}}}
    for key, value in (run_config or {}).items():
        config.setdefault(key, {}).update(value)
    result, watcher = _execute_printing(
        instance,
        launch_id,
        printer,
        job_fn,
        run_config=config,
        tags={**(tags or {}), LAUNCH_TAG: launch_id},
        asset_selection=asset_selection,
    )
    return LaunchResult(
        result.run_id, result.success, watcher.failed_checks, watcher.errors, watcher.warnings, watcher.stacks
    )


def _execute_printing(
    instance: DagsterInstance, launch_id: str, printer: Printer, job_fn: Callable[[], Any], **execute_args: Any
) -> tuple[Any, _RunWatcher]:
    """``execute_job`` of ``job_fn`` with a watcher printing its events; the engine's held "without gating"
    warnings are reported once every event is in."""
    watcher = _RunWatcher(instance, launch_id, printer)
    watcher.start()
    try:
        with ungated_warnings_held() as held:
            result = execute_job(reconstructable(job_fn), instance=instance, **execute_args)
    finally:
        watcher.stop()
    watcher.report_ungated(held)
    return result, watcher


# Dagster's engine (the run's orchestration, in this process whatever the executor) logs this when a step whose
# blocking check emitted no result did not run, before it decides on the step downstream.
ENGINE_LOGGER = "dagster._core.execution.plan.active"
_UNGATED = re.compile(r"downstream step '([^']+)' will proceed without gating")


class UngatedWarnings(logging.Filter):
    """Holds back the engine's warning that a downstream step "will proceed without gating" on a blocking check.

    The engine logs it whenever the checked step was skipped, and then skips the downstream step as well, since
    the skipped step's asset is missing too: every run with too few outcomes to train printed that the model
    card "will proceed without gating" on the clinical gate, and then skipped the card. Held warnings are
    printed after the run only for downstream steps that were not skipped (``_RunWatcher.report_ungated``)."""

    def __init__(self) -> None:
        super().__init__()
        self.held: list[tuple[str, str]] = []  # (downstream step, message)

    def filter(self, record: logging.LogRecord) -> bool:
        match = _UNGATED.search(record.getMessage())
        if match is None:
            return True
        self.held.append((match.group(1), record.getMessage()))
        return False


@contextmanager
def ungated_warnings_held() -> Iterator[UngatedWarnings]:
    held = UngatedWarnings()
    logger = logging.getLogger(ENGINE_LOGGER)
    logger.addFilter(held)
    try:
        yield held
    finally:
        logger.removeFilter(held)


class _RunWatcher(threading.Thread):
    def __init__(self, instance: DagsterInstance, launch_id: str, printer: Printer):
        super().__init__(daemon=True)
        self.instance, self.launch_id, self.printer = instance, launch_id, printer
        self._stopping = threading.Event()
        self.failed_checks: list[str] = []
        self.errors: list[str] = []
        self.warnings: list[str] = []
        self.stacks: list[str] = []
        self.summary: dict[str, Any] = {}
        self.skipped: set[str] = set()
        self._step_started: dict[str, float] = {}

    def stop(self) -> None:
        self._stopping.set()
        self.join(timeout=10)

    def report_ungated(self, held: UngatedWarnings) -> None:
        """After ``stop``: the engine's held warnings whose downstream step did run (see ``UngatedWarnings``)."""
        for step, message in held.held:
            if step not in self.skipped:
                self.warnings.append(message)
                self.printer(f"  ⚠ {message}")

    def run(self) -> None:
        run_id, cursor = None, None
        while True:
            stopping = self._stopping.is_set()
            if run_id is None:
                runs = self.instance.get_runs(RunsFilter(tags={LAUNCH_TAG: self.launch_id}), limit=1)
                run_id = runs[0].run_id if runs else None
            if run_id is not None:
                while True:  # drain everything available
                    conn = self.instance.get_records_for_run(run_id, cursor=cursor, limit=200)
                    for record in conn.records:
                        self._show(record.event_log_entry)
                    cursor = conn.cursor
                    if not conn.has_more:
                        break
            if stopping:
                return
            self._stopping.wait(0.3)

    def _show(self, entry: Any) -> None:
        event = entry.dagster_event
        step = entry.step_key or ""
        if event is None:
            if entry.level >= 20 and step:  # INFO and up from inside a step: the asset's own progress
                self.printer(f"    {step}: {entry.user_message}")
            return
        kind = event.event_type
        if kind == DagsterEventType.RUN_START:
            self.printer(f"run {entry.run_id} started")
        elif kind == DagsterEventType.STEP_START:
            self._step_started[step] = entry.timestamp
            self.printer(f"  > {step}")
        elif kind == DagsterEventType.ASSET_MATERIALIZATION:
            mat = event.step_materialization_data.materialization
            rows = mat.metadata.get("dagster/row_count")
            suffix = f" ({rows.value:,} row{'' if rows.value == 1 else 's'})" if rows is not None else ""
            key = mat.asset_key.to_user_string()
            for name in SUMMARY_FIELDS.get(key, ()):
                if name in mat.metadata:
                    self.summary[name] = mat.metadata[name].value
            if key == "fhir_profile" and "quarantined" in mat.metadata:
                suffix += f", {mat.metadata['quarantined'].value:,} lines quarantined"
            self.printer(f"  ✔ {key} materialized{suffix}")
        elif kind == DagsterEventType.ASSET_CHECK_EVALUATION:
            data = event.event_specific_data
            name = f"{data.asset_key.to_user_string()}:{data.check_name}"
            if data.passed:
                self.printer(f"  ✔ check {name} passed")
            elif data.severity == AssetCheckSeverity.WARN:  # reported, not blocking
                self.warnings.append(f"check {name}: {data.description or ''}")
                self.printer(f"  ⚠ check {name} warning: {data.description or ''}")
            else:
                self.failed_checks.append(name)
                self.errors.append(f"blocking check {name} failed: {data.description or 'no description'}")
                self.printer(f"  ✘ check {name} FAILED: {data.description or ''}")
        elif kind == DagsterEventType.STEP_SUCCESS:
            took = entry.timestamp - self._step_started.get(step, entry.timestamp)
            self.printer(f"  < {step} done in {took:.1f} s")
        elif kind == DagsterEventType.STEP_FAILURE:
            cause = one_line_cause(event.step_failure_data)
            if cause.startswith("DagsterAssetCheckFailedError"):  # the failed check was reported already
                self.printer(f"  ✘ {step} stopped: a blocking check failed")
                return
            self.errors.append(f"{step}: {cause}")
            if event.step_failure_data.error is not None:
                self.stacks.append(f"{step}:\n{event.step_failure_data.error.to_string()}")
            self.printer(f"  ✘ {step} failed: {cause}")
        elif kind == DagsterEventType.STEP_SKIPPED:
            self.skipped.add(step)
            self.printer(
                f"  - {step} skipped (nothing upstream to build on: a step failed, a check blocked, or a step had "
                "nothing to do, such as scoring with no champion yet; see above)"
            )
        elif kind in (DagsterEventType.RUN_SUCCESS, DagsterEventType.RUN_FAILURE):
            self.printer(f"run {entry.run_id} {'succeeded' if kind == DagsterEventType.RUN_SUCCESS else 'FAILED'}")


# Metadata the command line sums up after a run (counts only).
SUMMARY_FIELDS = {
    "raw_fhir_ndjson": ("rejected_files",),
    "fhir_profile": ("lines", "dagster/row_count", "quarantined", "superseded_duplicates", "quarantine_reasons"),
}


def one_line_cause(failure: Any) -> str:
    """A failed step's cause in one line: a Failure's description (what ``phi_boundary`` raises), else the
    innermost error's message without its module path."""
    user = getattr(failure, "user_failure_data", None)
    if user is not None and user.description:
        return user.description.strip().splitlines()[0]
    error = failure.error
    if error is None:
        return "unknown error"
    while error.cause is not None:
        error = error.cause
    message = error.message.strip().splitlines()[0] if error.message.strip() else error.cls_name or "error"
    head, sep, rest = message.partition(": ")
    return f"{head.rsplit('.', 1)[-1]}: {rest}" if sep and "." in head and " " not in head else message
