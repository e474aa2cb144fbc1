"""Known terminologies: the code-system URIs that may be published as is, and the shape of their codes.

A system URI not listed here (nor declared by the hospital as a local code system) is not published: it becomes
``local-system-<n>``. A code is published as is only when its system is known and the code has that system's
shape (and check digit, where the system has one); see ``domains.py`` for what happens otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from healthcare_assets.deid import valuesets
from healthcare_assets.deid.ucum import is_ucum

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
ICD9CM = "http://hl7.org/fhir/sid/icd-9-cm"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
CVX = "http://hl7.org/fhir/sid/cvx"
NDC = "http://hl7.org/fhir/sid/ndc"
CPT = "http://www.ama-assn.org/go/cpt"
ATC = "http://www.whocc.no/atc"
UCUM = "http://unitsofmeasure.org"
HL7_TERMINOLOGY = "http://terminology.hl7.org/CodeSystem/"
HL7_FHIR = "http://hl7.org/fhir/"
CDC_RACE_ETHNICITY = "urn:oid:2.16.840.1.113883.6.238"
NUBC_DISCHARGE = "https://www.nubc.org/CodeSystem/PatDischargeStatus"


def loinc_check_ok(code: str) -> bool:
    """LOINC's mod-10 check digit (the digit after the hyphen)."""
    body, _, check = code.partition("-")
    digits = [int(c) for c in body]
    total = 0
    for index, digit in enumerate(reversed(digits)):
        if index % 2 == 0:
            doubled = digit * 2
            total += doubled // 10 + doubled % 10
        else:
            total += digit
    return (10 - total % 10) % 10 == int(check)


_VERHOEFF_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 2, 3, 4, 0, 6, 7, 8, 9, 5), (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7), (4, 0, 1, 2, 3, 9, 5, 6, 7, 8), (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2), (7, 6, 5, 9, 8, 2, 1, 0, 4, 3), (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)  # fmt: skip
# Position permutations: the first one applied i times (Verhoeff's (1 5 8 9 4 2 7 0)(3 6)).
_VERHOEFF_P1 = (1, 5, 7, 6, 2, 8, 3, 0, 9, 4)
_VERHOEFF_P = [tuple(range(10))]
for _ in range(7):
    _VERHOEFF_P.append(tuple(_VERHOEFF_P1[x] for x in _VERHOEFF_P[-1]))


def verhoeff_ok(number: str) -> bool:
    check = 0
    for index, char in enumerate(reversed(number)):
        check = _VERHOEFF_D[check][_VERHOEFF_P[index % 8][int(char)]]
    return check == 0


# Shapes of the codes of numbered terminologies. A value of one of these shapes is a code whose parts are
# numbers by construction, so the residual scan compares it with the dictionary as a whole only (a LOINC code
# 15074-8 is not the ZIP code 15074); the validators below add the check digits.
NUMBERED_CODE_SHAPES = {
    "snomed": r"[1-9][0-9]{5,17}",
    "loinc": r"(L[APG])?[1-9][0-9]{0,6}-[0-9]",
    "icd10": r"[A-Z][0-9][0-9A-Z](\.?[0-9A-Z]{1,4})?",
    "icd9": r"([0-9]{3}|V[0-9]{2}|E[0-9]{3})(\.[0-9]{1,2})?",
    "rxnorm": r"[1-9][0-9]{0,8}",
    "cvx": r"[0-9]{1,3}",
    "ndc": r"[0-9]{4,5}-[0-9]{3,4}-[0-9]{1,2}|[0-9]{10,11}",
    "cpt": r"[0-9]{4}[0-9FTU]",
}
NUMBERED_CODE_SQL = "(" + "|".join(f"({shape})" for shape in NUMBERED_CODE_SHAPES.values()) + ")"
_SNOMED, _LOINC, _ICD10, _ICD9, _RXNORM, _CVX, _NDC, _CPT = (re.compile(s) for s in NUMBERED_CODE_SHAPES.values())
_ATC = re.compile(r"[A-Z]([0-9]{2}([A-Z]([A-Z]([0-9]{2})?)?)?)?")
# HL7 terminology codes: lower-case-hyphenated (in-progress), upper-case abbreviations (IMP, ASKU), numbers.
_HL7 = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*|[A-Z][A-Z0-9_]*(-[A-Z0-9]+)*|[0-9]+(\.[0-9]+)*")


def _snomed(code: str) -> bool:
    # SCTID: Verhoeff check digit, partition identifier 00 or 10 (a concept) in the 2nd and 3rd digits from the right.
    return bool(_SNOMED.fullmatch(code)) and code[-3:-1] in ("00", "10") and verhoeff_ok(code)


def _loinc(code: str) -> bool:
    if not _LOINC.fullmatch(code):
        return False
    return code[:1] == "L" or loinc_check_ok(code)


def _hl7(code: str) -> bool:
    return len(code) <= 40 and bool(_HL7.fullmatch(code))


@dataclass(frozen=True)
class CodeSystem:
    uri: str
    name: str
    valid: Callable[[str], bool]


KNOWN_SYSTEMS: dict[str, CodeSystem] = {
    s.uri: s
    for s in (
        CodeSystem(LOINC, "LOINC", _loinc),
        CodeSystem(SNOMED, "SNOMED CT", _snomed),
        CodeSystem(ICD10CM, "ICD-10-CM", lambda c: bool(_ICD10.fullmatch(c))),
        CodeSystem(ICD10, "ICD-10", lambda c: bool(_ICD10.fullmatch(c))),
        CodeSystem(ICD9CM, "ICD-9-CM", lambda c: bool(_ICD9.fullmatch(c))),
        CodeSystem(RXNORM, "RxNorm", lambda c: bool(_RXNORM.fullmatch(c))),
        CodeSystem(CVX, "CVX", lambda c: bool(_CVX.fullmatch(c))),
        CodeSystem(NDC, "NDC", lambda c: bool(_NDC.fullmatch(c))),
        CodeSystem(CPT, "CPT", lambda c: bool(_CPT.fullmatch(c))),
        CodeSystem(ATC, "ATC", lambda c: bool(_ATC.fullmatch(c))),
        CodeSystem(UCUM, "UCUM", lambda c: is_ucum(c) or c in valuesets.NON_UCUM_UNITS),
        CodeSystem(CDC_RACE_ETHNICITY, "CDC Race & Ethnicity", lambda c: bool(re.fullmatch(r"[0-9]{4}-[0-9]", c))),
        CodeSystem(NUBC_DISCHARGE, "NUBC discharge status", lambda c: c in valuesets.NUBC_DISCHARGE_STATUS),
    )
}  # fmt: skip

# HL7 code systems (http://terminology.hl7.org/CodeSystem/<id>) whose codes are checked by the HL7 shape. The
# list is explicit: an HL7-looking URI with any other id is not a known terminology.
HL7_CODE_SYSTEMS = (
    "v3-ActCode", "v3-NullFlavor", "v3-MaritalStatus", "v3-ParticipationType", "v3-RoleCode", "v3-ObservationValue",
    "v3-ObservationInterpretation", "v3-ActPriority", "v3-ActReason", "v3-ActEncounterCode",
    "v3-DischargeDiagnosis", "v2-0203", "v2-0004", "v2-0007", "v2-0112", "v2-0131", "v2-0136", "v2-0443",
    "admit-source", "discharge-disposition", "encounter-type", "condition-category", "condition-clinical",
    "condition-ver-status", "observation-category", "medicationrequest-category", "medicationrequest-status-reason",
    "organization-type", "diagnosis-role", "allergyintolerance-clinical", "allergyintolerance-verification",
    "dose-rate-type", "medication-admin-category", "immunization-origin", "claim-type", "processpriority",
    "data-absent-reason", "referencerange-meaning", "observation-statistics", "location-physical-type",
    "practitioner-role", "service-category", "service-type", "consentcategorycodes", "coverage-class",
    "subscriber-relationship", "payeetype", "adjudication", "benefit-type", "ex-claimitemtype", "claimcareteamrole",
    "ex-diagnosistype", "ex-serviceplace", "claiminformationcategory", "v2-0074",
)  # fmt: skip
for _id in HL7_CODE_SYSTEMS:
    KNOWN_SYSTEMS[HL7_TERMINOLOGY + _id] = CodeSystem(HL7_TERMINOLOGY + _id, f"HL7 {_id}", _hl7)
KNOWN_SYSTEMS["http://www.nubc.org/patient-discharge"] = CodeSystem(
    "http://www.nubc.org/patient-discharge", "NUBC discharge status", lambda c: c in valuesets.NUBC_DISCHARGE_STATUS
)
# Public code systems of claims, imaging and language (Synthea and CMS Blue Button exports carry them), and US
# Core and FHIR core code systems seen in coded elements; their codes are checked by the HL7 shape.
for _uri in (
    "https://bluebutton.cms.gov/resources/codesystem/adjudication",
    "https://bluebutton.cms.gov/resources/variables/line_cms_type_srvc_cd",
    "http://dicom.nema.org/resources/ontology/DCM",
    "urn:ietf:bcp:47",
    "urn:ietf:rfc:3986",
    "http://hl7.org/fhir/us/core/CodeSystem/condition-category",
    "http://hl7.org/fhir/us/core/CodeSystem/us-core-provenance-participant-type",
    "http://hl7.org/fhir/administrative-gender",
    "http://hl7.org/fhir/encounter-status",
    "http://hl7.org/fhir/observation-status",
    "http://hl7.org/fhir/request-intent",
    "http://hl7.org/fhir/event-status",
    "http://hl7.org/fhir/CodeSystem/medicationrequest-intent",
    "http://hl7.org/fhir/CodeSystem/medicationrequest-status",
):
    KNOWN_SYSTEMS[_uri] = CodeSystem(_uri, _uri.rsplit("/", 1)[-1], _hl7)

KNOWN_SYSTEM_URIS = frozenset(KNOWN_SYSTEMS)


def is_known_system(uri: str | None) -> bool:
    return uri is not None and uri in KNOWN_SYSTEMS


def valid_code(system: str, code: str) -> bool:
    """``code`` has the shape (and check digit) of the known terminology ``system``; False for other systems."""
    known = KNOWN_SYSTEMS.get(system)
    return known is not None and known.valid(code)
