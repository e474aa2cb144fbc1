"""``PatientSim``: one patient under simulation, the state that the simulation and writing phases share.

Made of small parts, each drawn once and in a fixed order from the patient's clinical random stream (see
``patient.simulate_patient``): the ``Person``, their ``ChronicConditions``, ``Physiology`` and
``LongTermMedications``; plus the ``FhirWriter`` the resources go to, and the clinical course filled in by
``clinical_course`` (stays, follow-up visits, death) with its ground-truth rows.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from healthcare_assets.synthetic.clock import Zone
from healthcare_assets.synthetic.conditions import ChronicConditions
from healthcare_assets.synthetic.demographics import Person
from healthcare_assets.synthetic.fhir_writer import FhirWriter
from healthcare_assets.synthetic.ids import IdFactory
from healthcare_assets.synthetic.medications import LongTermMedications
from healthcare_assets.synthetic.physiology import Physiology
from healthcare_assets.synthetic.runtime import Runtime
from healthcare_assets.synthetic.stays import Stay


@dataclass
class PatientSim:
    """Everything known about one simulated patient so far."""

    rt: Runtime
    rng: random.Random  # the clinical stream (the mess stream lives in the writer)
    ids: IdFactory
    pid: str
    person: Person
    conditions: ChronicConditions
    physiology: Physiology
    meds: LongTermMedications
    writer: FhirWriter
    stays: list[Stay] = field(default_factory=list)
    followups: list[int] = field(default_factory=list)  # instants of post-discharge clinic follow-ups
    readmission_censored: bool = False  # the last discharge's drawn readmission falls after the export
    death: int | None = None
    death_zone: Zone = field(init=False)  # the zone ``death`` is written in
    gt_rows: list[list[Any]] = field(default_factory=list)  # ground-truth rows, one per index stay

    def __post_init__(self) -> None:
        self.death_zone = self.person.hospital.zone
