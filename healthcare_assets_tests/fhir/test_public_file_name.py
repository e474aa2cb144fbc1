"""A file name is free text a sender controls: outside the PHI zone only canonical landed names are shown."""

from __future__ import annotations

import gzip
from pathlib import Path

from dagster import DagsterInstance, materialize

from healthcare_assets.config import Paths
from healthcare_assets.defs.extraction import fhir_profile, raw_fhir_ndjson
from healthcare_assets.defs.partitions import EXPORT_BATCH_PARTITIONS
from healthcare_assets.defs.resources import DataHome
from healthcare_assets.fhir.ndjson import WITHHELD_NAME, public_file_name
from healthcare_assets_tests.defs.test_phi_boundary import leaks

NAME = b"Zyskowska"


def test_canonical_names_are_shown_and_anything_else_is_withheld() -> None:
    assert public_file_name("ndjson/Patient.ndjson") == "Patient.ndjson"
    assert public_file_name("ndjson/Observation.002.ndjson.gz") == "Observation.002.ndjson.gz"
    assert public_file_name("ndjson/Zyskowska.ndjson") == WITHHELD_NAME  # capitalised, but not a FHIR type
    assert public_file_name("ndjson/rejected/jane-doe-555-12-3456.ndjson") == WITHHELD_NAME
    assert public_file_name("ndjson/Patient-of-Zyskowska.ndjson") == WITHHELD_NAME


def test_a_name_in_a_file_name_stays_in_the_phi_zone(data_home: Paths, synthea_dir: Path, tmp_path: Path) -> None:
    """The odd file's lines are quarantined (wrong resourceType for its "type"), which fails the structural check:
    its failure message, the metadata tables and the event log name the file only as withheld."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "Patient.ndjson").write_bytes(gzip.decompress((synthea_dir / "Patient.ndjson.gz").read_bytes()))
    lines = (src / "Patient.ndjson").read_bytes().splitlines()[:5]
    (src / "Zyskowska.Patient-list.ndjson").write_bytes(b"\n".join(lines) + b"\n")  # typed "Zyskowska"
    (src / "Zyskowska-notes-0001.ndjson").write_bytes(b"\x00\xff" * 64)  # no type at all: rejected
    with DagsterInstance.get() as instance:
        instance.add_dynamic_partitions(EXPORT_BATCH_PARTITIONS, ["b1"])
        result = materialize(
            [raw_fhir_ndjson, fhir_profile],
            partition_key="b1",
            instance=instance,
            resources={"home": DataHome()},
            run_config={"ops": {"raw_fhir_ndjson": {"config": {"source": "ndjson_dir", "path": str(src)}}}},
            raise_on_error=False,
        )
        events = "".join(repr(e) for e in instance.all_logs(result.run_id)).encode()
    checks = [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    check = next(c for c in checks if c.check_name == "structural_integrity")
    assert not check.passed and WITHHELD_NAME in check.description  # the failure names the file, withheld
    at = events.find(NAME)
    assert at < 0, events[max(0, at - 400) : at + 100]
    assert [hit for hit in leaks(Path(data_home.home.parent / "dagster")) if NAME.decode() in hit] == []
    assert WITHHELD_NAME.encode() in events
    assert (data_home.batch_dir("b1") / "ndjson").exists()  # the PHI zone keeps the names it was given
