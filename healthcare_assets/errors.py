"""Errors that may leave the PHI zone: messages built from names, numbers and kinds, never from input text.

Library errors quote their input: DuckDB's CSV and JSON readers print ``Original Line: {...}``, conversion
errors print the value, ``UnicodeDecodeError`` carries the bytes, JSON decoders keep the document. Whatever
reads the PHI zone therefore lets only a ``CleanError`` out: its message was written by this project from
file names, line numbers, counts and problem kinds. ``describe`` says what can be said about any other
exception without its message, and ``about_file`` turns one into a ``CleanError`` that names the file.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from contextlib import contextmanager


class CleanError(Exception):
    """An error whose message carries no data read from the input (file, line and kind of problem only)."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None, kind: str | None = None):
        super().__init__(message)
        self.file, self.line, self.kind = file, line, kind


class ConfigError(CleanError, ValueError):
    """Configuration or arguments that cannot work (the message quotes the setting, never data)."""


# Library exceptions whose messages come from fixed templates (no input text in them).
_TEMPLATED = (zlib.error, EOFError, TimeoutError)


def describe(exc: BaseException) -> str:
    """One line about ``exc`` that quotes none of the data it was raised on."""
    if isinstance(exc, CleanError):
        return str(exc)
    from healthcare_assets.fhir.bulk.errors import BulkExportError

    if isinstance(exc, BulkExportError):
        # The Bulk client's messages: the request, HTTP status and the server's OperationOutcome; never a
        # resource line, token or pre-signed query string (fhir/bulk/errors.py).
        return f"{type(exc).__name__}: {exc}"
    name = type(exc).__name__
    module = type(exc).__module__
    qualified = name if module in ("builtins", "__main__") else f"{module.split('.')[0].lstrip('_')}.{name}"
    if isinstance(exc, UnicodeDecodeError):
        return f"not {exc.encoding.upper()} ({exc.reason} at byte {exc.start})"
    if isinstance(exc, json.JSONDecodeError):  # orjson's error is a subclass; .doc holds the input, .msg does not
        return f"invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
    if isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename else ""
        return f"{qualified}: {exc.strerror}{where}"
    if isinstance(exc, _TEMPLATED):
        return f"{qualified}: {str(exc).splitlines()[0] if str(exc) else 'no message'}"
    if hasattr(exc, "what") and hasattr(exc, "status"):  # a FHIR server's answer: say which request, not its body
        status = f"HTTP {exc.status}" if exc.status is not None else "no response"
        return f"{qualified}: {exc.what} failed: {status}"
    return f"{qualified} (message withheld: it may quote the input)"


@contextmanager
def about_file(file: str, line: int | None = None, kind: str | None = None) -> Iterator[None]:
    """Anything raised in the block leaves as a ``CleanError`` naming ``file`` (and ``line``) and the problem
    kind; the original exception is dropped from the chain, its traceback (code locations only) kept."""
    try:
        yield
    except CleanError:
        raise
    except Exception as exc:
        where = f"{file} line {line}" if line is not None else file
        clean = CleanError(f"{where}: {describe(exc)}", file=file, line=line, kind=kind or type(exc).__name__)
        raise clean.with_traceback(exc.__traceback__) from None
