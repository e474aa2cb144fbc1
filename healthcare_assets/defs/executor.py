"""The code location's executor: each step in its own process, forked from a warm server (defs/fork_server.py).

It is Dagster's default executor (multiprocess, or in_process on request, same config schema, so the launchpad
offers the same choices) with one difference: a multiprocess run that names no start method gets ``forkserver``
with ``STEP_PRELOAD`` instead of ``spawn``. Set as ``Definitions(executor=...)``, so runs launched from the UI
(jobs and ad-hoc materializations), by the sensor and by ``healthcare-assets run`` all use it.
"""

from __future__ import annotations

from dagster import Executor, ExecutorDefinition, InitExecutorContext, multi_or_in_process_executor

from healthcare_assets.defs.fork_server import execution_config


def _create(init_context: InitExecutorContext) -> Executor:
    config = dict(init_context.executor_config)
    if "multiprocess" in config and not (config["multiprocess"] or {}).get("start_method"):
        start_method = execution_config("forkserver")["config"]["multiprocess"]["start_method"]
        config["multiprocess"] = {**(config["multiprocess"] or {}), "start_method": start_method}
    return multi_or_in_process_executor.executor_creation_fn(init_context._replace(executor_config=config))


warm_multiprocess_executor = ExecutorDefinition(
    name="warm_multiprocess_executor",
    config_schema=multi_or_in_process_executor.config_schema,
    executor_creation_fn=_create,
    requirements=multi_or_in_process_executor.get_requirements,
    description=(
        "Each step in its own process, forked from a server that has already imported Dagster and the project "
        "(multiprocess.start_method forkserver, the default here); or spawn, or every step in one process (in_process)."
    ),
)
