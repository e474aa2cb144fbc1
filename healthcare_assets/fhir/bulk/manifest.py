"""The completion manifest: parsing, following ``link: next`` pages, and planning local file names.

Servers may list several files per type (and page the manifest itself), so each file gets a deterministic
local name from its position in the merged manifest: ``<Type>.ndjson`` when the type has one file, else
``<Type>.001.ndjson``, ``<Type>.002.ndjson`` … in manifest order (the naming the landing code uses). Error
files (OperationOutcome) go to ``errors/`` and deleted-resource Bundles to ``deleted/``. Types are checked
against a strict pattern before they become part of a path, so a hostile manifest cannot escape the folder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

from healthcare_assets.fhir.bulk.errors import BulkExportError
from healthcare_assets.fhir.bulk.request import check_secure_url

_TYPE = re.compile(r"^[A-Z][A-Za-z]{1,63}$")
KINDS = ("output", "error", "deleted")
SUBDIRS = {"output": "", "error": "errors/", "deleted": "deleted/"}


class ManifestError(BulkExportError, ValueError):
    """The status endpoint's 200 body is not a usable Bulk Data manifest."""


@dataclass(frozen=True)
class ManifestPage:
    transaction_time: str
    request: str
    requires_access_token: bool
    files: dict[str, list[dict[str, Any]]]
    next_url: str | None


def parse_page(payload: Any, page_url: str) -> ManifestPage:
    """One manifest page; relative file URLs are resolved against the page URL."""
    if not isinstance(payload, dict):
        raise ManifestError(f"manifest at {page_url} is not a JSON object")
    transaction_time = payload.get("transactionTime")
    if not isinstance(transaction_time, str) or not transaction_time:
        raise ManifestError(f"manifest at {page_url} has no transactionTime")
    files: dict[str, list[dict[str, Any]]] = {}
    for kind in KINDS:
        entries = payload.get(kind) or []
        if not isinstance(entries, list):
            raise ManifestError(f"manifest '{kind}' is not a list")
        parsed = []
        for entry in entries:
            if not isinstance(entry, dict) or not isinstance(entry.get("url"), str):
                raise ManifestError(f"manifest '{kind}' entry without a url: {entry!r:.200}")
            count = entry.get("count")
            if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 0):
                raise ManifestError(f"manifest '{kind}' entry has an invalid count {count!r}")
            try:
                url = check_secure_url(urljoin(page_url, entry["url"]), f"manifest '{kind}' file URL")
            except ValueError as exc:
                raise ManifestError(str(exc)) from None
            parsed.append({"type": str(entry.get("type") or ""), "url": url, "count": count})
        files[kind] = parsed
    next_url = None
    for link in payload.get("link") or []:
        if isinstance(link, dict) and link.get("relation") == "next" and isinstance(link.get("url"), str):
            try:
                next_url = check_secure_url(urljoin(page_url, link["url"]), "manifest next link")
            except ValueError as exc:
                raise ManifestError(str(exc)) from None
    return ManifestPage(
        transaction_time=transaction_time,
        request=str(payload.get("request") or ""),
        requires_access_token=bool(payload.get("requiresAccessToken", False)),
        files=files,
        next_url=next_url,
    )


def merge_pages(pages: list[ManifestPage]) -> dict[str, Any]:
    """All pages as one manifest dict (the form kept in the state file)."""
    first = pages[0]
    merged: dict[str, Any] = {
        "transactionTime": first.transaction_time,
        "request": first.request,
        "requiresAccessToken": any(p.requires_access_token for p in pages),
        "pages": len(pages),
    }
    for kind in KINDS:
        merged[kind] = [entry for page in pages for entry in page.files[kind]]
    return merged


@dataclass(frozen=True)
class PlannedFile:
    """One file to download and where it goes, relative to the destination folder."""

    key: str  # stable identity in the state file: "<kind>:<position>"
    kind: str  # output | error | deleted
    type: str
    url: str
    count: int | None
    relpath: str


def plan_files(manifest: dict[str, Any], suffix: str = ".ndjson") -> list[PlannedFile]:
    """Local names for every file of a merged manifest, deterministic in manifest order."""
    planned: list[PlannedFile] = []
    for kind in KINDS:
        entries = manifest.get(kind) or []
        default = {"output": "Unknown", "error": "OperationOutcome", "deleted": "Bundle"}[kind]
        types = [e["type"] if _TYPE.match(e.get("type") or "") else default for e in entries]
        totals = {t: types.count(t) for t in set(types)}
        seen: dict[str, int] = {}
        for position, (entry, resource_type) in enumerate(zip(entries, types, strict=True)):
            seen[resource_type] = seen.get(resource_type, 0) + 1
            stem = resource_type if totals[resource_type] == 1 else f"{resource_type}.{seen[resource_type]:03d}"
            planned.append(
                PlannedFile(
                    key=f"{kind}:{position}",
                    kind=kind,
                    type=resource_type,
                    url=entry["url"],
                    count=entry.get("count"),
                    relpath=f"{SUBDIRS[kind]}{stem}{suffix}",
                )
            )
    return planned
