"""Tombstones: deleted ids are read robustly, pseudonymized like their resources, and applied batch-order aware."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import orjson
import pytest

from healthcare_assets.audit.canonical import sha256_file
from healthcare_assets.deid import Codebook, CodebookPseudonymizer, HmacPseudonymizer, build_policy, deidentify_batch
from healthcare_assets.deid.tombstones import (
    TombstoneError,
    apply_tombstones,
    deleted_files,
    key_columns,
    landing_order,
    read_deletions,
)
from healthcare_assets.fhir.landing import LandedBatch, land_batch
from healthcare_assets.fhir.profile import profile_batch
from healthcare_assets.fhir.sources import NdjsonDirSource
from healthcare_assets.fhir.views import catalog
from healthcare_assets_tests.fhir.bulk.helpers import tiny_resources

PHI = "Jane Q. Doe 123-45-6789"


def _bundle(*urls: str, method: str = "DELETE") -> bytes:
    return orjson.dumps(
        {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [{"request": {"method": method, "url": u}} for u in urls],
        }
    )


def test_deletions_are_read_from_hostile_files_without_quoting_them(tmp_path: Path) -> None:
    lines = [
        _bundle("Encounter/e1", "Patient/p1"),
        _bundle("https://ehr.example/fhir/Observation/o1/_history/3", "Encounter/e1"),  # absolute, repeated
        _bundle("Claim/c1", "Device/d1"),  # types no de-identified table holds
        _bundle("Encounter/e2", method="PUT"),
        _bundle(f"Encounter/{PHI}", "not a url"),
        b"\xff\xfe" + PHI.encode(),
        orjson.dumps({"resourceType": "Patient", "id": PHI}),
        b"{" + b" " * (2 << 20) + b"}",  # one enormous line
    ]
    path = tmp_path / "Bundle.ndjson.gz"
    path.write_bytes(gzip.compress(b"\n".join(lines) + b"\n\n"))
    table, counts = read_deletions([path], {"Patient", "Encounter", "Observation"})
    assert sorted(zip(table["namespace"].to_pylist(), table["original"].to_pylist(), strict=True)) == [
        ("Encounter", "e1"),
        ("Observation", "o1"),
        ("Patient", "p1"),
    ]
    assert counts.entries == 6 and counts.other_types == 2 and counts.unusable == 6
    assert counts.by_type == {"Encounter": 1, "Observation": 1, "Patient": 1}
    assert PHI not in repr(counts)


def test_damaged_or_changed_deleted_files_are_refused_by_name(tmp_path: Path) -> None:
    batch_dir = tmp_path / "b1"
    (batch_dir / "ndjson" / "deleted").mkdir(parents=True)
    target = batch_dir / "ndjson" / "deleted" / "Bundle.ndjson"
    target.write_bytes(_bundle("Patient/p1") + b"\n")
    entry = {"type": "Bundle", "path": "ndjson/deleted/Bundle.ndjson", "lines": 1, "sha256": sha256_file(target)}
    batch = LandedBatch(batch_dir, {"batch_id": "b1", "details": {"deleted_files": [entry]}})
    assert deleted_files(batch) == [target.resolve()]
    target.write_bytes(_bundle(f"Patient/{PHI}") + b"\n")
    with pytest.raises(TombstoneError, match="changed since it was landed") as caught:
        deleted_files(batch)
    assert PHI not in str(caught.value)
    # A batch landed before deletions were applied names no path: its file is found by its hash.
    old = LandedBatch(batch_dir, {"batch_id": "b1", "details": {"deleted_files": [{"sha256": sha256_file(target)}]}})
    assert deleted_files(old) == [target.resolve()]
    with pytest.raises(TombstoneError, match="a deleted-resource file it lists is missing"):
        deleted_files(LandedBatch(batch_dir, {"batch_id": "b1", "details": {"deleted_files": [{"sha256": "0"}]}}))
    escaping = LandedBatch(batch_dir, {"batch_id": "b1", "details": {"deleted_files": [{"path": "../../etc/passwd"}]}})
    with pytest.raises(TombstoneError, match="missing from batch b1"):
        deleted_files(escaping)
    gz = batch_dir / "ndjson" / "deleted" / "Bundle.ndjson.gz"
    gz.write_bytes(gzip.compress(_bundle("Patient/p1"))[:-12] + b"garbage!")
    with pytest.raises(TombstoneError, match="Bundle.ndjson.gz: deleted-resource file is unreadable"):
        read_deletions([gz], {"Patient"})


@pytest.mark.parametrize("mode", ["codebook", "hmac"])
def test_deleted_ids_get_the_surrogates_of_their_rows(tmp_path: Path, mode: str) -> None:
    source = tmp_path / "source"
    source.mkdir()
    for kind in ("Patient", "Encounter"):
        rows = [orjson.dumps(r) for r in tiny_resources() if r["resourceType"] == kind]
        (source / f"{kind}.ndjson").write_bytes(b"\n".join(rows) + b"\n")
    phi = tmp_path / "phi"
    batch = land_batch(phi / "batches", "b1", NdjsonDirSource(source))
    deleted = batch.batch_dir / "ndjson" / "deleted" / "Bundle.ndjson"
    deleted.parent.mkdir()
    deleted.write_bytes(_bundle("Encounter/p1-e2", "Patient/p3", "Patient/never-seen") + b"\n")
    entry = {"type": "Bundle", "path": "ndjson/deleted/Bundle.ndjson", "lines": 1, "sha256": sha256_file(deleted)}
    batch.manifest["details"]["deleted_files"] = [entry]
    profiled = profile_batch(batch)
    counts = {t.resource_type: {"accepted": t.accepted, "id_checksum": t.id_checksum} for t in profiled.types}
    views = catalog.project_views()
    policy = build_policy(views)
    codebook = Codebook(phi / "codebook.duckdb")
    pseudonymizer = HmacPseudonymizer(b"k" * 32) if mode == "hmac" else CodebookPseudonymizer(codebook)
    result = deidentify_batch(
        batch, counts, views, policy, pseudonymizer, codebook, batch.batch_dir / "staging", datetime.now(UTC)
    )
    assert result.scan.passed and result.tombstones.rows == 3
    tombstones = duckdb.sql(f"SELECT resource_type, resource_key FROM '{result.tombstones.path}'").fetchall()
    encounters = duckdb.sql(f"SELECT encounter_id FROM '{result.tables['deidentified_encounter'].path}'").fetchall()
    patients = duckdb.sql(f"SELECT patient_id FROM '{result.tables['deidentified_patient'].path}'").fetchall()
    keys = {k for _, k in tombstones}
    assert len(keys & {e for (e,) in encounters}) == 1 and len(keys & {p for (p,) in patients}) == 1
    raw = result.tombstones.path.read_bytes()
    assert b"p1-e2" not in raw and b"never-seen" not in raw and b"p3" not in raw


def test_tombstones_remove_earlier_rows_only(tmp_path: Path) -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE deidentified_encounter (batch_id VARCHAR, encounter_id VARCHAR, patient_id VARCHAR)")
    con.execute(
        """INSERT INTO deidentified_encounter VALUES
           ('b0', 'E1', 'P1'), ('b0', 'E2', 'P1'), ('b1', 'E1', 'P1'), ('b2', 'E1', 'P1'), ('b2', 'E3', 'P1')"""
    )
    con.execute("CREATE TABLE deidentified_tombstones (batch_id VARCHAR, resource_type VARCHAR, resource_key VARCHAR)")
    con.execute("INSERT INTO deidentified_tombstones VALUES ('b1', 'Encounter', 'E1'), ('b1', 'Patient', 'E2')")
    keys = key_columns(catalog.project_views(), {"deidentified_encounter": "encounter"})
    assert keys == {"deidentified_encounter": ("Encounter", "encounter_id")}
    # b1 deleted E1: gone from b0 (landed before), kept in b2 (created again later) and in b1 itself.
    removed = apply_tombstones(con, "b1", ["b2"], keys)
    assert removed == {"deidentified_encounter": {"earlier_batches": 1, "this_batch": 0}}
    rows = con.execute("SELECT batch_id, encounter_id FROM deidentified_encounter ORDER BY ALL").fetchall()
    assert rows == [("b0", "E2"), ("b1", "E1"), ("b2", "E1"), ("b2", "E3")]
    # b0 republished later: b1's deletion applies to it again.
    con.execute("INSERT INTO deidentified_encounter VALUES ('b0', 'E1', 'P1')")
    assert apply_tombstones(con, "b0", ["b1", "b2"], keys)["deidentified_encounter"]["this_batch"] == 1


def test_landing_order_follows_landing_time(tmp_path: Path) -> None:
    for name, landed in (("z-first", "2026-01-01T00:00:00+00:00"), ("a-second", "2026-01-02T00:00:00+00:00")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "manifest.json").write_bytes(orjson.dumps({"landed_at": landed}))
    (tmp_path / ".staging-x").mkdir()
    assert landing_order(tmp_path) == ["z-first", "a-second"]
