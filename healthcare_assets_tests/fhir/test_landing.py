"""Landing a folder of NDJSON into the PHI zone: exact counts, manifest, private permissions, atomic swap."""

from __future__ import annotations

import gzip
import random
import stat
from pathlib import Path

import orjson
import pytest

from healthcare_assets.audit.canonical import sha256_file
from healthcare_assets.fhir.landing import land_batch, load_batch, new_batch_id, validate_batch_id
from healthcare_assets.fhir.ndjson import NdjsonError, _LineCounter, count_lines, file_stats, type_from_name
from healthcare_assets.fhir.sources import FetchResult, NdjsonDirSource

SYNTHEA_LINES = {
    "Patient": 100,
    "Encounter": 3697,
    "Observation": 16315,
    "Condition": 639,
    "MedicationRequest": 2386,
    "Procedure": 2351,
    "Organization": 452,
    "Practitioner": 452,
}


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_synthea_lands_with_exact_counts_and_hashes(tmp_path: Path, synthea_dir: Path) -> None:
    landed = land_batch(tmp_path / "phi" / "batches", "b1", NdjsonDirSource(synthea_dir))
    manifest = landed.manifest
    by_type = {f["type"]: f for f in manifest["files"]}
    assert len(by_type) == 17
    for resource_type, lines in SYNTHEA_LINES.items():
        assert by_type[resource_type]["lines"] == lines, resource_type
    for entry in manifest["files"]:
        landed_file = landed.batch_dir / entry["path"]
        assert entry["sha256"] == sha256_file(synthea_dir / landed_file.name)  # byte-identical copy
        assert entry["compressed"] is True
    assert manifest["source"] == {"kind": "ndjson_dir", "path": str(synthea_dir.resolve())}
    assert manifest["totals"]["lines"] == sum(f["lines"] for f in manifest["files"])
    assert load_batch(landed.batch_dir).manifest == manifest


def test_phi_zone_is_private(tmp_path: Path, synthea_dir: Path) -> None:
    phi = tmp_path / "phi"
    landed = land_batch(phi / "batches", "b1", NdjsonDirSource(synthea_dir))
    for directory in [phi, phi / "batches", *[p for p in landed.batch_dir.rglob("*") if p.is_dir()], landed.batch_dir]:
        assert _mode(directory) == 0o700, directory
    for file in [p for p in landed.batch_dir.rglob("*") if p.is_file()]:
        assert _mode(file) == 0o600, file


def test_multiple_files_per_type_and_plain_files(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "Patient.000.ndjson").write_text('{"resourceType":"Patient","id":"a"}\n')
    (src / "Patient.001.ndjson").write_text(
        '{"resourceType":"Patient","id":"b"}\n\n{"resourceType":"Patient","id":"c"}'
    )
    with gzip.open(src / "export_part.ndjson.gz", "wt") as handle:  # type from the content
        handle.write('{"resourceType":"Observation","id":"o"}\n')
    (src / "notes.txt").write_text("ignored")
    landed = land_batch(tmp_path / "batches", "b2", NdjsonDirSource(src))
    files = {Path(f["path"]).name: f for f in landed.manifest["files"]}
    assert set(files) == {"Patient.001.ndjson", "Patient.002.ndjson", "Observation.ndjson.gz"}
    assert files["Patient.002.ndjson"]["lines"] == 2  # the blank line is not a resource
    assert files["Observation.ndjson.gz"]["type"] == "Observation"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Patient.ndjson", "Patient"),
        ("1.Encounter.ndjson.gz", "Encounter"),
        ("Observation-2.ndjson", "Observation"),
        ("data.ndjson", None),
    ],
)
def test_type_from_name(name: str, expected: str | None) -> None:
    assert type_from_name(Path(name)) == expected


def test_count_lines_plain_gzip_and_unterminated(tmp_path: Path) -> None:
    plain = tmp_path / "a.ndjson"
    plain.write_bytes(b'{"a":1}\n\n{"b":2}\r\n{"c":3}')
    assert count_lines(plain) == 3
    packed = tmp_path / "a.ndjson.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert count_lines(packed) == 3


def _lines_holding_something(data: bytes) -> int:
    """The rule, spelled out: lines (split at \\n) that hold anything but \\r."""
    return sum(1 for line in data.split(b"\n") if line.strip(b"\r"))


def test_line_counting_follows_the_rule_however_the_file_is_cut_into_pieces() -> None:
    """The fast path (pieces without \\r or empty lines) and the slow one, mixed at every kind of boundary."""
    rng = random.Random(5)
    for _ in range(3000):
        data = bytes(rng.choice(b"ab\n\n\r") for _ in range(rng.randrange(0, 40)))
        if rng.random() < 0.5:
            data = data.replace(b"\r", b"a")  # mostly fast pieces
        cuts = sorted(rng.sample(range(len(data) + 1), min(len(data) + 1, rng.randrange(0, 6))))
        counter = _LineCounter()
        for start, end in zip([0, *cuts], [*cuts, len(data)], strict=True):
            counter.feed(data[start:end])
        assert counter.total() == _lines_holding_something(data), (data, cuts)


def test_file_stats_count_and_hash_a_big_file(tmp_path: Path) -> None:
    path = tmp_path / "Observation.ndjson"
    line = b'{"resourceType":"Observation","id":"x"}'
    path.write_bytes((line + b"\n") * 300_000 + b"\n\r\n" + line)  # several pieces; blank lines near the end
    stats = file_stats(path)
    assert (stats.lines, stats.bytes, stats.sha256) == (300_001, path.stat().st_size, sha256_file(path))


def test_bad_sources_name_the_folder(tmp_path: Path) -> None:
    with pytest.raises(NdjsonError, match="not a directory"):
        land_batch(tmp_path / "batches", "b", NdjsonDirSource(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(NdjsonError, match="no \\*.ndjson"):
        land_batch(tmp_path / "batches", "b", NdjsonDirSource(tmp_path / "empty"))
    odd = tmp_path / "odd"
    odd.mkdir()
    (odd / "data.ndjson").write_text("not json\n")
    with pytest.raises(NdjsonError, match="data.ndjson"):
        land_batch(tmp_path / "batches", "b", NdjsonDirSource(odd))


class _FailingSource:
    kind = "failing"

    def describe(self) -> dict:
        return {"kind": self.kind}

    def fetch(self, ndjson_dir: Path, side_dir: Path, progress) -> FetchResult:
        (ndjson_dir / "Patient.ndjson").write_text('{"resourceType":"Patient","id":"half"}\n')
        raise RuntimeError("network went away")


def test_failed_relanding_keeps_the_previous_batch(tmp_path: Path, synthea_dir: Path) -> None:
    batches = tmp_path / "batches"
    first = land_batch(batches, "b1", NdjsonDirSource(synthea_dir))
    before = orjson.loads((first.batch_dir / "manifest.json").read_bytes())
    with pytest.raises(RuntimeError, match="network"):
        land_batch(batches, "b1", _FailingSource())
    assert load_batch(batches / "b1").manifest == before
    assert all((batches / "b1" / f["path"]).exists() for f in before["files"])


def test_batch_ids() -> None:
    batch_id = new_batch_id("ndjson_dir")
    assert validate_batch_id(batch_id) == batch_id and "ndjson-dir" in batch_id
    for bad in ["", "../x", "a/b", ".", "x" * 200]:
        with pytest.raises(ValueError):
            validate_batch_id(bad)
