"""A planted-PHI corpus: real Synthea resources (synthetic PHI) of a few patients, copied and edited so that PHI
sits in every kind of field the hardened de-identification must handle, as an outside privacy tester did.

Classes (issue 9): a code value that is PHI (surname as an Observation code, MRN as a value code, driver's
licence as an Encounter type, phone digits as a SNOMED code, name as a class code and as a UCUM unit, dates
written three ways as procedure codes); enumerated columns holding anything (gender = a surname, state = an
address or a city with its ZIP); a system URI holding an MRN; an SSN's digits as a quantity; a type no view reads
(DocumentReference) with system URIs holding a name, an SSN and a birth date, and a ``mailto:`` address; a JSON
key that is a name; a 400 kB code of free text; a local code system (a common code, a rare one, one that is a
surname); and the false positive: a three-character resource id equal to a patient's ZIP3. Everything else is
clean Synthea and must still be published.
"""

from __future__ import annotations

import copy
import gzip
import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from healthcare_assets.deid.code_systems import LOINC, SNOMED

LOCAL_SYSTEM = "http://hospital.example.org/fhir/CodeSystem/lab-local"
PATIENTS = 8
SURNAME, GIVEN = "Quixleyford", "Rosamund"  # the victim's name, edited into the first patient
VIEW_TYPES = ("Encounter", "Observation", "Condition", "Procedure", "MedicationRequest")


@dataclass
class PlantedCorpus:
    folder: Path
    planted: dict[str, str]  # label -> a value that must not appear anywhere outside the PHI zone
    ssn_number: int  # the SSN's digits, planted as a quantity
    written: dict[str, int]  # resource type -> resources written (all must be published)
    zip3_id: str  # the three-character id equal to a ZIP3 of the batch
    patient_ids: list[str] = field(default_factory=list)


def _read(path: Path) -> list[dict]:
    with gzip.open(path, "rt") as handle:
        return [json.loads(line) for line in handle]


def _subject(resource: dict) -> str | None:
    reference = (resource.get("subject") or resource.get("patient") or {}).get("reference", "")
    return reference.rsplit("/", 1)[-1] if reference else None


def _identifier(patient: dict, code: str) -> str:
    for identifier in patient.get("identifier", []):
        codings = identifier.get("type", {}).get("coding", [])
        if codings and codings[0].get("code") == code:
            return identifier["value"]
    raise KeyError(code)


def write_planted(folder: Path, synthea_dir: Path) -> PlantedCorpus:
    folder.mkdir(parents=True, exist_ok=True)
    patients = [p for p in _read(synthea_dir / "Patient.ndjson.gz") if p.get("address", [{}])[0].get("postalCode")]
    patients = copy.deepcopy(patients[:PATIENTS])
    ids = [p["id"] for p in patients]
    victim = patients[0]
    victim["name"][0]["family"], victim["name"][0]["given"] = SURNAME, [GIVEN]
    mrn, dl, ssn = _identifier(victim, "MR"), _identifier(victim, "DL"), _identifier(victim, "SS")
    phone = victim["telecom"][0]["value"]
    address = victim["address"][0]
    born = date.fromisoformat(victim["birthDate"])
    by_type = {t: [r for r in _read(synthea_dir / f"{t}.ndjson.gz") if _subject(r) in ids] for t in VIEW_TYPES}
    for kind in ("Practitioner", "Organization"):
        by_type[kind] = _read(synthea_dir / f"{kind}.ndjson.gz")

    def own(kind: str, who: str = ids[0], where=lambda r: True) -> dict:
        return copy.deepcopy(next(r for r in by_type[kind] if _subject(r) == who and where(r)))

    def quantity(r: dict) -> bool:
        return "valueQuantity" in r and r["code"]["coding"][0]["system"] == LOINC

    planted_obs, planted_other = [], {"Encounter": [], "Condition": [], "Procedure": []}
    surname_code = own("Observation", where=quantity)
    surname_code["code"]["coding"][0]["code"] = SURNAME  # 1: a surname as a LOINC code
    mrn_value = own("Observation", where=quantity)
    del mrn_value["valueQuantity"]
    mrn_value["valueCodeableConcept"] = {"coding": [{"system": SNOMED, "code": mrn}]}  # 1: MRN as a value code
    ssn_quantity = own("Observation", where=quantity)
    ssn_number = int("".join(c for c in ssn if c.isdigit()))
    ssn_quantity["valueQuantity"]["value"] = ssn_number  # 4: an SSN's digits as a number
    mrn_uri = f"http://hosp.example/patients/{mrn}/obs"
    uri_system = own("Observation", where=quantity)
    uri_system["code"]["coding"][0]["system"] = mrn_uri  # 3: an MRN inside a system URI
    unit = own("Observation", where=quantity)
    unit["valueQuantity"]["code"] = unit["valueQuantity"]["unit"] = GIVEN  # 1: a name as a UCUM unit
    named_key = own("Observation", where=quantity)
    named_key[SURNAME] = "see chart"  # 5: a JSON key that is a name (element presence is published)
    zip3_id = address["postalCode"][:3]
    short_id = own("Observation", where=quantity)  # 6: the false positive, a 3-character id equal to a ZIP3
    huge = own("Observation", where=quantity)
    huge["code"]["coding"][0]["code"] = f"{GIVEN} {SURNAME} " * 20_000  # a 400 kB line: free text as a code
    planted_obs += [surname_code, mrn_value, ssn_quantity, uri_system, unit, named_key, short_id, huge]
    # A local code system: a code used for six patients (kept when declared), a rare one, one that is a surname.
    for index, who in enumerate(ids[:6]):
        for code in ("GLU-POC", SURNAME) + (("RARE-7",) if index == 0 else ()):
            local = own("Observation", who=who, where=quantity)
            local["code"]["coding"] = [{"system": LOCAL_SYSTEM, "code": code}]
            planted_obs.append(local)
    encounter = own("Encounter")
    encounter["type"][0]["coding"][0]["code"] = dl  # 1: a driver's licence as an Encounter type
    encounter["class"]["code"] = SURNAME  # 1: a name as a class code
    planted_other["Encounter"].append(encounter)
    condition = own("Condition")
    condition["code"]["coding"][0]["code"] = "".join(c for c in phone if c.isdigit())  # 1: phone digits as SNOMED
    planted_other["Condition"].append(condition)
    written_dates = [f"{born:%d-%b-%Y}", f"{born:%Y/%m/%d}", f"{born:%B} {born.day}, {born.year}"]
    for text in written_dates:  # 1: dates as procedure codes
        procedure = own("Procedure")
        procedure["code"]["coding"][0]["code"] = text
        planted_other["Procedure"].append(procedure)
    patients[1]["gender"] = patients[1]["name"][0]["family"]  # 2: a surname as gender
    street = f"{address['line'][0]}, {address['city']}"
    patients[2]["address"][0]["state"] = street  # 2: an address (of the victim) as a state
    city_zip = f"{address['city']} {address['postalCode']}"
    patients[3]["address"][0]["state"] = city_zip  # 2: a city with its ZIP5 as a state
    mailto = f"mailto:{GIVEN.lower()}.{SURNAME.lower()}@example.org"
    doc_uri = f"http://records.example/{SURNAME}/{ssn}/{born.isoformat()}/codes"
    document = {  # 5: a type no view reads, its system URIs carrying PHI
        "resourceType": "DocumentReference",
        "id": "planted-doc-1",
        "status": "current",
        "subject": {"reference": f"Patient/{ids[0]}"},
        "type": {"coding": [{"system": doc_uri, "code": "note"}, {"system": mailto, "code": "sent"}]},
        "content": [{"attachment": {"contentType": "text/plain"}}],
    }

    for index, resource in enumerate(planted_obs):
        resource["id"] = f"planted-obs-{index}"
    short_id["id"] = zip3_id
    for kind, resources in planted_other.items():
        for index, resource in enumerate(resources):
            resource["id"] = f"planted-{kind.lower()}-{index}"
    files = {"Patient": patients, "DocumentReference": [document]}
    for kind in VIEW_TYPES + ("Practitioner", "Organization"):
        files[kind] = by_type[kind] + (planted_obs if kind == "Observation" else planted_other.get(kind, []))
    for kind, resources in files.items():
        (folder / f"{kind}.ndjson").write_text("".join(json.dumps(r) + "\n" for r in resources))
    planted = {
        "surname": SURNAME,
        "given": GIVEN,
        "mrn": mrn,
        "driver_licence": dl,
        "ssn": ssn,
        "ssn_digits": str(ssn_number),
        "phone_digits": "".join(c for c in phone if c.isdigit()),
        "birth_date": born.isoformat(),
        **{f"date_{i}": text for i, text in enumerate(written_dates)},
        "address_line": address["line"][0],
        "state_street": street,
        "state_city_zip": city_zip,
        "mrn_uri": mrn_uri,
        "doc_uri": doc_uri,
        "mailto": mailto,
        "other_surname": patients[1]["name"][0]["family"],
    }
    return PlantedCorpus(folder, planted, ssn_number, {k: len(v) for k, v in files.items()}, zip3_id, ids)
