"""Realistic mess in an export: exact duplicate lines and malformed lines.

Malformed lines are *extra* lines (a retried write that was cut short, a proxy error page in the stream, ...):
the intact resource is still written, so references keep resolving; a reader must skip what it cannot parse.
Every variant below is invalid JSON, and all are ASCII (no invalid UTF-8 is injected).
"""

from __future__ import annotations

import random

_ERROR_PAGES = (
    b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>",
    b'{"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "timeout"',
    b"\x1b[0m",
)


def malformed_variant(line: bytes, rng: random.Random) -> bytes:
    """A broken line derived from a valid one-line JSON object ``line``."""
    kind = rng.random()
    if kind < 0.45:  # truncated write: a proper prefix of a JSON object never parses
        cut = rng.randint(1, max(1, len(line) - 2))
        while cut > 1 and (line[cut] & 0xC0) == 0x80:  # keep UTF-8 whole
            cut -= 1
        return line[:cut]
    if kind < 0.60:  # two writes glued on one line, the second cut short
        return line + line[: rng.randint(1, max(1, len(line) // 2))]
    if kind < 0.72:  # stray closing brace
        return line + b"}"
    if kind < 0.82:  # trailing comma before the closing brace
        return line[:-1] + b",}"
    if kind < 0.92:  # unquoted key
        return line.replace(b'"resourceType"', b"resourceType", 1)
    return _ERROR_PAGES[rng.randrange(len(_ERROR_PAGES))]


def add_mess(
    lines: list[bytes], rng: random.Random, duplicate_rate: float, malformed_rate: float
) -> tuple[list[bytes], int, int]:
    """Return ``lines`` with duplicates re-emitted at the end of the block and malformed lines injected.

    Returns (new lines, duplicates added, malformed lines added). With both rates 0 the input comes back as is.
    """
    if duplicate_rate <= 0.0 and malformed_rate <= 0.0:
        return lines, 0, 0
    out: list[bytes] = []
    dups: list[bytes] = []
    n_bad = 0
    for line in lines:
        out.append(line)
        if duplicate_rate > 0.0 and rng.random() < duplicate_rate:
            dups.append(line)
        if malformed_rate > 0.0 and rng.random() < malformed_rate:
            out.append(malformed_variant(line, rng))
            n_bad += 1
    out.extend(dups)
    return out, len(dups), n_bad
