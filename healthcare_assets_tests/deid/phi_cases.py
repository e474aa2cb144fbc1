"""A small FHIR batch carrying at least one value of each of the 18 Safe Harbor categories, in the elements where
EHRs put them, and the raw values that must never reach the de-identified zone."""

from __future__ import annotations

import json
from pathlib import Path

OLD = "old-patient-0001"
YOUNG = "young-patient-0002"
ENC1, ENC2, ENC3 = "enc-0001", "enc-0002", "enc-0003"

# Every one of these strings is PHI of the batch; none may appear in any de-identified value.
PHI_VALUES = {
    "names": ["Eleanor", "Vandermeer", "Rosalind", "Quixley", "Dr. Hartwell Brisby", "Brisby"],
    "geographic_subdivisions": ["42 Wallaby Way", "Sydneyville", "Pemberton County", "03601", "02139-4307"],
    "dates": ["1930-05-17", "2020-03-01", "05/17/1930", "19300517", "2021-06-01"],
    "telephone_numbers": ["555-867-5309", "(555) 222-3344"],
    "fax_numbers": ["555-111-2222"],
    "email_addresses": ["eleanor.v@example.org"],
    "social_security_numbers": ["999-12-3456"],
    "medical_record_numbers": ["MRN-778899"],
    "health_plan_beneficiary_numbers": ["HPB-55512"],
    "account_numbers": ["ACCT-0099812"],
    "certificate_license_numbers": ["S99988877"],
    "vehicle_identifiers": ["1HGCM82633A004352"],
    "device_identifiers": ["UDI-(01)00844588003288", "SN-77881"],
    "web_urls": ["https://eleanor-vandermeer.example.com/blog"],
    "ip_addresses": ["192.168.17.42"],
    "biometric_identifiers": ["fingerprint-template-AB12CD"],
    "full_face_photographs": ["https://photos.example.org/eleanor.jpg", "iVBORw0KGgoAAAANSUhEUg"],
    "other_unique_identifiers": [OLD, YOUNG, ENC1, "PPN-X1234567"],
}


def _identifier(code: str, value: str, system: str = "urn:example:ids") -> dict:
    return {
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": code}]},
        "system": system,
        "value": value,
    }


def write_cases(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    old = {
        "resourceType": "Patient",
        "id": OLD,
        "extension": [
            {
                "url": "http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName",
                "valueString": "Rosalind Quixley",
            },
            {
                "url": "http://hl7.org/fhir/StructureDefinition/patient-birthPlace",
                "valueAddress": {"city": "Sydneyville", "state": "MA", "country": "US"},
            },
            {
                "url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race",
                "extension": [
                    {
                        "url": "ombCategory",
                        "valueCoding": {"system": "urn:oid:2.16.840.1.113883.6.238", "code": "2106-3"},
                    },
                    {"url": "text", "valueString": "White"},
                ],
            },
            {"url": "urn:example:biometric", "valueString": "fingerprint-template-AB12CD"},
        ],
        "identifier": [
            _identifier("SS", "999-12-3456", "http://hl7.org/fhir/sid/us-ssn"),
            _identifier("MR", "MRN-778899"),
            _identifier("MB", "HPB-55512"),
            _identifier("AN", "ACCT-0099812"),
            _identifier("DL", "S99988877"),
            _identifier("PPN", "PPN-X1234567"),
        ],
        "name": [{"use": "official", "family": "Vandermeer", "given": ["Eleanor"], "prefix": ["Mrs."]}],
        "telecom": [
            {"system": "phone", "value": "555-867-5309"},
            {"system": "phone", "value": "(555) 222-3344"},
            {"system": "fax", "value": "555-111-2222"},
            {"system": "email", "value": "eleanor.v@example.org"},
            {"system": "url", "value": "https://eleanor-vandermeer.example.com/blog"},
        ],
        "gender": "female",
        "birthDate": "1930-05-17",
        "deceasedDateTime": "2022-01-15T08:00:00-05:00",
        "address": [
            {
                "line": ["42 Wallaby Way"],
                "city": "Sydneyville",
                "district": "Pemberton County",
                "state": "MA",
                "postalCode": "03601",
                "country": "US",
                "extension": [
                    {
                        "url": "http://hl7.org/fhir/StructureDefinition/geolocation",
                        "extension": [
                            {"url": "latitude", "valueDecimal": 43.1},
                            {"url": "longitude", "valueDecimal": -72.2},
                        ],
                    }
                ],
            }
        ],
        "photo": [
            {"contentType": "image/jpeg", "url": "https://photos.example.org/eleanor.jpg"},
            {"contentType": "image/png", "data": "iVBORw0KGgoAAAANSUhEUg"},
        ],
    }
    young = {
        "resourceType": "Patient",
        "id": YOUNG,
        "gender": "male",
        "birthDate": "1990-02-03",
        "name": [{"family": "Okonkwo", "given": ["Chidi"]}],
        "address": [{"postalCode": "02139-4307", "state": "MA"}],
    }
    practitioner = {
        "resourceType": "Practitioner",
        "id": "pr-1",
        "name": [{"family": "Brisby", "given": ["Hartwell"], "prefix": ["Dr."]}],
        "telecom": [{"system": "email", "value": "hbrisby@example.org"}],
    }
    subject = {"reference": f"Patient/{OLD}", "display": "Mrs. Eleanor Vandermeer"}
    encounters = [
        {
            "resourceType": "Encounter",
            "id": ENC1,
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
            "subject": subject,
            "period": {"start": "2020-03-01T10:00:00-05:00", "end": "2020-03-04T16:30:00-05:00"},
            "participant": [{"individual": {"reference": "Practitioner/pr-1", "display": "Dr. Hartwell Brisby"}}],
            "hospitalization": {"dischargeDisposition": {"coding": [{"code": "home"}]}},
        },
        {
            "resourceType": "Encounter",
            "id": ENC2,
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
            "subject": subject,
            "period": {"start": "2020-03-20T09:00:00-04:00", "end": "2020-03-22T09:00:00-04:00"},
        },
        {
            "resourceType": "Encounter",
            "id": ENC3,
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "subject": subject,
            "period": {"start": "2021-06-01T09:00:00-04:00", "end": "2021-06-01T10:00:00-04:00"},
        },
        {
            "resourceType": "Encounter",
            "id": "enc-young",
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "subject": {"reference": f"Patient/{YOUNG}", "display": "Chidi Okonkwo"},
            "period": {"start": "2019-07-04T12:00:00Z", "end": "2019-07-04T12:30:00Z"},
        },
    ]
    observation = {
        "resourceType": "Observation",
        "id": "obs-1",
        "status": "final",
        "code": {
            "coding": [{"system": "http://loinc.org", "code": "2160-0", "display": "Creatinine"}],
            "text": "Creatinine for Eleanor Vandermeer",
        },
        "subject": subject,
        "encounter": {"reference": f"Encounter/{ENC1}"},
        "effectiveDateTime": "2020-03-02T06:00:00-05:00",
        "issued": "2020-03-02T07:00:00-05:00",
        "valueQuantity": {"value": 1.4, "unit": "mg/dL", "system": "http://unitsofmeasure.org", "code": "mg/dL"},
        "note": [{"text": "Called daughter at 555-867-5309; SSN 999-12-3456 on file; seen 05/17/1930."}],
    }
    note_obs = {
        "resourceType": "Observation",
        "id": "obs-2",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": subject,
        "effectiveDateTime": "2020-03-02T08:00:00-05:00",
        "valueString": "Visited from 192.168.17.42, VIN 1HGCM82633A004352",
    }
    condition = {
        "resourceType": "Condition",
        "id": "cond-1",
        "subject": subject,
        "encounter": {"reference": f"Encounter/{ENC1}"},
        "code": {
            "coding": [
                {"system": "http://snomed.info/sct", "code": "233604007"},
                {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "J18.9"},
            ]
        },
        "onsetDateTime": "2020-03-01",
        "recordedDate": "2020-03-01T11:00:00-05:00",
    }
    medication = {
        "resourceType": "MedicationRequest",
        "id": "mr-1",
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": {
            "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "197361"}]
        },
        "subject": subject,
        "encounter": {"reference": f"Encounter/{ENC1}"},
        "authoredOn": "2020-03-04",
        "dosageInstruction": [{"text": "Give to Eleanor Vandermeer twice daily"}],
    }
    procedure = {
        "resourceType": "Procedure",
        "id": "proc-1",
        "status": "completed",
        "subject": subject,
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "40701008"}]},
        "performedPeriod": {"start": "2020-03-02T10:00:00-05:00", "end": "2020-03-02T11:00:00-05:00"},
    }
    device = {
        "resourceType": "Device",
        "id": "dev-1",
        "patient": {"reference": f"Patient/{OLD}"},
        "udiCarrier": [{"deviceIdentifier": "UDI-(01)00844588003288", "carrierHRF": "UDI-(01)00844588003288"}],
        "serialNumber": "SN-77881",
    }
    files = {
        "Patient": [old, young],
        "Practitioner": [practitioner],
        "Encounter": encounters,
        "Observation": [observation, note_obs],
        "Condition": [condition],
        "MedicationRequest": [medication],
        "Procedure": [procedure],
        "Device": [device],
    }
    for resource_type, resources in files.items():
        (folder / f"{resource_type}.ndjson").write_text("\n".join(json.dumps(r) for r in resources) + "\n")
    return folder
