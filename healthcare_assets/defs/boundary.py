"""The step boundary of every asset that reads the PHI zone: nothing of the data leaves in an error.

Dagster records a failed step's exception, with its message and its whole chain, in the event log (SQLite under
``$DAGSTER_HOME``), prints it to the compute logs and shows it on the run's page; DuckDB, JSON decoders and
Python's codecs quote the line they failed on. ``phi_boundary`` wraps an asset's compute function so that any
exception leaves as a ``dagster.Failure`` whose description is ``errors.describe`` of it (a ``CleanError``'s
own message: file, line and kind of problem; otherwise the exception's class, never its message), with the
original chain dropped and its traceback (code locations only) kept.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from dagster import DagsterError, Failure, RetryRequested

from healthcare_assets.errors import CleanError, describe

BOUNDARY_ATTR = "__healthcare_assets_phi_boundary__"
F = TypeVar("F", bound=Callable[..., Any])


def clean_failure(exc: BaseException) -> Failure:
    """The Failure that stands for ``exc`` outside the PHI zone."""
    metadata: dict[str, Any] = {"error_class": type(exc).__name__}
    if isinstance(exc, CleanError):
        metadata.update({k: v for k, v in (("file", exc.file), ("line", exc.line), ("kind", exc.kind)) if v})
        metadata = {k: str(v) if k == "file" else v for k, v in metadata.items()}
    failure = Failure(description=describe(exc), metadata=metadata, allow_retries=False)
    return failure.with_traceback(exc.__traceback__)


def _passes(exc: BaseException) -> bool:
    """Dagster's own control flow (its messages are the framework's, not the data's)."""
    return isinstance(exc, (RetryRequested, DagsterError)) or (isinstance(exc, Failure) and exc.__cause__ is None)


def phi_boundary(fn: F) -> F:
    """Wrap an asset's compute function (plain or generator) in the boundary; mark it so tests can check."""
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                yield from fn(*args, **kwargs)
            except Exception as exc:
                if _passes(exc):
                    raise
                raise clean_failure(exc) from None

    else:

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                if _passes(exc):
                    raise
                raise clean_failure(exc) from None

    setattr(wrapper, BOUNDARY_ATTR, True)
    return wrapper  # type: ignore[return-value]
