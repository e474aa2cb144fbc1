"""Small helpers that turn domain results into Dagster UI metadata."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from dagster import MetadataValue


def md_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], limit: int = 200) -> MetadataValue:
    """A Markdown table (the UI renders it), truncated to ``limit`` rows with a note."""
    rows = list(rows)
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in rows[:limit]:
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    if len(rows) > limit:
        lines.append(f"\n_{len(rows) - limit} more rows not shown_")
    return MetadataValue.md("\n".join(lines))


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|")
