"""The FHIR R4 Patient resource: names, identifiers, contacts, address and US Core extensions, as Synthea writes them.

Everything PHI-shaped about a patient ends up here (and, rarely, in observation notes), which is what the
de-identification stage has to remove.
"""

from __future__ import annotations

from typing import Any

from healthcare_assets.synthetic import vocab as V
from healthcare_assets.synthetic.clock import DAY, Zone, date_string, fmt
from healthcare_assets.synthetic.fhir_writer import FhirWriter


def emit_patient(w: FhirWriter, death: int | None, death_zone: Zone) -> None:
    """The Patient resource: demographics, identifiers, contacts and the death, if any."""
    miss = w.miss
    person = w.person
    ext: list[dict[str, Any]] = []
    if not miss():
        race_ext = [
            {"url": "ombCategory", "valueCoding": {"system": r[0], "code": r[1], "display": r[2]}} for r in person.race
        ]
        race_ext.append({"url": "text", "valueString": person.race_text})
        ext.append({"url": V.EXT_RACE, "extension": race_ext})
    if not miss():
        e = person.ethnicity
        ext.append(
            {
                "url": V.EXT_ETHNICITY,
                "extension": [
                    {"url": "ombCategory", "valueCoding": {"system": e[0], "code": e[1], "display": e[2]}},
                    {"url": "text", "valueString": e[2]},
                ],
            }
        )
    ext.append({"url": V.EXT_MAIDEN, "valueString": person.mother_maiden})
    sex_code = {"female": "F", "male": "M"}.get(person.gender, "UNK")
    ext.append({"url": V.EXT_BIRTHSEX, "valueCode": sex_code})
    ext.append({"url": V.EXT_BIRTHPLACE, "valueAddress": person.birthplace})

    identifiers: list[dict[str, Any]] = [
        {"system": V.SYNTHEA_ID_SYSTEM, "value": w.pid},
        {"type": V.ID_TYPE_MR, "system": V.MRN_SYSTEM, "value": person.mrn},
        {"type": V.ID_TYPE_SS, "system": V.US_SSN, "value": person.ssn},
    ]
    if person.dl:
        identifiers.append(
            {
                "type": V.ID_TYPE_DL,
                "system": f"urn:oid:2.16.840.1.113883.4.3.{int(person.place.fips)}",
                "value": person.dl,
            }
        )
    if person.passport:
        identifiers.append(
            {
                "type": V.ID_TYPE_PPN,
                "system": "http://standardhealthrecord.org/fhir/StructureDefinition/passportNumber",
                "value": person.passport,
            }
        )
    official: dict[str, Any] = {"use": "official", "family": person.family, "given": [person.given]}
    if person.middle:
        official["given"].append(person.middle)
    if person.prefix:
        official["prefix"] = [person.prefix]
    if person.suffix:
        official["suffix"] = [person.suffix]
    names = [official]
    if person.maiden:
        names.append({"use": "maiden", "family": person.maiden, "given": [person.given]})
    if person.nickname:
        names.append({"use": "nickname", "given": [person.nickname]})
    telecom = [{"system": "phone", "value": person.phone, "use": "home"}]
    if person.mobile:
        telecom.append({"system": "phone", "value": person.mobile, "use": "mobile"})
    if person.email:
        telecom.append({"system": "email", "value": person.email, "use": "home"})

    address: dict[str, Any] = {}
    if not miss():
        address["extension"] = [
            {
                "url": V.EXT_GEOLOCATION,
                "extension": [
                    {"url": "latitude", "valueDecimal": person.lat},
                    {"url": "longitude", "valueDecimal": person.lon},
                ],
            }
        ]
    address["line"] = [person.line, person.line2] if person.line2 else [person.line]
    address["city"] = person.place.city
    address["state"] = person.place.state
    address["postalCode"] = person.zip
    address["country"] = "US"

    res: dict[str, Any] = {"resourceType": "Patient", "id": w.pid, "extension": ext, "identifier": identifiers}
    res["name"] = names
    if not miss():
        res["telecom"] = telecom
    res["gender"] = person.gender
    res["birthDate"] = date_string(person.birth // DAY)
    if death is not None:
        res["deceasedDateTime"] = fmt(death, death_zone)
    res["address"] = [address]
    if not miss() and person.age_end >= 18:
        res["maritalStatus"] = V.MARITAL[person.marital]
    if person.multiple_birth:
        res["multipleBirthInteger"] = 2
    else:
        res["multipleBirthBoolean"] = False
    if not miss():
        res["communication"] = [V.LANGUAGES[person.language]]
    w.emit("Patient", res)
