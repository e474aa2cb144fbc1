"""One patient's life in the hospital system, simulated and written as FHIR R4 resources.

``simulate_patient(runtime, index)`` is a pure function of the run's seed, its configuration and the patient's
index: it builds the patient's demographics, chronic conditions (with onsets), baseline physiology and a
timeline of clinic visits, emergency visits and hospital stays, and turns them into serialized resources
(one list of NDJSON lines per resource type) plus the ground-truth rows of the patient's index stays.

Random streams: ``rng`` drives everything clinical; ``mrng`` drives only the mess (missing elements,
duplicates, malformed lines), so changing a mess rate leaves the clinical content untouched. Neither stream is
affected by ``creatinine_shift`` or ``icd10_dropped``, which change how facts are reported, not the facts.
The phases below run in a fixed order and each draws from ``rng`` in a fixed order: that order is the output.

Where the parts live: ``demographics`` (who), ``conditions``, ``physiology`` and ``medications`` (their health),
``clinical_course`` and ``admission`` (stays, readmissions, death), ``visits`` (clinic and ED visits),
``stay_resources`` (what a stay records), ``fhir_patient``, ``fhir_resources`` and ``observations`` (resource
builders, into a ``fhir_writer.FhirWriter``), ``ground_truth`` (the truth rows), ``stays`` (encounter and stay
records, ``STAY_MERGE_RULE``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from healthcare_assets.synthetic.clinical_course import draw_death, simulate_stays
from healthcare_assets.synthetic.conditions import ChronicConditions
from healthcare_assets.synthetic.demographics import Person
from healthcare_assets.synthetic.fhir_patient import emit_patient
from healthcare_assets.synthetic.fhir_writer import RESOURCE_TYPES, FhirWriter
from healthcare_assets.synthetic.ground_truth import GROUND_TRUTH_COLUMNS
from healthcare_assets.synthetic.ids import KIND_PATIENT, IdFactory, stream_seed
from healthcare_assets.synthetic.medications import LongTermMedications
from healthcare_assets.synthetic.mess import add_mess
from healthcare_assets.synthetic.patient_sim import PatientSim
from healthcare_assets.synthetic.physiology import Physiology
from healthcare_assets.synthetic.runtime import Runtime
from healthcare_assets.synthetic.stay_resources import emit_stay
from healthcare_assets.synthetic.stays import STAY_MERGE_GAP_HOURS, STAY_MERGE_RULE, Visit
from healthcare_assets.synthetic.visits import emit_visit, schedule_visits

__all__ = [  # the last five live elsewhere now, re-exported for code that imports them from here
    "PatientResult",
    "simulate_patient",
    "GROUND_TRUTH_COLUMNS",
    "RESOURCE_TYPES",
    "STAY_MERGE_GAP_HOURS",
    "STAY_MERGE_RULE",
    "Runtime",
]

_STREAM_CLINICAL = 1
_STREAM_MESS = 2


@dataclass
class PatientResult:
    """What ``simulate_patient`` hands the generator: lines per type (mess added), counts, truth rows."""

    lines: dict[str, list[bytes]]
    counts: dict[str, int]
    duplicates: int
    malformed: int
    gt_rows: list[tuple[Any, ...]]
    deceased: bool


def simulate_patient(rt: Runtime, index: int) -> PatientResult:
    """All resources and ground-truth rows of patient ``index`` (0-based) of the run."""
    seed = rt.seed
    rng = random.Random(stream_seed(seed, index, _STREAM_CLINICAL))
    mrng = random.Random(stream_seed(seed, index, _STREAM_MESS))
    ids = IdFactory(seed, KIND_PATIENT, index)
    pid = ids.next()
    person = Person(rt, index, rng)
    conditions = ChronicConditions(rng, rt, person)
    physiology = Physiology(rng, person, conditions)
    meds = LongTermMedications(rng, conditions)
    writer = FhirWriter(rt, rng, mrng, ids, pid, person)
    sim = PatientSim(rt, rng, ids, pid, person, conditions, physiology, meds, writer)
    simulate_stays(sim)
    draw_death(sim)
    visits = schedule_visits(sim)
    emit_patient(writer, sim.death, sim.death_zone)
    _emit_timeline(sim, visits)
    return _finish(sim)


def _emit_timeline(sim: PatientSim, visits: list[Visit]) -> None:
    items: list[tuple[int, int, Any]] = [(v.start, 0, v) for v in visits]
    items += [(s.start, 1, s) for s in sim.stays]
    items.sort(key=lambda x: (x[0], x[1]))
    for _, kind, item in items:
        if kind == 1:
            emit_stay(sim, item)
        else:
            emit_visit(sim, item)


def _finish(sim: PatientSim) -> PatientResult:
    """The written lines with the mess added (mess stream only), their counts, and the ground-truth rows."""
    rt = sim.rt
    counts: dict[str, int] = {}
    dups = bad = 0
    lines = sim.writer.out
    for rtype in RESOURCE_TYPES:
        block = lines[rtype]
        counts[rtype] = len(block)
        messy, d, b = add_mess(block, sim.writer.mrng, rt.duplicate, rt.malformed)
        lines[rtype] = messy
        dups += d
        bad += b
    rows = [tuple(r) for r in sim.gt_rows]
    return PatientResult(lines, counts, dups, bad, rows, sim.death is not None)
