"""Deletions reported by incremental Bulk exports, applied to the de-identified zone as tombstones.

An incremental (``_since``) export lists the resources deleted since then as Bundles of ``DELETE`` entries
(``ndjson/deleted/`` in the batch). Each deleted ``Type/id`` of a type a de-identified table holds is
pseudonymized exactly as that resource's own key was (same codebook or HMAC key, in the same step), so its
tombstone matches its rows while the original id never leaves the PHI zone. The batch publishes its
tombstones in ``deidentified_tombstones`` (batch_id, resource_type, resource_key) in the same transaction as its
tables, and that transaction deletes the tombstoned resources' rows from every de-identified table of every
batch landed before it. When a batch is (re)published, the tombstones of batches landed after it are applied
to its rows too. A resource created again after its deletion arrives in a later batch, which no earlier
tombstone touches. Deletions of types no table holds are counted, not kept.

Readers downstream need do nothing: deleted resources are gone from the tables. ``deidentified_tombstones``
says what was deleted and when (by batch), for anything computed before the deletion batch landed.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from healthcare_assets.audit.canonical import sha256_file
from healthcare_assets.errors import CleanError
from healthcare_assets.fhir.bulk.lines import bounded_lines
from healthcare_assets.fhir.landing import LandedBatch
from healthcare_assets.fhir.views import ViewDefinition
from healthcare_assets.warehouse.duckdb_store import quote_ident as q
from healthcare_assets.warehouse.duckdb_store import sql_literal

TOMBSTONE_TABLE = "deidentified_tombstones"
TOMBSTONE_FILE = f"{TOMBSTONE_TABLE}.parquet"
DELETED_KEYS = "_deleted_keys"
# ``Type/id``, ``.../Type/id`` or ``.../Type/id/_history/n`` (the IG's DELETE entries give ``request.url``).
_URL = re.compile(r"(?:^|/)([A-Z][A-Za-z]{1,63})/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")


class TombstoneError(CleanError, RuntimeError):
    """The batch's deleted-resource files cannot be trusted; the message names the file, never its content."""


@dataclass
class Deletions:
    """What the batch's deleted-resource files hold, as counts (no ids)."""

    entries: int = 0  # DELETE entries read
    by_type: dict[str, int] = field(default_factory=dict)  # distinct deleted resources of de-identified types
    other_types: int = 0  # DELETE entries of types no de-identified table holds
    unusable: int = 0  # lines that are not a Bundle, entries that are not a DELETE of Type/id

    @property
    def tombstones(self) -> int:
        return sum(self.by_type.values())


@dataclass
class StagedTombstones:
    path: Path
    rows: int
    deletions: Deletions


def deleted_files(batch: LandedBatch) -> list[Path]:
    """The batch's deleted-resource files (listed by the Bulk source), checked against their recorded hash.

    Batches landed before deletions were applied list their files without a path; those are found by hash
    among the files in ``ndjson/deleted/``.
    """
    files = []
    by_hash: dict[str, Path] | None = None
    for entry in (batch.manifest.get("details") or {}).get("deleted_files") or []:
        relpath = entry.get("path")
        if not relpath:
            if by_hash is None:
                folder = batch.batch_dir / "ndjson" / "deleted"
                by_hash = {sha256_file(f): f for f in sorted(folder.glob("*.ndjson*"))} if folder.is_dir() else {}
            found = by_hash.get(entry.get("sha256") or "")
            if found is None:
                raise TombstoneError(
                    f"batch {batch.manifest.get('batch_id')}: a deleted-resource file it lists is missing"
                )
            files.append(found.resolve())
            continue
        path = (batch.batch_dir / relpath).resolve()
        if batch.batch_dir.resolve() not in path.parents or not path.is_file():
            raise TombstoneError(f"{relpath}: deleted-resource file missing from batch {batch.manifest['batch_id']}")
        if entry.get("sha256") and sha256_file(path) != entry["sha256"]:
            raise TombstoneError(f"{relpath}: deleted-resource file changed since it was landed (sha256 differs)")
        files.append(path)
    return files


def read_deletions(paths: Iterable[Path], resources: Iterable[str]) -> tuple[pa.Table, Deletions]:
    """(namespace, original) of every distinct deleted resource of the types in ``resources``, and counts."""
    wanted = set(resources)
    keys: set[tuple[str, str]] = set()
    counts = Deletions()
    for path in paths:
        try:
            for line in bounded_lines(path):
                for item in _deletes(line, counts):
                    if item[0] in wanted:
                        keys.add(item)
                    else:
                        counts.other_types += 1
        except (OSError, EOFError, zlib.error) as exc:
            raise TombstoneError(f"{path.name}: deleted-resource file is unreadable ({type(exc).__name__})") from None
    counts.by_type = dict(sorted(Counter(t for t, _ in keys).items()))
    ordered = sorted(keys)
    table = pa.table(
        {"namespace": [k[0] for k in ordered], "original": [k[1] for k in ordered]},
        schema=pa.schema([("namespace", pa.string()), ("original", pa.string())]),
    )
    return table, counts


def _deletes(line: bytes | None, counts: Deletions) -> list[tuple[str, str]]:
    if line is None:
        counts.unusable += 1
        return []
    try:
        bundle = orjson.loads(line)
    except orjson.JSONDecodeError:
        counts.unusable += 1
        return []
    entries = bundle.get("entry") if isinstance(bundle, dict) and bundle.get("resourceType") == "Bundle" else None
    if not isinstance(entries, list):
        counts.unusable += 1
        return []
    found = []
    for entry in entries:
        request = entry.get("request") if isinstance(entry, dict) else None
        url = request.get("url") if isinstance(request, dict) else None
        match = _URL.search(url) if isinstance(url, str) and len(url) < 4096 else None
        if not isinstance(request, dict) or request.get("method") != "DELETE" or match is None:
            counts.unusable += 1
            continue
        counts.entries += 1
        found.append((match.group(1), match.group(2)))
    return found


# -- the engine's hook: inside the de-identification step's DuckDB connection --------------------------------
def collect_deleted_keys(
    con: duckdb.DuckDBPyConnection, batch: LandedBatch, resources: Iterable[str], keys: str
) -> Deletions:
    """Load the batch's deletions as ``_deleted_keys`` and add them to the pseudonymizer's ``keys`` table, so
    the deleted ids get the surrogates their resources have (or will have) everywhere."""
    table, counts = read_deletions(deleted_files(batch), resources)
    con.register("_deleted_arrow", table)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {DELETED_KEYS} AS SELECT * FROM _deleted_arrow")
    finally:
        con.unregister("_deleted_arrow")
    con.execute(
        f"""INSERT INTO {q(keys)} SELECT namespace, original FROM {DELETED_KEYS} d
            WHERE NOT EXISTS (SELECT 1 FROM {q(keys)} k WHERE k.namespace = d.namespace AND k.original = d.original)"""
    )
    return counts


def stage_tombstones(
    con: duckdb.DuckDBPyConnection, mapping: str, batch_id: str, policy_version: str, staging: Path, counts: Deletions
) -> StagedTombstones:
    """Write the batch's tombstones (surrogates only) to ``staging`` for the scan and the publication."""
    target = staging / TOMBSTONE_FILE
    con.execute(
        f"""COPY (SELECT {sql_literal(batch_id)} AS batch_id, d.namespace AS resource_type, m.surrogate AS resource_key,
                         {sql_literal(policy_version)} AS deid_policy
                  FROM {DELETED_KEYS} d JOIN {q(mapping)} m USING (namespace, original)
                  ORDER BY resource_type, resource_key)
            TO {sql_literal(str(target))} (FORMAT parquet)"""
    )
    rows = con.execute(f"SELECT count(*) FROM read_parquet({sql_literal(str(target))})").fetchall()[0][0]
    if rows != counts.tombstones:
        raise TombstoneError(f"{rows} tombstones staged for {counts.tombstones} deleted resources; nothing published")
    return StagedTombstones(target, int(rows), counts)


# -- publication: inside the warehouse transaction that replaces the batch's partitions ----------------------
def key_columns(views: Mapping[str, ViewDefinition], tables: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """``{table: (resource type, column holding the resource's own key)}`` for ``tables`` (``{table: view}``)."""
    found = {}
    for table, view_name in tables.items():
        view = views[view_name]
        own = [c.name for c in view.columns if "getResourceKey()" in c.path.replace(" ", "")]
        if own:
            found[table] = (view.resource, own[0])
    return found


def apply_tombstones(
    con: duckdb.DuckDBPyConnection, batch_id: str, later_batches: Sequence[str], keys: Mapping[str, tuple[str, str]]
) -> dict[str, dict[str, int]]:
    """Delete tombstoned rows: this batch's tombstones from every other batch except later ones, and later
    batches' tombstones from this batch. Returns rows removed per table, in both directions."""
    removed: dict[str, dict[str, int]] = {}
    if not _exists(con, TOMBSTONE_TABLE):
        return removed
    later = list(later_batches)
    for table, (resource, column) in keys.items():
        if not _exists(con, table):
            continue
        earlier_rows = con.execute(
            f"""DELETE FROM {q(table)} WHERE batch_id <> ? AND NOT list_contains(?::VARCHAR[], batch_id)
                AND {q(column)} IN (SELECT resource_key FROM {TOMBSTONE_TABLE}
                                    WHERE batch_id = ? AND resource_type = ?)""",
            [batch_id, later, batch_id, resource],
        ).fetchall()[0][0]
        own_rows = 0
        if later:  # a batch republished after later batches deleted some of its resources
            own_rows = con.execute(
                f"""DELETE FROM {q(table)} WHERE batch_id = ?
                    AND {q(column)} IN (SELECT resource_key FROM {TOMBSTONE_TABLE}
                                        WHERE list_contains(?::VARCHAR[], batch_id) AND resource_type = ?)""",
                [batch_id, later, resource],
            ).fetchall()[0][0]
        removed[table] = {"earlier_batches": int(earlier_rows), "this_batch": int(own_rows)}
    return removed


def landing_order(batches_dir: Path) -> list[str]:
    """Landed batches, oldest first (by landing time, then transactionTime, then id)."""
    order: list[tuple[str, str, str]] = []
    for manifest_path in batches_dir.glob("*/manifest.json"):
        if manifest_path.parent.name.startswith("."):
            continue
        try:
            manifest: Any = orjson.loads(manifest_path.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            continue
        if isinstance(manifest, dict):
            order.append(
                (
                    str(manifest.get("landed_at") or ""),
                    str(manifest.get("transaction_time") or ""),
                    manifest_path.parent.name,
                )
            )
    return [batch for *_, batch in sorted(order)]


def later_batches(batches_dir: Path, batch_id: str) -> list[str]:
    order = landing_order(batches_dir)
    return order[order.index(batch_id) + 1 :] if batch_id in order else []


def _exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(
        con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [table]).fetchall()[0][0]
    )
