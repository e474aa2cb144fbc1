"""Screening bytes before any reader: every line classified with its number, whatever its encoding or size."""

from __future__ import annotations

import gzip
import random
import tracemalloc
from pathlib import Path

import pytest

from healthcare_assets.fhir import screen
from healthcare_assets.fhir.ndjson import CorruptCompressionError, count_lines, iter_bytes, type_from_content
from healthcare_assets.fhir.screen import PLACEHOLDER, screen_file, write_readable_copy
from healthcare_assets_tests.dirty_input import binary_blob, latin1_line, long_line


def _reference(data: bytes, limit: int, reject: str | None = None) -> tuple[int, list[tuple[int, str]], bytes, int]:
    """The same classification, the slow obvious way: split everything, look at each line whole."""
    parts = data.split(b"\n")
    if parts[-1] == b"":
        parts.pop()
    bad, kept, unclosed = [], [], 0
    for number, line in enumerate(parts, start=1):
        body = line[:-1] if line.endswith(b"\r") else line
        reason = None
        if len(line) > limit:
            reason = "line_too_long"
        else:
            try:
                body.decode("utf-8")
                reason = "stray_carriage_return" if b"\r" in body else None
            except UnicodeDecodeError:
                reason = "invalid_utf8"
        if reject and (reason or body.strip()):
            reason = reject
        if reason:
            bad.append((number, reason))
        kept.append(PLACEHOLDER if reason else body)
        unclosed += not reason and not body.endswith(b"}")
    copy = b"\n".join(kept) + (b"\n" if parts and data.endswith(b"\n") else b"")
    return len(parts), bad, copy, unclosed


PIECES = [
    b'{"resourceType":"Patient","id":"p"}',
    '{"name":"Müller"}'.encode(),
    "Müller".encode("latin-1"),
    b"",
    b"   ",
    b"x\ry",
    b"\xff\xfe\x00",
    b"A" * 700,
    "é".encode() * 600,
    b"\r",
]


@pytest.mark.parametrize("seed", range(4))
def test_matches_the_obvious_classification_whatever_the_chunking(tmp_path: Path, seed: int, monkeypatch) -> None:
    rng = random.Random(seed)
    for trial in range(150):
        lines = [b"".join(rng.choice(PIECES) for _ in range(rng.randint(0, 3))) for _ in range(rng.randint(0, 10))]
        data = b"".join(line + rng.choice([b"\n", b"\r\n"]) for line in lines)
        if data and rng.random() < 0.3:
            data = data[:-1]  # last line without its ending
        limit = rng.choice([1024, 1500, 10**6])
        reject = rng.choice([None, None, "unknown_type"])
        path = tmp_path / f"t{trial}.ndjson"
        path.write_bytes(data)
        if rng.random() < 0.3:
            path = tmp_path / f"t{trial}.ndjson.gz"
            path.write_bytes(gzip.compress(data))
        monkeypatch.setattr(screen, "_CHUNK", rng.choice([7, 64, 1000, 1 << 20]))
        monkeypatch.setattr(screen, "_HINT_EVERY", 1)  # every line looked at: the hint is exact
        found = screen_file(path, limit, reject)
        lines_expected, bad_expected, copy_expected, unclosed_expected = _reference(data, limit, reject)
        assert found.lines == lines_expected, (trial, data)
        assert list(zip(found.bad_lines, found.bad_reasons, strict=True)) == bad_expected, (trial, data)
        if reject is None:
            assert found.unclosed_lines == unclosed_expected, (trial, data)
            assert found.hinted_lines == lines_expected - len(bad_expected), (trial, data)
            write_readable_copy(path, found, tmp_path / "copy.ndjson", limit)
            assert (tmp_path / "copy.ndjson").read_bytes() == copy_expected, (trial, data)


def test_each_kind_is_named_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "Patient.ndjson"
    lines = [
        b'{"resourceType":"Patient","id":"ok1"}',
        latin1_line(),
        long_line(3000),
        b'{"resourceType":"Patient",\r"id":"cr"}',
        b'{"resourceType":"Patient","id":"ok2"}',
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    found = screen_file(path, max_line_bytes=2048)
    assert found.lines == 5
    assert list(found.bad_lines) == [2, 3, 4]
    assert found.bad_reasons == ["invalid_utf8", "line_too_long", "stray_carriage_return"]
    assert found.bad_lengths[1] == len(lines[2])
    assert found.counts() == {"invalid_utf8": 1, "line_too_long": 1, "stray_carriage_return": 1}
    assert "Zwetschge" in found.previews[2]  # kept for inspection: the quarantine is in the PHI zone
    copy = tmp_path / "readable.ndjson"
    write_readable_copy(path, found, copy, 2048)
    assert copy.read_bytes().split(b"\n") == [lines[0], PLACEHOLDER, PLACEHOLDER, PLACEHOLDER, lines[4], b""]


def test_crlf_file_needs_a_copy_with_lf_endings(tmp_path: Path) -> None:
    path = tmp_path / "Patient.ndjson"
    path.write_bytes(b'{"a":1}\r\n\r\n{"b":2}\r\n')
    found = screen_file(path)
    assert found.lines == 3 and not found.bad_lines and found.needs_copy
    write_readable_copy(path, found, tmp_path / "copy.ndjson", screen.DEFAULT_MAX_LINE_BYTES)
    assert (tmp_path / "copy.ndjson").read_bytes() == b'{"a":1}\n\n{"b":2}\n'


def test_a_70_mb_line_is_never_held_in_memory(tmp_path: Path) -> None:
    path = tmp_path / "Patient.ndjson"
    with open(path, "wb") as out:
        out.write(b'{"resourceType":"Patient","id":"a"}\n')
        out.write(long_line(70_000_000))
        out.write(b'\n{"resourceType":"Patient","id":"b"}\n')
    tracemalloc.start()
    try:
        found = screen_file(path)  # the default limit: 64 MiB
        write_readable_copy(path, found, tmp_path / "copy.ndjson", screen.DEFAULT_MAX_LINE_BYTES)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert list(found.bad_lines) == [2] and found.bad_reasons == ["line_too_long"]
    assert found.longest_line < 100  # of the lines kept
    assert peak < 8 * 1024 * 1024, f"peak {peak:,} bytes"
    assert (tmp_path / "copy.ndjson").stat().st_size < 200


def test_limit_is_validated(tmp_path: Path) -> None:
    (tmp_path / "a.ndjson").write_bytes(b"{}\n")
    for bad in (10, 300 * 1024 * 1024):
        with pytest.raises(ValueError, match="max_line_bytes"):
            screen_file(tmp_path / "a.ndjson", bad)


def test_rejected_file_has_every_line_quarantined_and_damage_counted(tmp_path: Path) -> None:
    blob = binary_blob(4096)
    packed = gzip.compress(blob)
    damaged = tmp_path / "attachment.ndjson.gz"
    damaged.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(CorruptCompressionError, match="attachment.ndjson.gz"):
        list(iter_bytes(damaged))
    found = screen_file(damaged, reject_reason="unknown_type")
    assert found.bad_reasons[-1] == "corrupt_compression" and found.bad_lines[-1] == found.lines
    assert set(found.bad_reasons[:-1]) == {"unknown_type"}


def test_gzip_pieces_stay_small_and_members_concatenate(tmp_path: Path) -> None:
    path = tmp_path / "zeros.ndjson.gz"
    path.write_bytes(gzip.compress(b"\n" * 5_000_000, compresslevel=1) + gzip.compress(b'{"a":1}\n'))
    sizes = [len(piece) for piece in iter_bytes(path, 1 << 20)]
    assert max(sizes) <= 1 << 20 and sum(sizes) == 5_000_008
    assert count_lines(path) == 1
    padded = tmp_path / "padded.ndjson.gz"
    padded.write_bytes(gzip.compress(b'{"a":1}\n') + b"\0" * 512)  # zero padding after the member
    assert b"".join(iter_bytes(padded)) == b'{"a":1}\n'


def test_type_from_content_survives_binary_and_latin1(tmp_path: Path) -> None:
    blob = tmp_path / "blob.ndjson"
    blob.write_bytes(binary_blob(100_000))
    assert type_from_content(blob) is None
    mixed = tmp_path / "export.ndjson"
    mixed.write_bytes(latin1_line() + b"\n" + b'{"resourceType":"Encounter","id":"e"}\n')
    assert type_from_content(mixed) == "Encounter"
