"""FHIR R4 Encounter, Condition, MedicationRequest and Procedure resources, built from what was simulated.

Each builder serializes one resource into the patient's ``FhirWriter``; optional elements go missing at the
configured rate, and codings follow the facility's conventions (ICD-10 order, ``icd10_dropped``).
"""

from __future__ import annotations

from typing import Any

from healthcare_assets.synthetic import vocab as V
from healthcare_assets.synthetic.clock import MINUTE, fmt
from healthcare_assets.synthetic.fhir_writer import FhirWriter
from healthcare_assets.synthetic.stays import Seg


def emit_encounter(w: FhirWriter, seg: Seg) -> None:
    """The Encounter of ``seg`` (in-progress, without an end, when still open at the export)."""
    miss = w.miss
    zone = seg.org.zone
    s = fmt(seg.start, zone)
    period = {"start": s} if seg.in_progress else {"start": s, "end": fmt(seg.end, zone)}
    res: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": seg.id,
        "status": "in-progress" if seg.in_progress else "finished",
        "class": V.CLASS_IMP if seg.cls == "IMP" else V.CLASS_EMER if seg.cls == "EMER" else V.CLASS_AMB,
        "type": [seg.type],
        "subject": {"reference": w.subject["reference"], "display": w.person.display},
    }
    if not miss(0.5):
        res["participant"] = [
            {
                "type": V.PARTICIPANT_ATND if seg.cls == "IMP" else V.PARTICIPANT_PPRF,
                "period": period,
                "individual": seg.prac.ref,
            }
        ]
    res["period"] = period
    if seg.reason is not None and not miss():
        res["reasonCode"] = [seg.reason]
    hosp: dict[str, Any] = {}
    if seg.admit_source and not miss():
        hosp["admitSource"] = V.ADMIT_SOURCES[seg.admit_source]
    if seg.disposition is not None and not miss(0.5):
        hosp["dischargeDisposition"] = seg.disposition
    if hosp:
        res["hospitalization"] = hosp
    res["serviceProvider"] = seg.org.ref_bare if miss() else seg.org.ref
    if seg.part_of:
        res["partOf"] = {"reference": f"Encounter/{seg.part_of}"}
    w.emit("Encounter", res)


def emit_condition(
    w: FhirWriter,
    dxc: V.DxConcepts,
    seg: Seg,
    onset: int,
    recorded: int,
    abatement: int | None,
    problem_list: bool,
) -> str:
    """A Condition recorded at ``seg``; returns its id (for reasonReference)."""
    miss = w.miss
    zone = seg.org.zone
    cid = w.ids.next()
    if abatement is not None and abatement >= w.rt.end_utc:
        abatement = None  # resolves after the export
    if w.rt.icd10_dropped:
        code = dxc.snomed_only
    else:
        code = dxc.both_icd_first if seg.org.icd_first else dxc.both
    res: dict[str, Any] = {
        "resourceType": "Condition",
        "id": cid,
        "clinicalStatus": V.CLINICAL_RESOLVED if abatement is not None else V.CLINICAL_ACTIVE,
    }
    if not miss():
        res["verificationStatus"] = V.VERIFICATION_CONFIRMED
    if not miss():
        res["category"] = V.CATEGORY_PROBLEM_LIST if problem_list else V.CATEGORY_ENCOUNTER_DX
    res["code"] = code
    res["subject"] = w.subject
    res["encounter"] = seg.ref
    if not miss(0.5):
        res["onsetDateTime"] = fmt(onset, zone)
    if abatement is not None:
        res["abatementDateTime"] = fmt(abatement, zone)
    if not miss():
        res["recordedDate"] = fmt(recorded, zone)
    w.emit("Condition", res)
    return cid


def emit_medication(w: FhirWriter, med: str, seg: Seg, authored: int, active: bool, reason_cid: str | None) -> None:
    """A MedicationRequest ordered at ``seg``."""
    miss, rng = w.miss, w.rng
    res: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": w.ids.next(),
        "status": "active" if active else "stopped",
        "intent": "order",
        "medicationCodeableConcept": V.MED_CONCEPTS[med],
        "subject": w.subject,
        "encounter": seg.ref,
        "authoredOn": fmt(authored, seg.org.zone),
    }
    if not miss():
        res["requester"] = seg.prac.ref
    if reason_cid is not None and not miss():
        res["reasonReference"] = [{"reference": f"Condition/{reason_cid}"}]
    if rng.random() < 0.6 and not miss():
        res["dosageInstruction"] = [{"sequence": 1, "text": V.MEDS[med].sig}]
    w.emit("MedicationRequest", res)


def emit_procedure(w: FhirWriter, key: str, seg: Seg, start: int, minutes: int) -> None:
    """A completed Procedure at ``seg``."""
    zone = seg.org.zone
    res: dict[str, Any] = {
        "resourceType": "Procedure",
        "id": w.ids.next(),
        "status": "completed",
        "code": V.PROCEDURES[key],
        "subject": w.subject,
        "encounter": seg.ref,
    }
    if w.rng.random() < 0.2:
        res["performedDateTime"] = fmt(start, zone)
    else:
        res["performedPeriod"] = {"start": fmt(start, zone), "end": fmt(start + minutes * MINUTE, zone)}
    w.emit("Procedure", res)
