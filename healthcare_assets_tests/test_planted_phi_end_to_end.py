"""`healthcare-assets run` on the planted-PHI corpus: the clean rows are published and no planted value reaches
the warehouse, the Dagster instance's storage under $DAGSTER_HOME, the audit ledger or the run's output."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from healthcare_assets.config import Paths
from healthcare_assets.warehouse import Warehouse
from healthcare_assets_tests.deid.planted_phi import write_planted

pytestmark = pytest.mark.slow


def test_planted_phi_stays_in_the_phi_zone(data_home: Paths, synthea_dir: Path, tmp_path: Path) -> None:
    corpus = write_planted(tmp_path / "planted", synthea_dir)
    done = subprocess.run(
        [sys.executable, "-m", "healthcare_assets.cli", "run", "--source", "ndjson", "--path", str(corpus.folder),
         "--batch-id", "planted"],
        env=dict(os.environ), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "✔ check deidentified_observation:residual_phi_scan passed" in output

    secrets = {label: value.lower().encode() for label, value in corpus.planted.items()}
    found = [("output", label) for label, s in secrets.items() if s in output.lower().encode()]
    dagster_home = Path(os.environ["DAGSTER_HOME"])
    outside = [p for p in dagster_home.rglob("*") if p.is_file()] + [
        p for p in data_home.audit.rglob("*") if p.is_file()
    ]
    assert any(p.suffix == ".db" for p in outside)  # the event log really is there to search
    for path in outside:
        data = path.read_bytes().lower()
        found += [(str(path.relative_to(path.anchor)), label) for label, s in secrets.items() if s in data]

    warehouse = Warehouse(data_home.home / "warehouse.duckdb")
    tables = [t for (t,) in warehouse.query("SELECT table_name FROM information_schema.tables")]
    assert {"deidentified_observation", "fhir_profile_code_systems", "fhir_profile_elements"} <= set(tables)
    for table in tables:
        for column, kind in warehouse.query(
            f"SELECT column_name, data_type FROM information_schema.columns WHERE table_name = '{table}'"
        ):
            if kind == "VARCHAR":
                values = [v.lower() for (v,) in warehouse.query(f'SELECT DISTINCT "{column}" FROM {table}') if v]
                found += [(f"{table}.{column}", label) for label, s in secrets.items()
                          for v in values if s.decode() in v]  # fmt: skip
            elif kind in ("DOUBLE", "BIGINT", "INTEGER"):
                hits = warehouse.query(f'SELECT count(*) FROM {table} WHERE "{column}" = {corpus.ssn_number}')
                found += [(f"{table}.{column}", "ssn_number")] if hits[0][0] else []
    assert found == []

    rows = dict(warehouse.query("SELECT 'observation', count(*) FROM deidentified_observation"))
    assert rows["observation"] == corpus.written["Observation"]  # the clean rows (and the fixed ones) published
    systems = [s for (s,) in warehouse.query("SELECT system FROM fhir_profile_code_systems")]
    assert any(s.startswith("local-system-") for s in systems) and "http://loinc.org" in systems
    elements = [e for (e,) in warehouse.query("SELECT element FROM fhir_profile_elements")]
    assert any(e.startswith("unknown-element-") for e in elements)
