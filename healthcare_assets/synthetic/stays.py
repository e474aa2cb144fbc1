"""Encounters, hospital stays and visits as the simulation plans them, and the rule that merges encounters into stays.

A hospital stay is written as a chain of contiguous encounters, as EHRs split one stay: ``EMER`` (when the patient
came through the emergency department) then one or two ``IMP`` encounters (ICU or ward, then a ward transfer). Each
encounter starts when the previous one ends, or 1-20 minutes later, or (rarely, ED boarding) up to 3 hours later;
``partOf`` links the pieces only sometimes. Separate stays of a patient are at least 24 hours apart, and clinic and
emergency visits are kept 12 hours away from stays. Downstream code recovers stays with ``STAY_MERGE_RULE``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from healthcare_assets.synthetic.world import Organization, Practitioner

STAY_MERGE_GAP_HOURS = 6
STAY_MERGE_RULE = (
    "Encounters of class EMER or IMP of the same patient, sorted by period.start, belong to one stay when an "
    "encounter starts no later than 6 hours after the latest end of the stay so far; a stay is an inpatient "
    "stay when it contains at least one IMP encounter; it is admitted at its first start and discharged at its "
    "last end, with the dischargeDisposition of its last encounter. Stays still open at export time "
    "(an encounter in-progress, without period.end) are not discharges."
)


@dataclass
class Seg:
    """One encounter."""

    id: str
    cls: str  # AMB / EMER / IMP
    type: dict[str, Any]
    start: int
    end: int
    org: Organization
    prac: Practitioner
    reason: dict[str, Any] | None = None
    admit_source: str | None = None
    disposition: dict[str, Any] | None = None
    part_of: str | None = None
    ref: dict[str, str] = field(default_factory=dict)
    in_progress: bool = False


@dataclass
class Stay:
    """A hospital stay: its encounters (``segs``) and what the simulation decided about it."""

    segs: list[Seg]
    start: int
    discharge: int
    reason: str
    ed: bool
    icu: bool
    elective: bool
    died: bool
    in_progress: bool
    sev: float
    rec: float
    org: Organization
    los: float
    disposition: str = ""
    offsets: dict[str, float] = field(default_factory=dict)
    acquired: list[tuple[str, int, int]] = field(default_factory=list)  # new chronic conditions
    new_meds: list[str] = field(default_factory=list)
    extra_conditions: list[tuple[str, int, int]] = field(default_factory=list)  # recorded at this stay
    extra_meds: list[tuple[str, int, str]] = field(default_factory=list)


@dataclass
class Visit:
    """A clinic or emergency visit outside hospital stays."""

    kind: str  # checkup / symptom / problem / followup / ed
    start: int
    conds: list[tuple[str, int, int]] = field(default_factory=list)  # problem visits: conditions diagnosed
