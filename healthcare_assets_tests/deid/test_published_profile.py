"""The profile publishes aggregates whose names are allow-listed or replaced, and scans them before publishing."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from healthcare_assets.deid.published_profile import ProfilePublicationError, check, publish_profile
from healthcare_assets.fhir.landing import land_batch
from healthcare_assets.fhir.profile import ProfileLimits, profile_batch
from healthcare_assets.fhir.sources import NdjsonDirSource
from healthcare_assets_tests.deid.planted_phi import SURNAME, write_planted


@pytest.fixture(scope="module")
def profiled(tmp_path_factory: pytest.TempPathFactory, synthea_dir: Path):
    base = tmp_path_factory.mktemp("profile")
    corpus = write_planted(base / "src", synthea_dir)
    batch = land_batch(base / "phi" / "batches", "p", NdjsonDirSource(corpus.folder))
    return corpus, batch, profile_batch(batch, ProfileLimits(max_quarantine_rate=0.5, max_dangling_rate=0.5))


def _strings(published) -> list[str]:
    rows = published.types + published.elements + published.code_systems + published.references
    rows += published.time_ranges
    return [str(v) for row in rows for v in row.values()] + published.failures + list(published.duplicates)


def test_published_names_are_allow_listed_or_replaced(profiled) -> None:
    corpus, batch, result = profiled
    assert any(SURNAME in str(r) for r in result.element_presence)  # the raw profile (PHI zone) has it
    published = publish_profile(result, reference_year=2026)
    text = " ".join(_strings(published)).lower()
    assert [label for label, value in corpus.planted.items() if value.lower() in text] == []
    systems = {
        r["system"]: r["occurrences"] for r in published.code_systems if r["resource_type"] == "DocumentReference"
    }
    # The PHI URI and the mailto: address: replaced, each with its count (numbered batch-wide, by count).
    assert len(systems) == 2 and all(s.startswith("local-system-") and n == 1 for s, n in systems.items())
    assert any(r["element"].startswith("unknown-element-") for r in published.elements)
    years = {r["element"]: r["min_year"] for r in published.time_ranges if r["resource_type"] == "Patient"}
    assert all(y is None or y.startswith("<=") or int(y) > 1936 for y in years.values())
    check(published, batch)  # clean: no exception


def test_a_planted_value_that_slips_through_stops_publication(profiled) -> None:
    corpus, batch, result = profiled
    published = publish_profile(result, reference_year=2026)
    leaked = dataclasses.replace(published, time_ranges=[{**published.time_ranges[0], "min_year": SURNAME}])
    with pytest.raises(ProfilePublicationError) as raised:
        check(leaked, batch)
    assert SURNAME.lower() not in str(raised.value).lower() and "dictionary:name" in str(raised.value)
    failing = dataclasses.replace(published, failures=[f"dangling references: {{'Patient->{SURNAME}': 1}}"])
    check(failing, batch)
    assert SURNAME not in failing.failures[0]


def test_unknown_types_in_failures_are_replaced(profiled) -> None:
    _, _, result = profiled
    fake = dataclasses.replace(
        result,
        references=[*result.references, {"source_type": "Encounter", "target_type": "Quixleyfordish", "total": 3,
                                          "dangling": 3, "unexported": 0}],
        failures=["dangling reference rate 1% exceeds 0% (3 of 3; {'Encounter->Quixleyfordish': 3})"],
    )  # fmt: skip
    published = publish_profile(fake, reference_year=2026)
    assert "Quixleyfordish" not in " ".join(_strings(published))
    assert "Encounter->unknown-type-1" in published.failures[0]


def test_clean_synthea_publishes_every_name_as_is(synthea_run) -> None:
    result = profile_batch(synthea_run.batch)
    published = publish_profile(result, reference_year=2026)
    assert published.replaced == {"resource_types": 0, "elements": 0, "code_systems": 0}
    check(published, synthea_run.batch)
