"""The domain of every kept coded column, and what a value outside it becomes.

Kinds of domain:

* ``value_set``: a FHIR value set (``valuesets.py``); anything else becomes NULL. Values in the set are codes by
  construction, so a dictionary term equal to one (the surname Long, the disposition ``long``) is not a finding
  there: the domain resolves the ambiguity.
* ``state``: a US state or territory (name or USPS code, any case); anything else becomes NULL.
* ``system``: a code-system URI of a known terminology (``code_systems.py``) or of a local code system the
  hospital declared; anything else becomes ``local-system-<n>``.
* ``code``: a code of a known terminology with that system's shape, its system given by a sibling column
  (``system_column``) or fixed (``systems``); anything else becomes ``local-code-<n>``. Codes of a declared
  local system are kept when seen for at least k distinct patients in the batch and they match neither the
  dictionary nor a pattern. A code that has the right shape but equals a PHI value of the batch is replaced too.
* ``measurement``: a number; one whose digits are an identifier, phone number or date of the batch becomes NULL.

``<n>`` is stable per column across batches (kept in the PHI-zone codebook), so equal values stay equal.
"""

from __future__ import annotations

from dataclasses import dataclass

from healthcare_assets.deid import code_systems as cs
from healthcare_assets.deid import valuesets as vs


@dataclass(frozen=True)
class Domain:
    kind: str  # value_set | state | system | code | measurement
    values: frozenset[str] = frozenset()
    systems: tuple[str, ...] = ()
    system_column: str | None = None

    @property
    def replacement(self) -> str:
        """What an out-of-domain value becomes: null, local-code or local-system."""
        return {"system": "local-system", "code": "local-code"}.get(self.kind, "null")


def value_set(*sets: frozenset[str]) -> Domain:
    return Domain("value_set", values=frozenset().union(*sets))


STATE = Domain("state")
SYSTEM = Domain("system")
MEASUREMENT = Domain("measurement")


def code(*systems: str, system_column: str | None = None) -> Domain:
    return Domain("code", systems=systems, system_column=system_column)


# (view, column) -> domain. Every kept string column of the project's views is listed (a test checks it).
DOMAINS: dict[tuple[str, str], Domain] = {
    ("patient", "gender"): value_set(vs.ADMINISTRATIVE_GENDER),
    ("patient", "race_code"): value_set(vs.OMB_RACE),
    ("patient", "ethnicity_code"): value_set(vs.OMB_ETHNICITY),
    ("patient", "state"): STATE,
    ("encounter", "status"): value_set(vs.ENCOUNTER_STATUS),
    ("encounter", "class_code"): value_set(vs.ACT_ENCOUNTER_CODE),
    ("encounter", "type_code"): code(system_column="type_system"),
    ("encounter", "type_system"): SYSTEM,
    ("encounter", "admit_source_code"): value_set(vs.ADMIT_SOURCE),
    ("encounter", "discharge_disposition_code"): value_set(vs.DISCHARGE_DISPOSITION, vs.NUBC_DISCHARGE_STATUS),
    ("encounter", "reason_code"): code(cs.SNOMED, cs.ICD10CM),
    ("condition", "snomed_code"): code(cs.SNOMED),
    ("condition", "icd10cm_code"): code(cs.ICD10CM),
    ("condition", "category_code"): value_set(vs.CONDITION_CATEGORY),
    ("condition", "clinical_status"): value_set(vs.CONDITION_CLINICAL),
    ("condition", "verification_status"): value_set(vs.CONDITION_VERIFICATION),
    ("observation", "status"): value_set(vs.OBSERVATION_STATUS),
    ("observation", "category_code"): value_set(vs.OBSERVATION_CATEGORY),
    ("observation", "code"): code(system_column="code_system"),
    ("observation", "code_system"): SYSTEM,
    ("observation", "value_quantity"): MEASUREMENT,
    ("observation", "value_unit"): code(cs.UCUM),
    ("observation", "value_code"): code(cs.SNOMED, cs.LOINC),
    ("observation_component", "code"): code(system_column="code_system"),
    ("observation_component", "code_system"): SYSTEM,
    ("observation_component", "value_quantity"): MEASUREMENT,
    ("observation_component", "value_unit"): code(cs.UCUM),
    ("observation_component", "value_code"): code(cs.SNOMED, cs.LOINC),
    ("medication_request", "status"): value_set(vs.MEDICATION_REQUEST_STATUS),
    ("medication_request", "intent"): value_set(vs.MEDICATION_REQUEST_INTENT),
    ("medication_request", "medication_code"): code(system_column="medication_system"),
    ("medication_request", "medication_system"): SYSTEM,
    ("medication_request", "reason_code"): code(cs.SNOMED, cs.ICD10CM),
    ("procedure", "status"): value_set(vs.EVENT_STATUS),
    ("procedure", "code"): code(system_column="code_system"),
    ("procedure", "code_system"): SYSTEM,
    ("procedure", "reason_code"): code(cs.SNOMED, cs.ICD10CM),
}


def domain_of(view: str, column: str) -> Domain | None:
    return DOMAINS.get((view, column))
