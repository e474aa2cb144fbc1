"""Progress lines for the terminal that a Dagster run in this process can neither swallow nor capture.

While a run executes in the command's own process (``--executor in_process``, and ``auto`` for small batches),
Dagster points file descriptor 1 at the run's compute log and copies that file back to the terminal with a
``tail -F`` process, which it kills as soon as the run ends. Lines printed in the moments before the end could be
lost on the way (dagster-io/dagster#23336: the last step's "materialized" and "done" lines went missing now and
then), and every progress line also landed in the run's captured stdout, shown in the UI as if a step had printed
it. The printer here writes to a duplicate of the descriptor taken before the run starts, so its lines go straight
to wherever the command's stdout went, and in order.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable
from typing import TextIO

_DUPLICATES: dict[TextIO, TextIO] = {}
"""Each stdout object's duplicate, kept for the process's life (like stdout itself)."""


def progress_printer() -> Callable[[str], None]:
    """A ``print``-like function for one line, bound to stdout as it is now. Call it before a run starts."""
    stream = _DUPLICATES.get(sys.stdout)
    if stream is None:
        stream = _DUPLICATES[sys.stdout] = _duplicate_stdout()

    def printer(line: str) -> None:
        sys.stdout.flush()  # what was printed before this line comes first (into the capture, during a run)
        stream.write(f"{line}\n")
        stream.flush()

    return printer


def _duplicate_stdout() -> TextIO:
    sys.stdout.flush()
    try:
        fd = os.dup(sys.stdout.fileno())
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):  # not a real file (a test's capture)
        return sys.stdout
    return open(  # noqa: SIM115  (lives as long as the printer; the descriptor is a duplicate)
        fd, "w", encoding=sys.stdout.encoding or "utf-8", errors=getattr(sys.stdout, "errors", None) or "strict"
    )
