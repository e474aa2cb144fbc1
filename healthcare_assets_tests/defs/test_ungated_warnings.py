"""Dagster's engine warning that a step "will proceed without gating" is shown only when that step ran."""

from __future__ import annotations

import logging

from healthcare_assets.defs.launcher import ENGINE_LOGGER, _RunWatcher, ungated_warnings_held


def _engine_warns(step: str) -> None:
    # The engine's own wording (dagster/_core/execution/plan/active.py).
    logging.getLogger(ENGINE_LOGGER).warning(
        f"Blocking asset check 'validation_report:clinical_gate' emitted no result in step 'validation_report'; "
        f"downstream step {step!r} will proceed without gating on it."
    )


def test_held_while_the_run_executes_then_shown_only_for_steps_that_ran(caplog) -> None:
    lines: list[str] = []
    watcher = _RunWatcher(None, "unused", lines.append)  # not started: its events are set by hand
    with caplog.at_level(logging.WARNING, logger=ENGINE_LOGGER), ungated_warnings_held() as held:
        _engine_warns("model_card")
        _engine_warns("champion_scoring")
        logging.getLogger(ENGINE_LOGGER).warning("another engine warning")
    assert [r.getMessage() for r in caplog.records] == ["another engine warning"]  # the two were held back
    watcher.skipped.add("model_card")  # as STEP_SKIPPED does
    watcher.report_ungated(held)
    assert len(lines) == 1 and "downstream step 'champion_scoring' will proceed without gating" in lines[0]
    assert watcher.warnings == [lines[0].removeprefix("  ⚠ ")]
    # Outside a launch the filter is gone.
    with caplog.at_level(logging.WARNING, logger=ENGINE_LOGGER):
        _engine_warns("model_card")
    assert "will proceed without gating" in caplog.records[-1].getMessage()
