"""One patient's FHIR R4 Bundle to one feature row, in memory, by the same code as training.

The Bundle never touches disk and its PHI never leaves this module: the resources go into an in-memory DuckDB
connection, through the project's own ViewDefinitions (``fhir/views``) and de-identification policy
(``deid/policy``, ``deid/engine.table_select``: pseudonyms, patient timeline with relative hours, ages capped at
90), into tables shaped like the warehouse's ``deidentified_*`` tables; ``features.build.build_features`` then
computes the cohort and the feature matrix with the very SQL the training set came from. The pseudonym key and
the date shift are random per request (nothing links two requests), and the connection is closed before the
answer leaves.

Differences from the batch pipeline, on purpose: no residual-PHI scan and no Parquet staging (nothing is stored);
coded values outside their column's domain are not replaced by ``local-code-<n>`` (a per-batch decision with a
k-anonymity threshold over many patients; with one patient they stay as sent, and no feature codeset matches a
local code either way). Errors name the resource type, entry index and field, never a value.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import duckdb
import orjson

from healthcare_assets.deid.engine import _collect_keys, _timeline, merged_read_columns, table_select
from healthcare_assets.deid.policy import Policy, build_policy
from healthcare_assets.deid.pseudonyms import CodebookPseudonymizer
from healthcare_assets.deid.validation import Validation
from healthcare_assets.errors import CleanError
from healthcare_assets.features.build import MATRIX_TABLE, build_features
from healthcare_assets.features.spec import FeatureSpec
from healthcare_assets.fhir.views import TableSource, ViewDefinition, catalog, compile_view
from healthcare_assets.warehouse.duckdb_store import quote_ident as q
from healthcare_assets.warehouse.duckdb_store import sql_literal

BATCH_ID = "serving-request"
MAX_ENTRIES = 20_000


class BundleError(CleanError, ValueError):
    """The Bundle cannot be turned into features; the message names the entry or field, never a value."""


@dataclass(frozen=True)
class BundleFeatures:
    values: dict[str, float | None]  # feature -> value (None = missing), in the model's order
    index_stays: int  # index stays the Bundle holds (after cohort exclusions)
    chosen_by: str  # "requested encounter" or "latest finished inpatient stay"
    resources: dict[str, int]  # resource type -> resources used


@lru_cache(maxsize=1)
def _views_and_policy() -> tuple[dict[str, ViewDefinition], Policy]:
    views = catalog.project_views()
    return views, build_policy(views)


class _MemoryCodebook:
    """The codebook's two tables in an in-memory database attached as ``cb`` (same interface as
    ``deid.pseudonyms.Codebook``): the engine's timeline and pseudonym code run unchanged and nothing persists."""

    def attached(self, con: duckdb.DuckDBPyConnection):
        return _attach_memory(con)


@contextmanager
def _attach_memory(con: duckdb.DuckDBPyConnection) -> Iterator[str]:
    present = con.execute("SELECT count(*) FROM duckdb_databases() WHERE database_name = 'cb'").fetchall()[0][0]
    if not present:
        con.execute("ATTACH ':memory:' AS cb")
        con.execute(
            """CREATE TABLE cb.pseudonyms (namespace VARCHAR NOT NULL, original VARCHAR NOT NULL,
               surrogate VARCHAR NOT NULL, first_batch VARCHAR)"""
        )
        con.execute(
            """CREATE TABLE cb.patient_timeline (patient VARCHAR PRIMARY KEY, anchor TIMESTAMPTZ,
               shift_days INTEGER NOT NULL, first_batch VARCHAR)"""
        )
    yield "cb"


def parse_bundle(body: bytes | Mapping[str, Any]) -> list[dict[str, Any]]:
    """The Bundle's resources, checked for shape: one Patient, every resource with a type and an id."""
    if isinstance(body, (bytes, bytearray)):
        try:
            bundle = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise BundleError("the request body is not valid JSON") from None
    else:
        bundle = body
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise BundleError("resourceType: the body must be a FHIR Bundle")
    entries = bundle.get("entry")
    if not isinstance(entries, list) or not entries:
        raise BundleError("entry: the Bundle has no entries")
    if len(entries) > MAX_ENTRIES:
        raise BundleError(f"entry: {len(entries)} entries, at most {MAX_ENTRIES} are accepted")
    resources = []
    for index, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            raise BundleError(f"entry[{index}].resource: missing or not an object")
        rtype = resource.get("resourceType")
        if not isinstance(rtype, str) or not rtype:
            raise BundleError(f"entry[{index}].resource.resourceType: missing")
        if not isinstance(resource.get("id"), str) or not resource["id"]:
            raise BundleError(f"entry[{index}].resource.id: missing ({rtype} needs an id)")
        resources.append(resource)
    patients = sum(1 for r in resources if r["resourceType"] == "Patient")
    if patients != 1:
        raise BundleError(f"entry: the Bundle must hold exactly one Patient resource, it holds {patients}")
    return resources


def bundle_features(
    resources: Sequence[Mapping[str, Any]],
    features: Sequence[str],
    encounter_id: str | None = None,
    spec: FeatureSpec | None = None,
    now: datetime | None = None,
) -> BundleFeatures:
    """The feature row of the requested index encounter (its original id), else of the latest finished inpatient
    stay. Raises ``BundleError`` when the Bundle holds no eligible stay."""
    views, policy = _views_and_policy()
    by_type: dict[str, list[Mapping[str, Any]]] = {}
    for resource in resources:
        by_type.setdefault(resource["resourceType"], []).append(resource)
    con = duckdb.connect(":memory:")
    try:
        con.execute("SET threads = 1")
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET preserve_insertion_order = true")
        # An in-memory database spills to ./.tmp by default: outside the PHI zone. No spilling at all (a Bundle is
        # bounded by the request size limit; a query that would need to spill fails instead).
        con.execute("SET temp_directory = ''")
        used = _flatten(con, views, policy, by_type)
        _collect_keys(con, policy)
        # Random surrogates and shifts (the engine's own code) in a codebook that dies with the connection:
        # nothing links two requests, and no original id or date leaves it.
        codebook = _MemoryCodebook()
        mapping = CodebookPseudonymizer(codebook).map_keys(con, "_keys", BATCH_ID)  # type: ignore[arg-type]
        _timeline(con, policy, codebook, BATCH_ID, now or datetime.now(UTC))  # type: ignore[arg-type]
        for table in policy.tables:
            query, _ = table_select(table, mapping, policy, BATCH_ID, Validation())
            con.execute(f"CREATE TABLE {q(table.table)} AS {query}")
        build_features(con, spec)
        return _choose(con, mapping, features, encounter_id, used)
    except duckdb.Error as exc:
        # DuckDB messages can quote values (conversion errors): report the kind only.
        raise BundleError(f"the Bundle could not be processed ({type(exc).__name__})") from None
    finally:
        con.close()


def _flatten(
    con: duckdb.DuckDBPyConnection,
    views: dict[str, ViewDefinition],
    policy: Policy,
    by_type: Mapping[str, list[Mapping[str, Any]]],
) -> dict[str, int]:
    """``_flat_<view>`` for every view, over the Bundle's resources of its type read with the engine's schema."""
    tables_by_resource: dict[str, list] = {}
    for table in policy.tables:
        tables_by_resource.setdefault(table.resource, []).append(table)
    used = {}
    for resource, tables in tables_by_resource.items():
        columns = merged_read_columns([views[t.view] for t in tables])
        columns.setdefault("resourceType", "VARCHAR")
        columns.setdefault("id", "VARCHAR")
        items = by_type.get(resource, [])
        used[resource] = len(items)
        accepted = f"_acc_{resource}"
        # One statement per type (a list parameter), not a row insert per resource.
        texts = [orjson.dumps(r).decode("utf-8") for r in items]
        con.execute("CREATE OR REPLACE TEMP TABLE _json AS SELECT unnest(?::VARCHAR[])::JSON AS j", [texts])
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {q(accepted)} AS "
            f"SELECT unnest(json_transform(j, {sql_literal(_duck_schema(columns))})) FROM _json"
        )
        for table in tables:
            sql = compile_view(views[table.view], TableSource(accepted, json_column=None))
            con.execute(f"CREATE OR REPLACE TEMP TABLE {q('_flat_' + table.view)} AS {sql}")
        con.execute(f"DROP TABLE {q(accepted)}")
    return used


def _duck_schema(columns: Mapping[str, str]) -> str:
    """A ``json_transform`` structure from the engine's read schema (``{name: DuckDB type}``)."""
    return orjson.dumps({name: kind for name, kind in columns.items()}).decode("utf-8")


def _choose(
    con: duckdb.DuckDBPyConnection,
    mapping: str,
    features: Sequence[str],
    encounter_id: str | None,
    used: dict[str, int],
) -> BundleFeatures:
    available = {row[0] for row in con.execute(f"DESCRIBE {MATRIX_TABLE}").fetchall()}
    missing = [name for name in features if name not in available]
    if missing:
        raise BundleError(
            f"the model expects features the feature code does not produce ({', '.join(missing[:5])}): the model "
            "was trained with another feature spec"
        )
    stays = con.execute(f"SELECT count(*) FROM {MATRIX_TABLE}").fetchall()[0][0]
    selected = ", ".join(q(name) for name in features)
    if encounter_id is not None:
        rows = con.execute(
            f"""SELECT {selected} FROM {MATRIX_TABLE} m JOIN {mapping} p
                ON p.namespace = 'Encounter' AND p.original = ? AND p.surrogate = m.stay_id""",
            [encounter_id],
        ).fetchall()
        if not rows:
            raise BundleError(
                "index_encounter: the named encounter is not the discharge encounter of an eligible, finished "
                f"inpatient stay in this Bundle ({stays} eligible stay(s))"
            )
        chosen_by = "requested encounter"
    else:
        rows = con.execute(f"SELECT {selected} FROM {MATRIX_TABLE} ORDER BY index_offset_h DESC LIMIT 1").fetchall()
        if not rows:
            raise BundleError(
                "entry: the Bundle holds no finished inpatient stay of an adult that the cohort admits "
                "(see the cohort definition in the model card)"
            )
        chosen_by = "latest finished inpatient stay"
    values = {name: (None if v is None else float(v)) for name, v in zip(features, rows[0], strict=True)}
    return BundleFeatures(values, int(stays), chosen_by, {k: v for k, v in used.items() if v})
