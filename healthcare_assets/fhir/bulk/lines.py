"""Reading the small side files of an export (error and deleted-resource NDJSON) line by line, safely.

Those files come from the server as they are: plain or gzip, possibly with invalid UTF-8, binary junk or one
enormous line. Lines are yielded as bytes (the JSON decoder validates UTF-8), and a line longer than the limit
is skipped in bounded reads and yielded as None, so a hostile file can neither exhaust memory nor put its
content into an error message.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

MAX_LINE_BYTES = 1 << 20


def bounded_lines(path: Path, max_bytes: int = MAX_LINE_BYTES) -> Iterator[bytes | None]:
    """Non-blank lines of ``path`` as bytes; None for each line longer than ``max_bytes``."""
    with open(path, "rb") as probe:
        gzipped = probe.read(2) == b"\x1f\x8b"
    with gzip.open(path, "rb") if gzipped else open(path, "rb") as handle:
        while True:
            line = handle.readline(max_bytes)
            if not line:
                return
            if len(line) == max_bytes and not line.endswith(b"\n"):
                while (rest := handle.readline(max_bytes)) and not rest.endswith(b"\n"):
                    pass
                yield None
                continue
            if line.strip():
                yield line
