"""Small hand-written FHIR R4 batches (NDJSON folders) for the feature assets' end-to-end tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

T0 = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)
CLASS = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
DISPOSITION = "http://terminology.hl7.org/CodeSystem/discharge-disposition"


def at(hours: float) -> str:
    return (T0 + timedelta(hours=hours)).isoformat()


class Batch:
    """Resources of one export, written as ``<Type>.ndjson`` files."""

    def __init__(self) -> None:
        self.resources: dict[str, list[dict]] = {}

    def add(self, resource: dict) -> str:
        self.resources.setdefault(resource["resourceType"], []).append(resource)
        return resource["id"]

    def patient(self, pid: str, birth: str = "1950-04-02", gender: str = "female") -> str:
        return self.add({"resourceType": "Patient", "id": pid, "gender": gender, "birthDate": birth})

    def encounter(self, eid: str, pid: str, cls: str, start: float, end: float, disposition: str | None = None) -> str:
        res = {
            "resourceType": "Encounter", "id": eid, "status": "finished", "class": {"system": CLASS, "code": cls},
            "subject": {"reference": f"Patient/{pid}"}, "period": {"start": at(start), "end": at(end)},
        }  # fmt: skip
        if disposition:
            res["hospitalization"] = {
                "dischargeDisposition": {"coding": [{"system": DISPOSITION, "code": disposition}]}
            }
        return self.add(res)

    def stay(self, eid: str, pid: str, start: float, hours: float) -> str:
        """ED (3 h) then a ward encounter ``eid``, discharged home."""
        self.encounter(f"{eid}-ed", pid, "EMER", start, start + 3)
        return self.encounter(eid, pid, "IMP", start + 3, start + hours, "home")

    def lab(self, oid: str, pid: str, code: str, value: float, unit: str, t: float, issued: float | None = None) -> str:
        return self.add({
            "resourceType": "Observation", "id": oid, "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
            "subject": {"reference": f"Patient/{pid}"}, "effectiveDateTime": at(t),
            "issued": at(issued if issued is not None else t + 1),
            "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit},
        })  # fmt: skip

    def write(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        for kind, items in self.resources.items():
            (folder / f"{kind}.ndjson").write_text("".join(json.dumps(r) + "\n" for r in items))
        return folder
