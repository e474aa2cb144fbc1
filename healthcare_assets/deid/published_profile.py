"""What the profile of a batch may publish outside the PHI zone (warehouse ``fhir_profile_*`` tables, asset and
check metadata, the audit ledger): aggregates whose every string is on an allow-list or a replacement.

The profile itself (``profile.json``, in the PHI zone) keeps what it read. Published copies replace a resource
type that is not a FHIR R4 resource by ``unknown-type-<n>``, an element name that the type does not define by
``unknown-element-<n>``, and a code-system URI outside the known terminologies by ``local-system-<n>``, each with
its count (``<n>`` numbered per batch by count); years that would reveal an age over 89 become ``<=YYYY``. The
failure messages of the structural check get the same replacements. Then every published string is scanned
with the residual-PHI scan's dictionary (the batch's person resources) and patterns; a finding stops the step
before anything is published (``ProfilePublicationError``, counts and places only).
"""

from __future__ import annotations

import hashlib
import re
import shutil
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from healthcare_assets.deid.code_systems import KNOWN_SYSTEM_URIS
from healthcare_assets.deid.inventory import build_inventory
from healthcare_assets.deid.policy import AGE_CAP
from healthcare_assets.deid.scan import load_terms, match_values
from healthcare_assets.fhir.landing import LandedBatch
from healthcare_assets.fhir.profile import ProfileResult
from healthcare_assets.fhir.views.fhir_model import r4_model
from healthcare_assets.warehouse.duckdb_store import quiet

# Keys every resource may carry besides its elements.
_BASE_KEYS = frozenset({"resourceType", "id", "meta", "implicitRules", "language", "text", "contained", "extension",
                        "modifierExtension", "fhir_comments"})  # fmt: skip
_NO_EMPTY = {"target_type": "(any)"}
WORK_DIR = ".publish-work"


class ProfilePublicationError(RuntimeError):
    """A string of the published profile matched the PHI dictionary or a pattern; nothing was published."""


@dataclass
class PublishedProfile:
    types: list[dict[str, Any]]
    elements: list[dict[str, Any]]
    code_systems: list[dict[str, Any]]
    references: list[dict[str, Any]]
    time_ranges: list[dict[str, Any]]
    duplicates: dict[str, int]
    failures: list[str]
    replaced: dict[str, int] = field(default_factory=dict)  # kind -> distinct strings replaced
    strings_scanned: int = 0


def is_resource_type(name: str | None) -> bool:
    return bool(name) and r4_model().is_resource(name)


def is_element(resource_type: str, key: str) -> bool:
    if key in _BASE_KEYS:
        return True
    name = key[1:] if key.startswith("_") else key  # _birthDate: a primitive's id/extensions
    return is_resource_type(resource_type) and r4_model().element(resource_type, name) is not None


class _Numbering:
    """``<prefix>-<n>`` for the strings of one kind, numbered by descending count (then by hash)."""

    def __init__(self, prefix: str, counts: dict[str, int]):
        ordered = sorted(counts, key=lambda s: (-counts[s], hashlib.sha256(s.encode()).hexdigest()))
        self.names = {s: f"{prefix}-{i}" for i, s in enumerate(ordered, start=1)}

    def __call__(self, value: str) -> str:
        return self.names.get(value, value)


def publish_profile(result: ProfileResult, reference_year: int) -> PublishedProfile:
    """The published copy of ``result``: allow-listed strings or replacements (no scan yet, see ``check``)."""
    type_counts: dict[str, int] = defaultdict(int)
    names = {t.resource_type for t in result.types}
    names |= {r["resource_type"] for r in result.element_presence + result.code_systems + result.time_ranges}
    names |= {r["source_type"] for r in result.references} | {r["target_type"] for r in result.references}
    for name in names:
        if name not in _NO_EMPTY.values() and not is_resource_type(name):
            type_counts[name] += sum(t.lines for t in result.types if t.resource_type == name) or 1
    types = _Numbering("unknown-type", type_counts)
    unknown_elements: dict[str, int] = defaultdict(int)
    for row in result.element_presence:
        if not is_element(row["resource_type"], row["element"]):
            unknown_elements[row["element"]] += int(row["present"])
    elements = _Numbering("unknown-element", unknown_elements)
    unknown_systems: dict[str, int] = defaultdict(int)
    for row in result.code_systems:
        if row["system"] not in KNOWN_SYSTEM_URIS:
            unknown_systems[row["system"]] += int(row["occurrences"])
    systems = _Numbering("local-system", unknown_systems)

    cutoff = reference_year - AGE_CAP
    published = PublishedProfile(
        types=[{**_fields(t), "resource_type": types(t.resource_type)} for t in result.types],
        elements=_merge(
            [{**r, "resource_type": types(r["resource_type"]), "element": elements(r["element"])}
             for r in result.element_presence],
            ("resource_type", "element"), ("rate",),
        ),
        code_systems=_merge(
            [{**r, "resource_type": types(r["resource_type"]), "system": systems(r["system"])}
             for r in result.code_systems],
            ("resource_type", "system"),
        ),
        references=_merge(
            [{**r, "source_type": types(r["source_type"]), "target_type": types(r["target_type"])}
             for r in result.references],
            ("source_type", "target_type"),
        ),
        time_ranges=[
            {
                "resource_type": types(r["resource_type"]),
                "element": r["element"],
                "present": r["present"],
                "min_year": _year(r["min_year"], cutoff),
                "max_year": _year(r["max_year"], cutoff),
            }
            for r in result.time_ranges
        ],
        duplicates={types(k): v for k, v in result.duplicates.items()},
        failures=[_substitute(f, {**types.names}) for f in result.failures],
        replaced={
            "resource_types": len(types.names),
            "elements": len(elements.names),
            "code_systems": len(systems.names),
        },
    )  # fmt: skip
    return published


WITHHELD = "structural check failed; the details are withheld here (see profile.json in the PHI zone)"


def check(published: PublishedProfile, batch: LandedBatch, threads: int = 2) -> None:
    """Scan every published string against the batch's PHI dictionary and the patterns. A failure message with a
    finding is replaced by ``WITHHELD``; a finding anywhere else raises ``ProfilePublicationError``."""
    rows: list[tuple[str, str, bool]] = []  # (where, value, allow-listed)
    for row in published.types:
        rows.append(("types.resource_type", row["resource_type"], True))
    for row in published.elements:
        rows.append(("elements.element", row["element"], True))
    for row in published.code_systems:
        rows.append(("code_systems.system", row["system"], True))
    for row in published.references:
        rows += [
            ("references.source_type", row["source_type"], True),
            ("references.target_type", row["target_type"], True),
        ]
    for row in published.time_ranges:
        rows += [
            ("time_ranges.min_year", str(row["min_year"]), False),
            ("time_ranges.max_year", str(row["max_year"]), False),
        ]
    rows += [(f"failures[{i}]", f, False) for i, f in enumerate(published.failures)]
    published.strings_scanned = len(rows)
    work = batch.batch_dir / WORK_DIR
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(mode=0o700)
    con = quiet(duckdb.connect(":memory:"))
    try:
        con.execute(f"SET threads = {int(threads)}")
        con.execute("SET temp_directory = ?", [str(work / "spill")])
        inventory = build_inventory(
            con, batch, "SELECT NULL::VARCHAR AS rtype, NULL::VARCHAR AS kind, NULL::VARCHAR AS term LIMIT 0", work
        )
        load_terms(con, inventory)
        values = [v.strip().lower() for _, v, _ in rows]
        con.register("_pub", pa.table({"col": [w for w, _, _ in rows], "v": values}))
        con.execute("CREATE TEMP TABLE _pub_values AS SELECT * FROM _pub")
        # Allow-listed strings (FHIR names, known URIs, replacements) are vocabulary there: patterns only.
        con.register(
            "_pub_ok",
            pa.table(
                {
                    "col": [w for w, _, ok in rows if ok],
                    "v": [v for (_, _, ok), v in zip(rows, values, strict=True) if ok],
                }
            ),
        )
        con.execute("CREATE TEMP TABLE _pub_permitted AS SELECT * FROM _pub_ok")
        uris = frozenset(u.lower() for u in KNOWN_SYSTEM_URIS)
        hits = match_values(con, "_pub_values", "_pub_permitted", set(), uris)
        findings = con.execute(f"SELECT col, detector, count(*) FROM {hits} GROUP BY ALL ORDER BY ALL").fetchall()
    finally:
        con.close()
        shutil.rmtree(work, ignore_errors=True)
    for col, _, _ in findings:
        if col.startswith("failures["):
            published.failures[int(col[len("failures[") : -1])] = WITHHELD
    findings = [f for f in findings if not f[0].startswith("failures[")]
    if findings:
        where = "; ".join(f"{col}: {detector} ({n})" for col, detector, n in findings)
        raise ProfilePublicationError(
            f"the published profile of batch {published_batch(batch)} would carry PHI ({where}); nothing published"
        )


def published_batch(batch: LandedBatch) -> str:
    return str(batch.manifest.get("batch_id", "?"))


def _fields(obj: Any) -> dict[str, Any]:
    return dict(obj.__dict__)


def _merge(rows: list[dict[str, Any]], keys: tuple[str, ...], maxes: tuple[str, ...] = ()):
    """Rows that became equal after replacement (two unknown types under one name never do; defensive): their
    counts are added up (rates take the larger)."""
    merged: dict[tuple, dict[str, Any]] = {}
    for row in rows:
        key = tuple(row[k] for k in keys)
        if key not in merged:
            merged[key] = dict(row)
            continue
        for name, value in row.items():
            if name in maxes:
                merged[key][name] = max(merged[key][name], value)
            elif name not in keys and isinstance(value, int | float) and not isinstance(value, bool):
                merged[key][name] += value
    return list(merged.values())


def _year(year: str | None, cutoff: int) -> str | None:
    if year is None or not str(year).isdigit():
        return None if year is None else "?"
    return f"<={cutoff}" if int(year) <= cutoff else str(year)


def _substitute(text: str, replacements: dict[str, str]) -> str:
    """Replace each raw string by its placeholder where it stands as a word (longest first)."""
    for raw in sorted(replacements, key=len, reverse=True):
        text = re.sub(rf"(?<![A-Za-z0-9]){re.escape(raw)}(?![A-Za-z0-9])", replacements[raw], text)
    return text
