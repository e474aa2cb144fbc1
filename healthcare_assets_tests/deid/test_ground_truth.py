"""synthetic_ground_truth: the generator's true probabilities leave the PHI zone only as (stay pseudonym,
probability), through the same pseudonymizer and scan as the de-identified tables."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pytest
from dagster import DagsterInstance, materialize

from healthcare_assets.defs.deidentification import deidentified_tables
from healthcare_assets.defs.extraction import fhir_profile, raw_fhir_ndjson
from healthcare_assets.defs.partitions import EXPORT_BATCH_PARTITIONS
from healthcare_assets.defs.resources import DataHome
from healthcare_assets.deid.ground_truth import GROUND_TRUTH_TABLE, GroundTruthError, stage_ground_truth
from healthcare_assets.fhir.landing import LandedBatch
from healthcare_assets.warehouse import Warehouse


def _run(home: Path, batch: str, source: dict):
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(EXPORT_BATCH_PARTITIONS, [batch])
    return materialize(
        [raw_fhir_ndjson, fhir_profile, deidentified_tables],
        partition_key=batch,
        instance=instance,
        resources={"home": DataHome(path=str(home))},
        run_config={"ops": {"raw_fhir_ndjson": {"config": source}}},
        raise_on_error=False,
    )


def test_synthetic_batch_publishes_pseudonymous_truth(tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = _run(home, "syn", {"source": "synthetic", "patients": 150, "seed": 9})
    assert result.success
    checks = {c.asset_key.to_user_string(): c.passed for c in result.get_asset_check_evaluations()}
    assert checks[GROUND_TRUTH_TABLE] is True  # scanned like every de-identified table
    warehouse = Warehouse(home / "warehouse.duckdb")
    columns = [c[0] for c in warehouse.query(f"DESCRIBE {GROUND_TRUTH_TABLE}")]
    assert columns == ["batch_id", "stay_id", "true_probability"]  # nothing else of the truth file

    truth = pl.read_parquet(home / "phi" / "batches" / "syn" / "side" / "ground_truth.parquet")
    published = warehouse.query(f"SELECT stay_id, true_probability FROM {GROUND_TRUTH_TABLE} WHERE batch_id = 'syn'")
    assert len(published) == truth.height > 50
    # stay_id is the discharge encounter's surrogate, exactly as deidentified_encounter.encounter_id carries it.
    with duckdb.connect(str(home / "phi" / "codebook.duckdb"), read_only=True) as codebook:
        surrogate = dict(
            codebook.execute("SELECT original, surrogate FROM pseudonyms WHERE namespace = 'Encounter'").fetchall()
        )
    expected = {
        surrogate[e]: p for e, p in zip(truth["discharge_encounter_id"], truth["true_probability"], strict=True)
    }
    assert dict(published) == expected
    encounters = {r[0] for r in warehouse.query("SELECT encounter_id FROM deidentified_encounter")}
    assert set(expected) <= encounters
    # No original id of the truth file is anywhere in the table.
    originals = set(truth["discharge_encounter_id"]) | set(truth["stay_id"]) | set(truth["patient_id"])
    assert not originals & {r[0] for r in published}
    materialized = {m.asset_key.to_user_string() for m in result.asset_materializations_for_node("deidentified_tables")}
    assert GROUND_TRUTH_TABLE in materialized


def _batch(tmp_path: Path, side: dict | None) -> LandedBatch:
    manifest = {"batch_id": "b1", "side_files": {"ground_truth": side} if side else {}}
    return LandedBatch(tmp_path, manifest)


def _mapping(con: duckdb.DuckDBPyConnection) -> str:
    con.execute("CREATE TEMP TABLE m (namespace VARCHAR, original VARCHAR, surrogate VARCHAR)")
    con.execute("INSERT INTO m VALUES ('Encounter', 'enc-1', 'a' || repeat('0', 31))")
    return "m"


def test_no_truth_file_stages_an_empty_table(tmp_path: Path) -> None:
    con = duckdb.connect()
    staged, counts = stage_ground_truth(con, _batch(tmp_path, None), _mapping(con), tmp_path)
    assert staged.rows == 0 and counts == {"pseudonym": 0, "dropped_unmatched": 0}
    assert [c[0] for c in con.execute(f"DESCRIBE SELECT * FROM read_parquet('{staged.path}')").fetchall()] == [
        "batch_id",
        "stay_id",
        "true_probability",
    ]


def test_unmatched_truth_rows_are_dropped_and_counted(tmp_path: Path) -> None:
    from healthcare_assets.audit.canonical import sha256_file

    side = tmp_path / "side"
    side.mkdir()
    pl.DataFrame(
        {"discharge_encounter_id": ["enc-1", "enc-quarantined"], "true_probability": [0.2, 0.7]}
    ).write_parquet(side / "ground_truth.parquet")
    con = duckdb.connect()
    batch = _batch(
        tmp_path, {"path": "side/ground_truth.parquet", "sha256": sha256_file(side / "ground_truth.parquet")}
    )
    staged, counts = stage_ground_truth(con, batch, _mapping(con), tmp_path)
    assert counts == {"pseudonym": 1, "dropped_unmatched": 1}
    assert con.execute(f"SELECT stay_id, true_probability FROM read_parquet('{staged.path}')").fetchall() == [
        ("a" + "0" * 31, 0.2)
    ]


@pytest.mark.parametrize("tamper", ["changed", "not_parquet"])
def test_a_bad_truth_file_fails_without_quoting_it(tmp_path: Path, tamper: str) -> None:
    from healthcare_assets.audit.canonical import sha256_file

    side = tmp_path / "side"
    side.mkdir()
    path = side / "ground_truth.parquet"
    planted = b"Jane Q. Doe, SSN 123-45-6789, 555-867-5309\xff\xfe" + b"x" * 100_000 + b"\n"
    path.write_bytes(planted)
    digest = sha256_file(path) if tamper == "not_parquet" else "0" * 64
    con = duckdb.connect()
    with pytest.raises(GroundTruthError) as raised:
        stage_ground_truth(
            con, _batch(tmp_path, {"path": "side/ground_truth.parquet", "sha256": digest}), "m", tmp_path
        )
    message = str(raised.value)
    assert "side/ground_truth.parquet" in message
    assert "Doe" not in message and "123-45" not in message and "555" not in message
    assert raised.value.__suppress_context__ or raised.value.__cause__ is None
