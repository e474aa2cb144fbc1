"""The synthetic FHIR cohort: determinism, realism, referential integrity, known truth, mess and drift."""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import polars as pl
import pytest

from healthcare_assets.synthetic import (
    ALL_RESOURCE_TYPES,
    GROUND_TRUTH_COLUMNS,
    RESTRICTED_ZIP3,
    STAY_MERGE_GAP_HOURS,
    DischargeState,
    GenerationSummary,
    SyntheticConfig,
    SyntheticConfigError,
    auroc,
    charlson_index,
    generate_cohort,
    true_readmission_probability,
)
from healthcare_assets.synthetic import generator as generator_module

ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"


# ----------------------------------------------------------------------------------------------- helpers
class Export:
    """One generated export, parsed lazily per resource type."""

    def __init__(self, root: Path, summary: GenerationSummary):
        self.root = root
        self.summary = summary
        self._parsed: dict[str, tuple[list[dict[str, Any]], int]] = {}
        self._unique: dict[str, list[dict[str, Any]]] = {}
        self.truth = pl.read_parquet(summary.ground_truth_path)

    def raw_lines(self, rtype: str) -> list[bytes]:
        return (self.root / "export" / f"{rtype}.ndjson").read_bytes().splitlines()

    def _parse(self, rtype: str) -> tuple[list[dict[str, Any]], int]:
        if rtype not in self._parsed:
            good, bad = [], 0
            for line in self.raw_lines(rtype):
                try:
                    good.append(orjson.loads(line))
                except orjson.JSONDecodeError:
                    bad += 1
            self._parsed[rtype] = (good, bad)
        return self._parsed[rtype]

    def resources(self, rtype: str) -> list[dict[str, Any]]:
        return self._parse(rtype)[0]

    def bad_lines(self, rtype: str) -> int:
        return self._parse(rtype)[1]

    def unique(self, rtype: str) -> list[dict[str, Any]]:
        if rtype not in self._unique:
            seen: dict[str, dict[str, Any]] = {}
            for r in self.resources(rtype):
                seen.setdefault(r["id"], r)
            self._unique[rtype] = list(seen.values())
        return self._unique[rtype]


def _generate(tmp: Path, **overrides: Any) -> Export:
    config = SyntheticConfig(**{"patients": 300, "workers": 1, **overrides})
    summary = generate_cohort(tmp / "export", config, tmp / "truth.parquet")
    return Export(tmp, summary)


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value)


_REFERENCE = re.compile(rb'"reference":"([A-Za-z]+)/([^"]+)"')


def _references(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        ref = node.get("reference")
        if isinstance(ref, str):
            yield ref
        for value in node.values():
            yield from _references(value)
    elif isinstance(node, list):
        for item in node:
            yield from _references(item)


def _merged_stays(encounters: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Stays by the documented rule: EMER/IMP encounters of a patient with gaps of at most 6 hours."""
    by_patient: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in encounters:
        if e["class"]["code"] in ("EMER", "IMP"):
            by_patient[e["subject"]["reference"]].append(e)
    stays = []
    gap = timedelta(hours=STAY_MERGE_GAP_HOURS)
    for encs in by_patient.values():
        encs.sort(key=lambda e: _ts(e["period"]["start"]))
        current: list[dict[str, Any]] = []
        latest_end: datetime | None = None
        for e in encs:
            start = _ts(e["period"]["start"])
            if current and latest_end is not None and start <= latest_end + gap:
                current.append(e)
            else:
                if current:
                    stays.append(current)
                current = [e]
            end = e["period"].get("end")
            latest_end = _ts(end) if end else None if not current else latest_end
            if end is None:
                latest_end = None
        if current:
            stays.append(current)
    return stays


@pytest.fixture(scope="module")
def default_export(tmp_path_factory: pytest.TempPathFactory) -> Export:
    """The demo-size cohort with the default configuration (2 workers)."""
    root = tmp_path_factory.mktemp("default")
    summary = generate_cohort(root / "export", SyntheticConfig(patients=2000), root / "truth.parquet")
    return Export(root, summary)


# ------------------------------------------------------------------------------------------ configuration
@pytest.mark.parametrize(
    "overrides",
    [
        {"patients": -1},
        {"patients": 0},
        {"patients": 2.5},
        {"patients": True},
        {"seed": -3},
        {"workers": 0},
        {"malformed_rate": 1.5},
        {"duplicate_rate": -0.1},
        {"missing_rate": float("nan")},
        {"case_mix_shift": 10.0},
        {"creatinine_shift": float("inf")},
        {"icd10_dropped": "yes"},
        {"end_date": "30/06/2026"},
        {"end_date": date(1900, 1, 1)},
        {"history_years": 0},
    ],
)
def test_bad_config_is_refused_with_a_clear_error(overrides: dict[str, Any]) -> None:
    with pytest.raises(SyntheticConfigError) as info:
        SyntheticConfig(**overrides)
    assert next(iter(overrides)) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_config_defaults_and_iso_end_date() -> None:
    config = SyntheticConfig(end_date="2025-01-31")
    assert config.end_date == date(2025, 1, 31)
    default = SyntheticConfig()
    assert (default.patients, default.seed, default.workers, default.end_date) == (2000, 42, 2, date(2026, 6, 30))
    assert default.as_dict()["end_date"] == "2026-06-30"


def test_ground_truth_inside_the_export_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="outside out_dir"):
        generate_cohort(tmp_path / "export", SyntheticConfig(patients=5, workers=1), tmp_path / "export" / "gt.parquet")
    assert not (tmp_path / "export" / "Patient.ndjson").exists()


def test_a_failure_leaves_no_partial_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(generator_module, "write_ground_truth", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        generate_cohort(tmp_path / "export", SyntheticConfig(patients=20, workers=1), tmp_path / "gt.parquet")
    assert list((tmp_path / "export").iterdir()) == []
    assert not (tmp_path / "gt.parquet").exists()


# -------------------------------------------------------------------------------------------- determinism
def _file_bytes(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(root.iterdir())}


def test_same_seed_same_bytes_whatever_the_workers_and_shards(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = SyntheticConfig(patients=320, seed=7, workers=1)
    generate_cohort(tmp_path / "a", config, tmp_path / "a.parquet")
    generate_cohort(tmp_path / "b", replace(config, workers=2), tmp_path / "b.parquet")
    monkeypatch.setattr(generator_module, "SHARD_SIZE", 37)
    generate_cohort(tmp_path / "c", replace(config, workers=1), tmp_path / "c.parquet")
    a = _file_bytes(tmp_path / "a")
    assert set(a) == {f"{t}.ndjson" for t in ALL_RESOURCE_TYPES}
    assert a == _file_bytes(tmp_path / "b")
    assert a == _file_bytes(tmp_path / "c")
    truth = pl.read_parquet(tmp_path / "a.parquet")
    assert truth.equals(pl.read_parquet(tmp_path / "b.parquet"))
    assert truth.equals(pl.read_parquet(tmp_path / "c.parquet"))


def test_another_seed_gives_other_data(tmp_path: Path) -> None:
    generate_cohort(tmp_path / "a", SyntheticConfig(patients=30, seed=1, workers=1), tmp_path / "a.parquet")
    generate_cohort(tmp_path / "b", SyntheticConfig(patients=30, seed=2, workers=1), tmp_path / "b.parquet")
    a, b = _file_bytes(tmp_path / "a"), _file_bytes(tmp_path / "b")
    assert all(a[name] != b[name] for name in a)
    ids_a = {orjson.loads(x)["id"] for x in a["Patient.ndjson"].splitlines() if x.startswith(b"{") and x.endswith(b"}")}
    ids_b = {orjson.loads(x)["id"] for x in b["Patient.ndjson"].splitlines() if x.startswith(b"{") and x.endswith(b"}")}
    assert not ids_a & ids_b


# ------------------------------------------------------------------------------------------------ realism
def test_summary_counts_match_the_files(default_export: Export) -> None:
    s = default_export.summary
    assert s.patients == 2000
    for rtype in ALL_RESOURCE_TYPES:
        assert len(default_export.unique(rtype)) == s.resource_counts[rtype], rtype
        assert s.bytes_written[rtype] == (default_export.root / "export" / f"{rtype}.ndjson").stat().st_size
    assert s.resource_counts["Patient"] == 2000
    assert s.resource_counts["Observation"] > 20 * 2000
    assert s.seconds > 0


def test_readmission_rate_and_oracle_auroc_are_plausible(default_export: Export) -> None:
    s = default_export.summary
    assert s.index_stays > 800
    assert 0.08 <= s.readmission_rate <= 0.20
    assert s.oracle_auroc > 0.65
    truth = default_export.truth.filter(pl.col("followup_complete"))
    assert s.readmission_rate == pytest.approx(truth["readmitted_30d"].mean())
    assert s.oracle_auroc == pytest.approx(
        auroc(truth["readmitted_30d"].to_numpy(), truth["true_probability"].to_numpy())
    )
    # Calibrated by construction: mean predicted close to the realized rate.
    assert abs(s.mean_true_probability - s.readmission_rate) < 0.03


def test_patients_look_like_synthea_with_phi(default_export: Export) -> None:
    patients = default_export.unique("Patient")
    end = date(2026, 6, 30)
    ages = [(end - date.fromisoformat(p["birthDate"])).days / 365.25 for p in patients]
    over_89 = sum(a > 89 for a in ages) / len(ages)
    assert over_89 >= 0.02, over_89
    zip3 = [p["address"][0]["postalCode"][:3] for p in patients]
    restricted = sum(z in RESTRICTED_ZIP3 for z in zip3)
    assert restricted >= 10
    assert len({z for z in zip3 if z in RESTRICTED_ZIP3}) >= 5
    id_types = defaultdict(int)
    ext_urls = defaultdict(int)
    for p in patients:
        for ident in p["identifier"]:
            code = ident.get("type", {}).get("coding", [{}])[0].get("code", "plain")
            id_types[code] += 1
            if code == "SS":
                assert ident["system"] == "http://hl7.org/fhir/sid/us-ssn"
        for ext in p["extension"]:
            ext_urls[ext["url"].rsplit("/", 1)[1]] += 1
        official = p["name"][0]
        assert official["use"] == "official" and official["family"] and official["given"]
        assert p["gender"] in ("male", "female", "other", "unknown")
    assert id_types["plain"] == id_types["MR"] == id_types["SS"] == len(patients)
    assert id_types["DL"] > len(patients) / 2
    for url in ("us-core-race", "us-core-ethnicity", "patient-birthPlace", "patient-mothersMaidenName"):
        assert ext_urls[url] > 0.9 * len(patients), url
    assert sum("deceasedDateTime" in p for p in patients) > 0
    assert sum(any(n["use"] == "maiden" for n in p["name"]) for p in patients) > 0
    assert sum(any(t["system"] == "email" for t in p.get("telecom", [])) for p in patients) > 0
    geo = [p["address"][0]["extension"][0] for p in patients if "extension" in p["address"][0]]
    assert geo and geo[0]["url"] == "http://hl7.org/fhir/StructureDefinition/geolocation"
    races = {
        e["extension"][0]["valueCoding"]["code"] for p in patients for e in p["extension"] if e["url"].endswith("race")
    }
    assert {"2106-3", "2054-5", "2028-9"} <= races


def test_every_reference_resolves_and_ids_are_unique(default_export: Export) -> None:
    ids: dict[str, set[str]] = {}
    for rtype in ALL_RESOURCE_TYPES:
        distinct_lines = {orjson.dumps(r) for r in default_export.resources(rtype)}
        unique = default_export.unique(rtype)
        assert len(distinct_lines) == len(unique), f"two different {rtype} resources share an id"
        ids[rtype] = {r["id"] for r in unique}
    n = 0
    for rtype in ALL_RESOURCE_TYPES:
        for line in default_export.raw_lines(rtype):
            for target_type, target_id in _REFERENCE.findall(line):
                assert target_id.decode() in ids[target_type.decode()], f"{rtype}: {line[:80]!r}"
                n += 1
    assert n > 100_000
    # The regular expression sees every reference the JSON holds (checked on a sample).
    sample = default_export.resources("Encounter")[:200] + default_export.resources("Observation")[:500]
    assert sum(len(list(_references(r))) for r in sample) == sum(
        len(_REFERENCE.findall(orjson.dumps(r))) for r in sample
    )


def test_encounters_subjects_and_providers(default_export: Export) -> None:
    names = {}
    for p in default_export.unique("Patient"):
        official = p["name"][0]
        names[f"Patient/{p['id']}"] = " ".join(
            official.get("prefix", []) + official["given"][:1] + [official["family"]]
        )
    classes = defaultdict(int)
    for e in default_export.unique("Encounter"):
        classes[e["class"]["code"]] += 1
        assert e["subject"]["display"] == names[e["subject"]["reference"]]
        assert e["period"]["start"][-6] in "+-"  # offset, never naive
        assert e["serviceProvider"]["reference"].startswith("Organization/")
    assert set(classes) == {"AMB", "EMER", "IMP"}
    dispositions = {
        e["hospitalization"]["dischargeDisposition"]["coding"][0]["code"]
        for e in default_export.unique("Encounter")
        if "dischargeDisposition" in e.get("hospitalization", {})
    }
    assert {"home", "snf", "aadvice", "other-hcf", "exp", "hosp", "rehab"} <= dispositions
    sources = {
        e["hospitalization"]["admitSource"]["coding"][0]["code"]
        for e in default_export.unique("Encounter")
        if "admitSource" in e.get("hospitalization", {})
    }
    assert {"emd", "gp", "mp", "outp"} <= sources


def test_contiguous_ed_inpatient_ward_chains(default_export: Export) -> None:
    stays = _merged_stays(default_export.unique("Encounter"))
    shapes = defaultdict(int)
    same_minute = part_of = continuations = 0
    for stay in stays:
        shapes[tuple(e["class"]["code"] for e in stay)] += 1
        for prev, nxt in zip(stay, stay[1:], strict=False):
            continuations += 1
            gap = _ts(nxt["period"]["start"]) - _ts(prev["period"]["end"])
            assert timedelta(0) <= gap <= timedelta(hours=STAY_MERGE_GAP_HOURS)
            same_minute += gap < timedelta(minutes=1)
            part_of += "partOf" in nxt
    assert shapes[("EMER", "IMP")] > 50
    assert shapes[("EMER", "IMP", "IMP")] > 10
    assert shapes[("IMP", "IMP")] > 5
    assert same_minute > continuations / 3
    assert 0 < part_of < continuations / 3


def test_ground_truth_matches_the_encounters(default_export: Export) -> None:
    truth = default_export.truth
    assert tuple(truth.columns) == GROUND_TRUTH_COLUMNS
    assert truth["stay_id"].n_unique() == truth.height == default_export.summary.index_stays
    encounters = default_export.unique("Encounter")
    by_id = {e["id"]: e for e in encounters}
    stays = _merged_stays(encounters)
    discharges = {}
    for stay in stays:
        last = stay[-1]
        if not any(e["class"]["code"] == "IMP" for e in stay) or "end" not in last["period"]:
            continue
        if last.get("status") != "finished":
            continue
        disposition = last.get("hospitalization", {}).get("dischargeDisposition", {}).get("coding", [{}])[0].get("code")
        discharges[last["id"]] = (stay, disposition)
    truth_ids = set(truth["discharge_encounter_id"].to_list())
    # Every ground-truth row is a merged inpatient stay of the export, with the same chain.
    for row in truth.iter_rows(named=True):
        stay, _ = discharges[row["discharge_encounter_id"]]
        assert [e["id"] for e in stay] == row["encounter_ids"]
        assert stay[-1]["period"]["end"] == row["discharge_time"]
        assert 0.0 < row["true_probability"] < 1.0
    # Every merged inpatient discharge not ending in death is a ground-truth row.
    missing = {k for k, (_, disp) in discharges.items() if disp != "exp"} - truth_ids
    unknown = {k for k in missing if "dischargeDisposition" not in by_id[k].get("hospitalization", {})}
    assert missing == unknown  # only those whose disposition is missing (could be a death) are not told apart here

    # Labels come from encounters: readmitted iff a later IMP of the patient starts within 30 days.
    imp_starts: dict[str, list[datetime]] = defaultdict(list)
    for e in encounters:
        if e["class"]["code"] == "IMP":
            imp_starts[e["subject"]["reference"]].append(_ts(e["period"]["start"]))
    readmitted = 0
    for row in truth.filter(pl.col("followup_complete")).iter_rows(named=True):
        t = _ts(row["discharge_time"])
        later = [s for s in imp_starts[f"Patient/{row['patient_id']}"] if t < s <= t + timedelta(days=30)]
        assert bool(later) == bool(row["readmitted_30d"]), row["stay_id"]
        if row["readmitted_30d"]:
            readmitted += 1
            assert 1.0 <= row["days_to_readmission"] <= 30.0
            assert by_id[row["readmission_encounter_id"]]["class"]["code"] == "IMP"
    assert readmitted > 50


def test_deaths_are_consistent(default_export: Export) -> None:
    deceased = {
        f"Patient/{p['id']}": _ts(p["deceasedDateTime"])
        for p in default_export.unique("Patient")
        if "deceasedDateTime" in p
    }
    assert deceased
    expired = 0
    for e in default_export.unique("Encounter"):
        died = deceased.get(e["subject"]["reference"])
        if died is None:
            continue
        assert _ts(e["period"]["start"]) <= died
        disposition = e.get("hospitalization", {}).get("dischargeDisposition", {}).get("coding", [{}])[0].get("code")
        if disposition == "exp":
            expired += 1
            assert _ts(e["period"]["end"]) == died
    assert expired > 0


def test_conditions_carry_snomed_and_icd10(default_export: Export) -> None:
    conditions = default_export.unique("Condition")
    systems = [tuple(c["system"] for c in cond["code"]["coding"]) for cond in conditions]
    assert all(set(s) == {SNOMED, ICD10} for s in systems)
    assert any(s[0] == ICD10 for s in systems)  # coding order is not fixed: find codings by system
    icd = {c["code"] for cond in conditions for c in cond["code"]["coding"] if c["system"] == ICD10}
    for prefix in ("I50", "J44", "E11", "N18", "I21", "C", "J18", "A41", "N39.0"):
        assert any(code.startswith(prefix) for code in icd), prefix
    statuses = {c["clinicalStatus"]["coding"][0]["code"] for c in conditions}
    assert statuses == {"active", "resolved"}


def test_observations_units_and_free_text(default_export: Export) -> None:
    observations = default_export.unique("Observation")
    seen = defaultdict(int)
    phones = {p["telecom"][0]["value"] for p in default_export.unique("Patient") if p.get("telecom")}
    phi_text = 0
    for o in observations:
        code = o["code"]["coding"][0]["code"]
        q = o.get("valueQuantity")
        if q is not None:
            assert q["system"] == "http://unitsofmeasure.org"
            seen[(code, q["code"])] += 1
        if "component" in o:
            assert code == "85354-9"
            seen[("85354-9", "panel")] += 1
        texts = [n["text"] for n in o.get("note", [])] + ([o["valueString"]] if "valueString" in o else [])
        phi_text += any(phone in text for text in texts for phone in phones)
    for key in [
        ("8867-4", "/min"), ("8480-6", "mm[Hg]"), ("8462-4", "mm[Hg]"), ("85354-9", "panel"), ("8310-5", "Cel"),
        ("8310-5", "[degF]"), ("9279-1", "/min"), ("29463-7", "kg"), ("8302-2", "cm"), ("39156-5", "kg/m2"),
        ("2160-0", "mg/dL"), ("14682-9", "umol/L"), ("2345-7", "mg/dL"), ("15074-8", "mmol/L"), ("2823-3", "mmol/L"),
        ("2951-2", "mmol/L"), ("6690-2", "10*3/uL"), ("718-7", "g/dL"), ("4548-4", "%"), ("1742-6", "U/L"),
        ("1920-8", "U/L"), ("777-3", "10*3/uL"), ("3094-0", "mg/dL"),
    ]:  # fmt: skip
        assert seen[key] > 0, key
    assert seen[("59408-5", "%")] + seen[("2708-6", "%")] > 0
    assert phi_text > 0
    temps_f = [o["valueQuantity"]["value"] for o in observations if o.get("valueQuantity", {}).get("code") == "[degF]"]
    assert 93.0 < sum(temps_f) / len(temps_f) < 101.0


def test_medications_and_procedures(default_export: Export) -> None:
    meds = default_export.unique("MedicationRequest")
    assert {m["status"] for m in meds} == {"active", "stopped"}
    assert all(m["intent"] == "order" for m in meds)
    assert all(
        m["medicationCodeableConcept"]["coding"][0]["system"] == "http://www.nlm.nih.gov/research/umls/rxnorm"
        for m in meds
    )
    assert sum("dosageInstruction" in m for m in meds) > len(meds) / 3
    procedures = default_export.unique("Procedure")
    assert all(p["status"] == "completed" and p["code"]["coding"][0]["system"] == SNOMED for p in procedures)
    assert sum("performedPeriod" in p for p in procedures) > len(procedures) / 2


# ---------------------------------------------------------------------------------------------------- mess
def test_malformed_and_duplicate_lines_at_the_configured_rates(tmp_path: Path) -> None:
    export = _generate(tmp_path, malformed_rate=0.01, duplicate_rate=0.01)
    s = export.summary
    bad = sum(export.bad_lines(t) for t in ALL_RESOURCE_TYPES)
    assert bad == s.malformed_lines
    valid_lines = sum(s.resource_counts[t] for t in ALL_RESOURCE_TYPES[:6])
    assert 0.007 * valid_lines < bad < 0.013 * valid_lines
    dup = sum(len(export.resources(t)) - len(export.unique(t)) for t in ALL_RESOURCE_TYPES)
    assert dup == s.duplicate_lines
    assert 0.007 * valid_lines < dup < 0.013 * valid_lines
    for rtype in ALL_RESOURCE_TYPES[:6]:  # duplicates are exact copies of the line
        lines = export.raw_lines(rtype)
        by_id = defaultdict(set)
        for line in lines:
            try:
                by_id[orjson.loads(line)["id"]].add(line)
            except orjson.JSONDecodeError:
                pass
        assert all(len(v) == 1 for v in by_id.values())


def test_zero_rates_give_clean_json(tmp_path: Path) -> None:
    export = _generate(tmp_path, malformed_rate=0.0, duplicate_rate=0.0, missing_rate=0.0)
    assert sum(export.bad_lines(t) for t in ALL_RESOURCE_TYPES) == 0
    assert export.summary.malformed_lines == export.summary.duplicate_lines == 0
    for rtype in ALL_RESOURCE_TYPES:
        assert len(export.resources(rtype)) == len(export.unique(rtype))
    assert all("issued" in o and "encounter" in o for o in export.resources("Observation"))
    assert all("telecom" in p for p in export.resources("Patient"))


def test_mess_rates_do_not_change_the_clinical_content(tmp_path: Path) -> None:
    clean = _generate(tmp_path / "clean", malformed_rate=0.0, duplicate_rate=0.0, missing_rate=0.0)
    messy = _generate(tmp_path / "messy", malformed_rate=0.05, duplicate_rate=0.05, missing_rate=0.2)
    assert clean.truth.equals(messy.truth)
    values = lambda e: {o["id"]: o.get("valueQuantity", {}).get("value") for o in e.unique("Observation")}  # noqa: E731
    assert values(clean) == values(messy)
    assert sum(len(clean.raw_lines(t)) for t in ALL_RESOURCE_TYPES) < sum(
        len(messy.raw_lines(t)) for t in ALL_RESOURCE_TYPES
    )
    pairs = zip(messy.unique("Encounter"), clean.unique("Encounter"), strict=True)
    assert sum(orjson.dumps(o) != orjson.dumps(c) for o, c in pairs) > 0


# --------------------------------------------------------------------------------------------------- drift
def _lab_values(export: Export, loinc: str) -> dict[str, float]:
    return {
        o["id"]: o["valueQuantity"]["value"]
        for o in export.unique("Observation")
        if o["code"]["coding"][0]["code"] == loinc and "valueQuantity" in o
    }


def test_creatinine_shift_biases_reported_creatinine_only(tmp_path: Path) -> None:
    base = _generate(tmp_path / "base", patients=150)
    shifted = _generate(tmp_path / "shifted", patients=150, creatinine_shift=0.5)
    before, after = _lab_values(base, "2160-0"), _lab_values(shifted, "2160-0")
    assert before.keys() == after.keys() and len(before) > 50
    diffs = [after[k] - before[k] for k in before]
    assert all(abs(d - 0.5) < 0.011 for d in diffs)
    si_before, si_after = _lab_values(base, "14682-9"), _lab_values(shifted, "14682-9")
    assert si_before and all(abs(si_after[k] - si_before[k] - 0.5 * 88.42) <= 1.0 for k in si_before)
    assert _lab_values(base, "718-7") == _lab_values(shifted, "718-7")
    assert base.truth.equals(shifted.truth)  # the assay moved, not the patients


def test_case_mix_shift_makes_an_older_sicker_population(tmp_path: Path) -> None:
    base = _generate(tmp_path / "base", patients=300)
    sick = _generate(tmp_path / "sick", patients=300, case_mix_shift=1.5)

    def mean_age(export: Export) -> float:
        end = date(2026, 6, 30)
        ages = [(end - date.fromisoformat(p["birthDate"])).days / 365.25 for p in export.unique("Patient")]
        return sum(ages) / len(ages)

    assert mean_age(sick) > mean_age(base) + 7
    assert sick.truth["charlson"].mean() > base.truth["charlson"].mean() + 0.8
    assert sick.truth.height > base.truth.height
    assert sick.summary.readmission_rate > base.summary.readmission_rate


def test_icd10_dropped_leaves_snomed_only(tmp_path: Path) -> None:
    export = _generate(tmp_path, patients=100, icd10_dropped=True)
    conditions = export.unique("Condition")
    assert conditions
    for cond in conditions:
        assert [c["system"] for c in cond["code"]["coding"]] == [SNOMED]


# ------------------------------------------------------------------------------------------- risk model
def test_risk_model_direction_and_charlson() -> None:
    base = DischargeState(
        age_years=65, charlson=2, prior_admissions_12m=0, los_days=4, ed_admission=True, icu_stay=False,
        creatinine_mg_dl=1.0, hemoglobin_g_dl=13.0, sodium_mmol_l=140.0, disposition="home", active_medications=3,
    )  # fmt: skip
    p = true_readmission_probability(base)
    assert 0.05 < p < 0.2
    worse = [
        replace(base, age_years=85), replace(base, charlson=6), replace(base, prior_admissions_12m=2),
        replace(base, los_days=12), replace(base, creatinine_mg_dl=2.5), replace(base, hemoglobin_g_dl=8.5),
        replace(base, sodium_mmol_l=130.0), replace(base, disposition="aadvice"), replace(base, disposition="snf"),
        replace(base, active_medications=12),
    ]  # fmt: skip
    assert all(true_readmission_probability(w) > p for w in worse)
    assert true_readmission_probability(replace(base, disposition="hosp")) < p
    assert charlson_index(["dm", "dm_comp", "cancer", "metastatic", "chf", "htn"]) == 2 + 6 + 1
    assert math.isnan(auroc([1, 1], [0.2, 0.3]))
    assert auroc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)


def test_shard_concatenation_falls_back_when_the_kernel_copy_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = SyntheticConfig(patients=60, seed=3, workers=1)
    monkeypatch.setattr(generator_module, "SHARD_SIZE", 16)
    generate_cohort(tmp_path / "a", config, tmp_path / "a.csv")

    def broken(*args: Any, **kwargs: Any) -> int:
        raise OSError(38, "Function not implemented")

    monkeypatch.setattr(generator_module.os, "copy_file_range", broken, raising=False)
    generate_cohort(tmp_path / "b", config, tmp_path / "b.csv")
    assert _file_bytes(tmp_path / "a") == _file_bytes(tmp_path / "b")
    truth = pl.read_csv(tmp_path / "a.csv")
    assert truth.columns == list(GROUND_TRUTH_COLUMNS)
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
