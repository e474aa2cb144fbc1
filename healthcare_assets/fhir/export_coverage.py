"""Incremental Bulk exports per resource type: what each landed export covered, and the next ``_since``.

An incremental export asks the server only for what changed since a time (``_since``). That time is right only
for the types the earlier export really brought: after a ``Patient``-only export, or one whose Encounter files
failed, asking for Encounters "since then" silently skips every Encounter written before. So each Bulk batch's
manifest records its coverage (``details.coverage``): for each type it requested, the server did not drop and
no error was reported for, the export's transactionTime with the ``_typeFilter`` queries and ``_elements``
that narrowed it. The next export's ``_since`` is, per requested type, the newest transactionTime of an earlier
export of the same server, level and group that covered the type at least as widely; for the request, the
earliest of those; and none at all (a full export) when a type was never covered. Batches landed before
coverage was recorded cover nothing, so the first export after an upgrade is a full one.

A default type the server does not list (dropped at kick-off, ``skipped_types`` in the newest export that asked
for it) is left out of the reckoning, or the default list would force full exports forever from a server
without, say, Procedures. Should the server start listing it, it is exported with the others' ``_since`` once,
and not recorded as covered (no earlier export covered it), so the export after that is a full one.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from healthcare_assets.fhir.bulk.request import BulkExportRequest, parse_instant

ALL_TYPES = "*"  # an export without _type: every type the server has
SERVER_KEYS = ("base_url", "level", "group_id")


@dataclass(frozen=True)
class SincePlan:
    """The ``_since`` of the next export and why: per requested type, when an export last covered it."""

    since: str | None
    last_covered: dict[str, str | None]
    reason: str
    unsupported: tuple[str, ...] = ()  # never covered, but dropped as unsupported by the newest export asking


def coverage_entries(
    request: BulkExportRequest,
    transaction_time: str | None,
    *,
    previous: Mapping[str, str | None],
    skipped_types: Collection[str] = (),
    failed_types: Collection[str] = (),
    incomplete: bool = False,
) -> list[dict[str, Any]]:
    """What a finished export covered, for its manifest. ``previous``: each type's last coverage before it.

    Nothing is covered when the export is ``incomplete`` (failures no type can be blamed for, or an empty
    full export) or narrowed to some patients. With a ``_since``, a type counts only if an earlier export
    covered it up to that time (an explicit ``_since`` after its last coverage leaves a gap).
    """
    if not transaction_time or incomplete or request.patients:
        return []
    entries = []
    for resource_type in request.types or (ALL_TYPES,):
        if resource_type in skipped_types or resource_type in failed_types:
            continue
        if resource_type == ALL_TYPES and failed_types:
            continue
        if request.since is not None:
            last = previous.get(resource_type)
            if last is None or _instant(last) < _instant(str(request.since)):
                continue
        entries.append(
            {
                "type": resource_type,
                "type_filters": _filters(request.type_filters, resource_type),
                "elements": sorted(request.elements),
                "transaction_time": transaction_time,
            }
        )
    return entries


def last_covered(batches_dir: Path, described: Mapping[str, Any], request: BulkExportRequest) -> dict[str, str | None]:
    """Per requested type (``*`` for all types), the newest transactionTime of an earlier export that covered it."""
    wanted = request.types or (ALL_TYPES,)
    newest: dict[str, str | None] = dict.fromkeys(wanted)
    for manifest in _same_server_manifests(batches_dir, described):
        entries = (manifest.get("details") or {}).get("coverage")
        for entry in entries if isinstance(entries, list) else []:
            if not _valid(entry):
                continue
            for resource_type in wanted:
                if _covers(entry, resource_type, request):
                    when = entry["transaction_time"]
                    current = newest[resource_type]
                    if current is None or _instant(when) > _instant(current):
                        newest[resource_type] = when
    return newest


def plan_since(batches_dir: Path, described: Mapping[str, Any], request: BulkExportRequest) -> SincePlan:
    """The ``_since`` for ``request`` (``--since auto``): the earliest of its types' last coverage, or none."""
    covered = last_covered(batches_dir, described, request)
    dropped = unsupported_types(batches_dir, described, [t for t, when in covered.items() if when is None])
    never = [t for t, when in covered.items() if when is None and t not in dropped]
    known = [when for when in covered.values() if when]
    if never or not known:
        if len(never) == len(covered) or not known:
            reason = "full export: no earlier export of this server covered the requested types"
        else:
            reason = f"full export: never exported from this server before: {', '.join(never)}"
        return SincePlan(None, covered, reason, tuple(dropped))
    since = min(known, key=_instant)
    reason = "incremental: since the earliest of the requested types' last exports"
    if dropped:
        reason += f" (not supported by the server: {', '.join(dropped)})"
    return SincePlan(since, covered, reason, tuple(dropped))


def unsupported_types(batches_dir: Path, described: Mapping[str, Any], types: Collection[str]) -> list[str]:
    """Of ``types``, those the newest export of this server that asked for them dropped as unsupported."""
    newest: dict[str, tuple[datetime, bool]] = {}
    for manifest in _same_server_manifests(batches_dir, described):
        asked = (manifest.get("source") or {}).get("types") or []
        skipped = (manifest.get("details") or {}).get("skipped_types") or []
        try:
            when = _instant(manifest.get("transaction_time"))
        except (TypeError, ValueError):
            continue
        for resource_type in types:
            if resource_type in asked and (resource_type not in newest or when > newest[resource_type][0]):
                newest[resource_type] = (when, resource_type in skipped)
    return [t for t in types if t in newest and newest[t][1]]


def _filters(type_filters: Collection[str], resource_type: str) -> list[str]:
    if resource_type == ALL_TYPES:
        return sorted(type_filters)
    return sorted(q for q in type_filters if q.split("?", 1)[0] == resource_type)


def _covers(entry: Mapping[str, Any], resource_type: str, request: BulkExportRequest) -> bool:
    """Whether an earlier export's entry covered ``resource_type`` at least as widely as ``request`` asks."""
    if entry["type"] != resource_type and entry["type"] != ALL_TYPES:
        return False
    earlier_filters = _filters(entry["type_filters"], resource_type)
    if earlier_filters and earlier_filters != _filters(request.type_filters, resource_type):
        return False
    return not entry["elements"] or entry["elements"] == sorted(request.elements)


def _valid(entry: Any) -> bool:
    if not isinstance(entry, dict) or not isinstance(entry.get("type"), str):
        return False
    if not all(isinstance(entry.get(k), list) for k in ("type_filters", "elements")):
        return False
    try:
        _instant(entry.get("transaction_time"))
    except (TypeError, ValueError):
        return False
    return True


def _instant(text: Any) -> datetime:
    if not isinstance(text, str):
        raise TypeError("not an instant")
    return parse_instant(text.replace("Z", "+00:00"))


def _same_server_manifests(batches_dir: Path, described: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    if not batches_dir.is_dir():
        return
    for manifest_path in sorted(batches_dir.glob("*/manifest.json")):
        try:
            manifest = orjson.loads(manifest_path.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            continue
        source = manifest.get("source") if isinstance(manifest, dict) else None
        if isinstance(source, dict) and source.get("kind") == "bulk":
            if all(source.get(k) == described.get(k) for k in SERVER_KEYS):
                yield manifest
