"""Dirty input with planted PHI: lines that are not UTF-8, huge lines, stray carriage returns, binary files.

Every planted value is unusual enough that finding it anywhere outside the PHI zone can only mean a leak.
"""

from __future__ import annotations

import gzip
import random
import shutil
from pathlib import Path

import orjson

PLANTED = {
    "name": "Quixotella Zwetschge-Müller",
    "phone": "555-867-5309",
    "birth_date": "1937-03-14",
    "ssn": "987-65-4329",
    "email": "q.zwetschge@mailbox.example",
}
# What to search for in bytes (Latin-1 and UTF-8 spellings of the accented name, and the plain ASCII parts).
NEEDLES = [
    b"Quixotella",
    b"Zwetschge",
    b"867-5309",
    b"1937-03-14",
    b"987-65-4329",
    b"q.zwetschge",
]


def patient(resource_id: str, **extra: object) -> dict:
    return {
        "resourceType": "Patient",
        "id": resource_id,
        "name": [{"family": "Zwetschge-Müller", "given": ["Quixotella"]}],
        "telecom": [{"system": "phone", "value": PLANTED["phone"]}, {"system": "email", "value": PLANTED["email"]}],
        "identifier": [{"system": "http://hl7.org/fhir/sid/us-ssn", "value": PLANTED["ssn"]}],
        "birthDate": PLANTED["birth_date"],
        "gender": "female",
        **extra,
    }


def latin1_line(resource_id: str = "latin1-patient") -> bytes:
    """A valid-looking Patient whose accented name is Latin-1, so the line is not UTF-8."""
    return orjson.dumps(patient(resource_id)).decode().encode("latin-1")


def long_line(size: int, valid: bool = True, resource_id: str = "long-patient") -> bytes:
    """A Patient with a ``size``-byte attachment carrying PHI; ``valid=False`` cuts the closing brace."""
    data = (PLANTED["name"] + " " + PLANTED["phone"] + " ").encode() * (size // 40 + 1)
    line = orjson.dumps(patient(resource_id, photo=[{"contentType": "text/plain", "data": data[:size].decode()}]))
    return line if valid else line[:-1]


def binary_blob(size: int, seed: int = 7) -> bytes:
    """Random bytes with the planted values inside (a PDF or image saved with an .ndjson name)."""
    rng = random.Random(seed)
    blob = bytearray(rng.randbytes(size))
    marker = (" ".join(PLANTED.values())).encode("latin-1", errors="replace")
    blob[size // 2 : size // 2 + len(marker)] = marker
    return bytes(blob)


def dirty_lines(resource_id: str) -> dict[str, bytes]:
    """One line of each small kind, each carrying PHI."""
    return {
        "invalid_utf8": latin1_line(resource_id + "-latin1"),
        "stray_carriage_return": orjson.dumps(patient(resource_id + "-cr")).replace(b'"gender"', b'\r"gender"'),
        "malformed_json": orjson.dumps(patient(resource_id + "-broken"))[:-2],
    }


def write_synthea_copy(synthea_dir: Path, target: Path) -> Path:
    target.mkdir(parents=True)
    for src in synthea_dir.glob("*.ndjson.gz"):
        shutil.copyfile(src, target / src.name)
    return target


def add_patient_lines(folder: Path, lines: list[tuple[int, bytes]]) -> None:
    """Decompress ``Patient.ndjson.gz`` in ``folder`` and put each line in at its (1-based) position."""
    packed = folder / "Patient.ndjson.gz"
    existing = gzip.decompress(packed.read_bytes()).rstrip(b"\n").split(b"\n")
    for position, line in sorted(lines):
        existing.insert(position - 1, line)
    packed.unlink()
    (folder / "Patient.ndjson").write_bytes(b"\n".join(existing) + b"\n")
