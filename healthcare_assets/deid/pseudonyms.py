"""Surrogates for resource ids and references that keep linkage across types and export batches.

Default (``codebook``): each (namespace, original id) gets a random 128-bit surrogate, not derived from the
identifier (45 CFR 164.514(c)), stored in a codebook in the PHI zone and reused by every later batch.
Alternative (``hmac``): HMAC-SHA256 of the id under a secret key from the environment, computed inside DuckDB;
nothing is stored, and the same key gives the same surrogate everywhere. Neither the codebook nor the key
leaves the PHI zone or appears in a log or repr.

The same codebook holds each patient's time anchor and date shift (see ``timeline``).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import duckdb
import numpy as np
import pyarrow as pa

from healthcare_assets.config import private_file
from healthcare_assets.errors import ConfigError
from healthcare_assets.warehouse import SharedDuckDB
from healthcare_assets.warehouse.duckdb_store import transaction

KEY_ENV = "HEALTHCARE_ASSETS_PSEUDONYM_KEY"
MIN_KEY_BYTES = 32
CODEBOOK_FILE = "codebook.duckdb"
SURROGATE_BYTES = 16  # 128 bits: collisions are negligible (p < 1e-20 for 10^9 ids)
_BLOCK = 64  # SHA-256 block size, for HMAC


class Pseudonymizer(Protocol):
    mode: str

    def map_keys(self, con: duckdb.DuckDBPyConnection, keys_table: str, batch_id: str) -> str:
        """Given a table ``keys_table(namespace, original)`` of distinct keys, create and return the name of a
        temp table ``(namespace, original, surrogate)`` covering every key."""
        ...


def random_surrogates(count: int) -> pa.Array:
    """``count`` hex strings from the operating system's CSPRNG, built without a Python object per string."""
    width = 2 * SURROGATE_BYTES
    data = pa.py_buffer(os.urandom(SURROGATE_BYTES * count).hex().encode("ascii"))
    if width * (count + 1) < 2**31:
        offsets = pa.py_buffer(np.arange(0, width * (count + 1), width, dtype=np.int32).tobytes())
        return pa.StringArray.from_buffers(count, offsets, data)
    offsets = pa.py_buffer(np.arange(0, width * (count + 1), width, dtype=np.int64).tobytes())
    return pa.LargeStringArray.from_buffers(count, offsets, data)


def insert_with_fresh_values(
    con: duckdb.DuckDBPyConnection, values: pa.Array, insert_sql: str, params: list | None = None
) -> None:
    """Run ``insert_sql`` with ``_fresh(n, value)`` available: one freshly drawn value per new row, joined on the
    new rows' 1-based number ``n`` (the random values are drawn in Python; the rows never leave DuckDB)."""
    fresh = pa.table({"n": pa.array(range(1, len(values) + 1), pa.int64()), "value": values})
    con.register("_fresh", fresh)
    try:
        con.execute(insert_sql, params or [])
    finally:
        con.unregister("_fresh")


class Codebook:
    """The PHI-zone DuckDB file with the pseudonym table and the per-patient timeline table."""

    def __init__(self, path: Path, lock_timeout_s: float = 600.0):
        self.store = SharedDuckDB(path, lock_timeout_s=lock_timeout_s)

    @property
    def path(self) -> Path:
        return self.store.path

    def attached(self, con: duckdb.DuckDBPyConnection):
        """The codebook attached to ``con`` as ``cb`` (exclusive lock held), with its tables created."""
        return _AttachedCodebook(self, con)


class _AttachedCodebook:
    def __init__(self, codebook: Codebook, con: duckdb.DuckDBPyConnection):
        self.codebook, self.con = codebook, con
        self._ctx = None

    def __enter__(self) -> str:
        self._ctx = self.codebook.store.attached(self.con, "cb")
        alias = self._ctx.__enter__()
        self.con.execute(
            """CREATE TABLE IF NOT EXISTS cb.pseudonyms (
                namespace VARCHAR NOT NULL, original VARCHAR NOT NULL, surrogate VARCHAR NOT NULL,
                first_batch VARCHAR)"""
            # No index: keys are only ever added by the anti-join below, under the exclusive lock, so each
            # (namespace, original) appears once; an ART index would double the cost of a first batch.
        )
        self.con.execute(
            """CREATE TABLE IF NOT EXISTS cb.patient_timeline (
                patient VARCHAR PRIMARY KEY, anchor TIMESTAMPTZ, shift_days INTEGER NOT NULL, first_batch VARCHAR)"""
        )
        return alias

    def __exit__(self, *exc) -> None:
        self._ctx.__exit__(*exc)
        if self.codebook.path.exists():
            private_file(self.codebook.path)
            wal = self.codebook.path.with_name(self.codebook.path.name + ".wal")
            if wal.exists():
                private_file(wal)


@dataclass
class CodebookPseudonymizer:
    codebook: Codebook
    mode: str = "codebook"

    def map_keys(self, con: duckdb.DuckDBPyConnection, keys_table: str, batch_id: str) -> str:
        with self.codebook.attached(con):
            with transaction(con):
                con.execute(
                    f"""CREATE OR REPLACE TEMP TABLE _new_keys AS
                        SELECT namespace, original, row_number() OVER () AS n FROM {keys_table} k
                        WHERE NOT EXISTS (SELECT 1 FROM cb.pseudonyms p
                                          WHERE p.namespace = k.namespace AND p.original = k.original)"""
                )
                new = con.execute("SELECT count(*) FROM _new_keys").fetchall()[0][0]
                if new:
                    insert_with_fresh_values(
                        con,
                        random_surrogates(new),
                        """INSERT INTO cb.pseudonyms
                           SELECT k.namespace, k.original, f.value, ? FROM _new_keys k JOIN _fresh f USING (n)""",
                        [batch_id],
                    )
                con.execute(
                    f"""CREATE OR REPLACE TEMP TABLE _pseudonym_map AS
                        SELECT k.namespace, k.original, p.surrogate FROM {keys_table} k
                        JOIN cb.pseudonyms p USING (namespace, original)"""
                )
        self.new_keys = new
        return "_pseudonym_map"


@dataclass
class HmacPseudonymizer:
    """HMAC-SHA256(key, namespace ":" original), hex, first 32 characters, computed by DuckDB."""

    key: bytes = field(repr=False)
    mode: str = "hmac"

    def __post_init__(self) -> None:
        if len(self.key) < MIN_KEY_BYTES:
            raise ConfigError(f"the pseudonym key must be at least {MIN_KEY_BYTES} bytes")

    @classmethod
    def from_env(cls, env: str = KEY_ENV) -> HmacPseudonymizer:
        value = os.environ.get(env)
        if not value:
            raise ConfigError(f"pseudonym mode 'hmac' needs a secret key in the environment variable {env}")
        return cls(value.encode("utf-8"))

    def _pads(self) -> tuple[bytes, bytes]:
        key = self.key if len(self.key) <= _BLOCK else hashlib.sha256(self.key).digest()
        key = key.ljust(_BLOCK, b"\0")
        return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)

    def sql(self, message_sql: str) -> tuple[str, dict[str, bytes]]:
        """An SQL expression for the HMAC of ``message_sql`` and its parameters (the pads, never the key)."""
        inner, outer = self._pads()
        expr = f"left(sha256($hmac_o || unhex(sha256($hmac_i || encode({message_sql})))), {2 * SURROGATE_BYTES})"
        return expr, {"hmac_i": inner, "hmac_o": outer}

    def map_keys(self, con: duckdb.DuckDBPyConnection, keys_table: str, batch_id: str) -> str:
        expr, params = self.sql("namespace || ':' || original")
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _pseudonym_map AS SELECT namespace, original, {expr} AS surrogate "
            f"FROM {keys_table}",
            params,
        )
        self.new_keys = 0
        return "_pseudonym_map"
