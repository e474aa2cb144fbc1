"""The streaming writer: line counting across chunks, bounded gunzip, truncation, storage modes."""

from __future__ import annotations

import gzip
import hashlib
import zlib
from pathlib import Path

import pytest

from healthcare_assets.fhir.bulk import CountMismatchError
from healthcare_assets.fhir.bulk.download import (
    GzipDecoder,
    LineCounter,
    TruncatedStreamError,
    write_stream,
)

pytestmark = pytest.mark.timeout(30)

NDJSON = b"".join(b'{"resourceType":"Patient","id":"%d"}\n' % i for i in range(1000))


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("size", [1, 2, 7, 64, 10_000])
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b"", 0),
        (b"a", 1),
        (b"a\n", 1),
        (b"a\nb", 2),
        (b"\n\na\n\n\nb\n\n", 2),
        (b"a\r\n\r\nb\r\n", 2),
        (b"\n", 0),
        (b"abc\ndef\nghi\n", 3),
    ],
)
def test_line_counter_ignores_chunk_boundaries_and_blank_lines(text: bytes, expected: int, size: int) -> None:
    counter = LineCounter()
    for part in chunked(text, size):
        counter.update(part)
    assert counter.finish() == expected


def test_gzip_decoder_bounds_output_and_reads_concatenated_members() -> None:
    compressible = b"x" * 5_000_000
    stream = gzip.compress(compressible) + gzip.compress(b"tail\n")
    decoder = GzipDecoder(max_output=65_536)
    pieces = [piece for chunk in chunked(stream, 1 << 20) for piece in decoder.feed(chunk)]
    pieces.append(decoder.finish())
    assert max(len(p) for p in pieces) <= 65_536
    assert b"".join(pieces) == compressible + b"tail\n"

    cut = GzipDecoder()
    list(cut.feed(gzip.compress(NDJSON)[:-20]))
    with pytest.raises(TruncatedStreamError):
        cut.finish()


@pytest.mark.parametrize("wire", ["plain", "gzip"])
@pytest.mark.parametrize("keep_gzip", [False, True])
def test_write_stream_modes(tmp_path: Path, wire: str, keep_gzip: bool) -> None:
    body = gzip.compress(NDJSON) if wire == "gzip" else NDJSON
    target = tmp_path / ("Patient.ndjson.gz" if keep_gzip else "Patient.ndjson")
    digest = write_stream(chunked(body, 333), target, wire_gzip=None, keep_gzip=keep_gzip, expected_lines=1000)
    stored = target.read_bytes()
    assert digest.lines == 1000 and digest.bytes == len(stored)
    assert digest.sha256 == hashlib.sha256(stored).hexdigest()
    assert (gzip.decompress(stored) if keep_gzip else stored) == NDJSON
    assert target.stat().st_mode & 0o777 == 0o600
    assert not list(tmp_path.glob(".*.part"))


def test_write_stream_refuses_bad_counts_and_truncation(tmp_path: Path) -> None:
    target = tmp_path / "Patient.ndjson"
    with pytest.raises(CountMismatchError, match="count is 1001 but the file holds 1000"):
        write_stream([NDJSON], target, wire_gzip=False, keep_gzip=False, expected_lines=1001)
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
    truncated = compressor.compress(NDJSON) + compressor.flush(zlib.Z_SYNC_FLUSH)  # no gzip trailer
    with pytest.raises(TruncatedStreamError):
        write_stream([truncated], target, wire_gzip=True, keep_gzip=False)
    assert not target.exists() and not list(tmp_path.iterdir())  # nothing unverified is left behind


def test_empty_files(tmp_path: Path) -> None:
    plain = write_stream([], tmp_path / "Empty.ndjson", wire_gzip=None, keep_gzip=False, expected_lines=0)
    assert plain.lines == 0 and plain.bytes == 0
    packed = write_stream([], tmp_path / "Empty.ndjson.gz", wire_gzip=None, keep_gzip=True, expected_lines=0)
    assert gzip.decompress((tmp_path / "Empty.ndjson.gz").read_bytes()) == b"" and packed.bytes > 0
