"""Whether a landed Bulk export is whole: complete, partial (the server reported failures) or suspiciously empty.

A partial export lands what was generated; whether it may go downstream is the pipeline's policy. A full
(non-incremental) export that brought nothing at all is almost always a mistake -- some servers answer a
mistyped group id with 202 and an empty manifest -- so it is reported with the level and group to check. An
incremental export may legitimately bring nothing new.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

COMPLETE, PARTIAL, EMPTY, NOT_BULK = "complete", "partial", "empty", "not_bulk"


@dataclass(frozen=True)
class ExportVerdict:
    status: str  # complete | partial | empty | not_bulk
    message: str


def judge_export(manifest: dict[str, Any]) -> ExportVerdict:
    source = manifest.get("source") or {}
    if source.get("kind") != "bulk":
        return ExportVerdict(NOT_BULK, f"not a Bulk export (source {source.get('kind')})")
    details = manifest.get("details") or {}
    lines = (manifest.get("totals") or {}).get("lines", 0)
    deleted = sum(int(f.get("lines") or 0) for f in details.get("deleted_files") or [])
    scope = _scope(source)
    if details.get("partial"):
        parts = [f"{i['severity']}/{i['code']} {i['type']}: {i['count']}" for i in details.get("error_issues") or []]
        if details.get("unreadable_error_lines"):
            parts.append(f"unreadable error lines: {details['unreadable_error_lines']}")
        issues = "; ".join(parts)
        landed = ", ".join(f"{t} {n}" for t, n in sorted((details.get("lines_by_type") or {}).items())) or "nothing"
        return ExportVerdict(
            PARTIAL,
            f"partial export: {scope} reported failures ({issues}); landed what was generated ({landed})",
        )
    if lines == 0 and not source.get("since"):
        types = ", ".join(source.get("types") or []) or "all types"
        hint = (
            "check the group id and that the group has members"
            if source.get("level") == "group"
            else ("check the server holds data and the client may read it")
        )
        return ExportVerdict(EMPTY, f"{scope} returned no resources ({types}) although it was a full export: {hint}")
    if lines == 0:
        return ExportVerdict(
            COMPLETE, f"incremental export: nothing changed since {source.get('since')} ({deleted} deletions)"
        )
    return ExportVerdict(COMPLETE, f"complete: {lines} resources, {deleted} deletions")


def _scope(source: dict[str, Any]) -> str:
    level = source.get("level") or "system"
    where = source.get("base_url") or "the server"
    if level == "group":
        return f"the group-level export of Group/{source.get('group_id')} from {where}"
    return f"the {level}-level export from {where}"
