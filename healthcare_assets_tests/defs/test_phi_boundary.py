"""Errors never carry data: whatever an asset that reads the PHI zone raises, the run's output, the Dagster
storage under $DAGSTER_HOME (event log, compute logs) and the UI-visible metadata hold no PHI."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import duckdb
import orjson
import pytest
from dagster import DagsterInstance, materialize

from healthcare_assets.config import Paths
from healthcare_assets.defs import extraction
from healthcare_assets.defs.boundary import BOUNDARY_ATTR
from healthcare_assets.defs.deidentification import deidentified_tables
from healthcare_assets.defs.extraction import fhir_profile, raw_fhir_ndjson
from healthcare_assets.defs.partitions import EXPORT_BATCH_PARTITIONS
from healthcare_assets.defs.resources import DataHome
from healthcare_assets_tests.dirty_input import NEEDLES, PLANTED, dirty_lines, latin1_line


def leaks(root: Path) -> list[str]:
    """Files under ``root`` holding any planted value (event-log SQLite, compute logs, anything)."""
    found = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path.relative_to(root)}: {n.decode()}" for n in NEEDLES if n in data]
    return found


def _duckdb_conversion() -> None:
    duckdb.sql(f"SELECT '{PLANTED['name']} {PLANTED['phone']}'::INTEGER").fetchall()


def _duckdb_csv(tmp: Path) -> Callable[[], None]:
    def fail() -> None:
        bad = tmp / "latin1.ndjson"
        bad.write_bytes(latin1_line() + b"\n")
        duckdb.sql(f"SELECT * FROM read_csv('{bad}', columns={{'line': 'VARCHAR'}}, delim='\\0', quote='')").fetchall()

    return fail


def _duckdb_json(tmp: Path) -> Callable[[], None]:
    def fail() -> None:
        bad = tmp / "broken.ndjson"
        bad.write_bytes(dirty_lines("x")["malformed_json"] + b"\n")
        duckdb.sql(f"SELECT * FROM read_json('{bad}', format='newline_delimited')").fetchall()

    return fail


def _raise(exc: Exception) -> Callable[[], None]:
    def fail() -> None:
        raise exc

    return fail


KINDS = {
    "duckdb_conversion": lambda tmp: _duckdb_conversion,
    "duckdb_read_csv": _duckdb_csv,
    "duckdb_read_json": _duckdb_json,
    "unicode_decode": lambda tmp: lambda: latin1_line().decode("utf-8"),
    "orjson": lambda tmp: lambda: orjson.loads(dirty_lines("x")["malformed_json"]),
    "json": lambda tmp: lambda: json.loads(dirty_lines("x")["malformed_json"]),
    "value_error": lambda tmp: _raise(ValueError(f"unexpected value {PLANTED['ssn']} for {PLANTED['name']}")),
    "key_error": lambda tmp: _raise(KeyError(PLANTED["email"])),
}


EXPECTED = {  # what may be said: the class, or the library's own template text and positions
    "duckdb_conversion": "duckdb.ConversionException (message withheld",
    "duckdb_read_csv": "duckdb.InvalidInputException (message withheld",
    "duckdb_read_json": "duckdb.InvalidInputException (message withheld",
    "unicode_decode": "not UTF-8 (invalid start byte at byte ",
    "orjson": "invalid JSON: unexpected end of data (line 1, column ",
    "json": "invalid JSON: Unterminated string starting at (line 1, column ",
    "value_error": "ValueError (message withheld",
    "key_error": "KeyError (message withheld",
}


def test_every_asset_reading_the_phi_zone_is_wrapped() -> None:
    for assets_def in (raw_fhir_ndjson, fhir_profile, deidentified_tables):
        assert getattr(assets_def.op.compute_fn.decorated_fn, BOUNDARY_ATTR, False), assets_def.key


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_no_failure_kind_leaks(kind: str, data_home: Paths, tmp_path: Path, monkeypatch, capfd) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "Patient.ndjson").write_bytes(b'{"resourceType":"Patient","id":"p1"}\n')
    failure = KINDS[kind](tmp_path)

    def failing_profile(*args, **kwargs):
        failure()
        raise AssertionError(f"{kind} did not raise")

    monkeypatch.setattr(extraction, "profile_batch", failing_profile)
    with DagsterInstance.get() as instance:  # on disk under $DAGSTER_HOME, with compute logs
        instance.add_dynamic_partitions(EXPORT_BATCH_PARTITIONS, ["b1"])
        result = materialize(
            [raw_fhir_ndjson, fhir_profile],
            partition_key="b1",
            instance=instance,
            resources={"home": DataHome()},
            run_config={"ops": {"raw_fhir_ndjson": {"config": {"source": "ndjson_dir", "path": str(src)}}}},
            raise_on_error=False,
        )
        assert not result.success
        failure_event = next(e for e in result.all_events if e.is_step_failure)
        data = failure_event.step_failure_data
        description = data.user_failure_data.description
        assert description.startswith(EXPECTED[kind]), description
        error, seen = data.error, []
        while error is not None:  # no cause or context is kept
            seen.append(error.message)
            error = error.cause or error.context
        assert len(seen) == 1, seen
        events = [repr(e) for e in instance.all_logs(result.run_id)]
    captured = capfd.readouterr()
    text = (captured.out + captured.err + "".join(events)).encode()
    assert [n for n in NEEDLES if n in text] == []
    assert leaks(Path(data_home.home.parent / "dagster")) == []
    assert leaks(data_home.home / "audit") == []
