"""Issue 8's "done when", as a user would see it through `healthcare-assets`, on the real Dagster instance:

* Synthea with a Latin-1 Patient line, a binary file with no type in its name, a 5 MB line (malformed, and
  one valid), and a 70 MB line lands with those lines quarantined and the rest published; none of their
  content appears outside the PHI zone (output, $DAGSTER_HOME, warehouse, ledger);
* a batch whose quarantine rate trips the gate ends with a one-line cause naming file, line and kind;
* `batches delete` removes a batch everywhere and the ledger still verifies.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from healthcare_assets.config import Paths
from healthcare_assets_tests.dirty_input import (
    NEEDLES,
    add_patient_lines,
    binary_blob,
    latin1_line,
    long_line,
    write_synthea_copy,
)

pytestmark = pytest.mark.slow


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "healthcare_assets.cli", *args],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=900,
    )


def _leaks(*roots: Path, skip: Path | None = None) -> list[str]:
    found = []
    for root in roots:
        for path in [root] if root.is_file() else root.rglob("*"):
            if path.is_file() and (skip is None or skip not in path.parents):
                data = path.read_bytes()
                found += [f"{path}: {n.decode()}" for n in NEEDLES if n in data]
    return found


def test_dirty_corpus_lands_quarantined_and_nothing_leaks(data_home: Paths, synthea_dir: Path, tmp_path: Path):
    corpus = write_synthea_copy(synthea_dir, tmp_path / "corpus")
    add_patient_lines(
        corpus,
        [
            (17, latin1_line()),
            (40, long_line(5_000_000, valid=False, resource_id="five-mb-broken")),
            (41, long_line(5_000_000, resource_id="five-mb-ok")),
            (60, long_line(70_000_000, resource_id="seventy-mb")),
        ],
    )
    (corpus / "scan-0001.ndjson").write_bytes(binary_blob(4096))
    done = _cli("run", "--source", "ndjson", "--path", str(corpus), "--batch-id", "dirty")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "✔ check deidentified_patient:residual_phi_scan passed" in done.stdout
    summary = next(line for line in done.stdout.splitlines() if line.startswith("Summary:"))
    assert "invalid_utf8 1" in summary and "line_too_long 1" in summary and "malformed_json 1" in summary
    assert "unknown_type" in summary and "498 superseded" in summary and "1 file(s) set aside" in summary

    batch = data_home.batch_dir("dirty")
    entries = [orjson.loads(line) for line in (batch / "quarantine" / "quarantine.ndjson").read_text().splitlines()]
    patient = {(e["line"], e["reason_kind"]) for e in entries if e["file"] == "ndjson/Patient.ndjson"}
    assert patient == {(17, "invalid_utf8"), (40, "malformed_json"), (60, "line_too_long")}
    assert {e["reason_kind"] for e in entries if "scan-0001" in e["file"]} == {"unknown_type"}

    dagster_home = Path(os.environ["DAGSTER_HOME"])
    assert _leaks(data_home.home, dagster_home, skip=data_home.phi) == []
    text = (done.stdout + done.stderr).encode()
    assert [n for n in NEEDLES if n in text] == []

    listed = _cli("batches", "list")
    assert listed.returncode == 0 and "dirty" in listed.stdout and "SUCCESS" in listed.stdout
    deleted = _cli("batches", "delete", "dirty")
    assert deleted.returncode == 0, deleted.stderr
    assert "deidentified_patient 101" in deleted.stdout  # 100 Synthea patients and the valid 5 MB one
    assert not batch.exists()
    assert _cli("batches", "list").stdout.startswith("no export batches")
    verified = _cli("audit", "verify")
    # land, profile, de-identify, cohort, feature matrix; dictionary, training set, split, training skipped; delete
    assert verified.returncode == 0 and "OK: 10 records" in verified.stdout


def test_gate_failure_ends_with_a_one_line_cause(data_home: Paths, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "Patient.ndjson").write_bytes(binary_blob(20_000))  # a binary file with a type in its name
    (src / "Encounter.ndjson").write_bytes(b'{"resourceType":"Encounter","id":"e1"}\n')
    done = _cli("run", "--source", "ndjson", "--path", str(src), "--batch-id", "binary")
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: blocking check fhir_profile:structural_integrity failed: quarantine rate"), last
    assert "Patient.ndjson line 1: invalid_utf8" in last
    assert "Traceback" not in done.stdout + done.stderr
    assert "batches delete binary" in done.stdout
    assert [n for n in NEEDLES if n in (done.stdout + done.stderr).encode()] == []
    assert _leaks(Path(os.environ["DAGSTER_HOME"])) == []
    listed = _cli("batches", "list")
    assert "binary" in listed.stdout and "FAILURE" in listed.stdout
