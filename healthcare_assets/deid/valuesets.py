"""The FHIR R4 value sets that enumerated columns are validated against, as data.

A value outside its column's value set is not published as is (``domains.py`` says what it becomes). The sets are
the codes of the bound value set (URL in the comment above each); where hospitals routinely send another standard
code system for the same element (NUBC discharge status for a discharge disposition), its codes are listed too.
Matching is case-sensitive, as FHIR codes are, except where noted.
"""

from __future__ import annotations

# http://hl7.org/fhir/ValueSet/administrative-gender (required)
ADMINISTRATIVE_GENDER = frozenset({"male", "female", "other", "unknown"})

# http://hl7.org/fhir/ValueSet/encounter-status (required)
ENCOUNTER_STATUS = frozenset(
    {"planned", "arrived", "triaged", "in-progress", "onleave", "finished", "cancelled", "entered-in-error", "unknown"}
)

# http://hl7.org/fhir/ValueSet/observation-status (required)
OBSERVATION_STATUS = frozenset(
    {"registered", "preliminary", "final", "amended", "corrected", "cancelled", "entered-in-error", "unknown"}
)

# http://hl7.org/fhir/ValueSet/medicationrequest-status (required)
MEDICATION_REQUEST_STATUS = frozenset(
    {"active", "on-hold", "cancelled", "completed", "entered-in-error", "stopped", "draft", "unknown"}
)

# http://hl7.org/fhir/ValueSet/medicationrequest-intent (required)
MEDICATION_REQUEST_INTENT = frozenset(
    {"proposal", "plan", "order", "original-order", "reflex-order", "filler-order", "instance-order", "option"}
)

# http://hl7.org/fhir/ValueSet/event-status (required; Procedure.status)
EVENT_STATUS = frozenset(
    {"preparation", "in-progress", "not-done", "on-hold", "stopped", "completed", "entered-in-error", "unknown"}
)

# http://hl7.org/fhir/ValueSet/condition-clinical (required)
CONDITION_CLINICAL = frozenset({"active", "recurrence", "relapse", "inactive", "remission", "resolved"})

# http://hl7.org/fhir/ValueSet/condition-ver-status (required)
CONDITION_VERIFICATION = frozenset(
    {"unconfirmed", "provisional", "differential", "confirmed", "refuted", "entered-in-error"}
)

# http://terminology.hl7.org/ValueSet/v3-ActEncounterCode (extensible; Encounter.class)
ACT_ENCOUNTER_CODE = frozenset({"AMB", "EMER", "FLD", "HH", "IMP", "ACUTE", "NONAC", "OBSENC", "PRENC", "SS", "VR"})

# http://hl7.org/fhir/ValueSet/encounter-admit-source (preferred)
ADMIT_SOURCE = frozenset({"hosp-trans", "emd", "outp", "born", "gp", "mp", "nursing", "psych", "rehab", "other"})

# http://hl7.org/fhir/ValueSet/encounter-discharge-disposition (example binding, the codes FHIR publishes)
DISCHARGE_DISPOSITION = frozenset(
    {"home", "alt-home", "other-hcf", "hosp", "long", "aadvice", "exp", "psy", "rehab", "snf", "oth"}
)
# NUBC UB-04 FL17 patient discharge status (https://www.nubc.org/CodeSystem/PatDischargeStatus), which EHR
# exports (and Synthea) put in the same element.
NUBC_DISCHARGE_STATUS = frozenset(
    {"01", "02", "03", "04", "05", "06", "07", "09", "20", "21", "30", "40", "41", "42", "43", "50", "51", "61",
     "62", "63", "64", "65", "66", "69", "70", "81", "82", "83", "84", "85", "86", "87", "88", "89", "90", "91",
     "92", "93", "94", "95"}
)  # fmt: skip

# http://hl7.org/fhir/ValueSet/observation-category (preferred)
OBSERVATION_CATEGORY = frozenset(
    {"social-history", "vital-signs", "imaging", "laboratory", "procedure", "survey", "exam", "therapy", "activity"}
)

# http://hl7.org/fhir/ValueSet/condition-category (extensible), plus US Core's health-concern
# (http://hl7.org/fhir/us/core/CodeSystem/condition-category) and the SNOMED CT concepts Synthea and some EHRs send
# (439401001 Diagnosis, 55607006 Problem).
CONDITION_CATEGORY = frozenset({"problem-list-item", "encounter-diagnosis", "health-concern", "439401001", "55607006"})

# http://hl7.org/fhir/us/core/ValueSet/omb-race-category (required for ombCategory), with its null flavors
OMB_RACE = frozenset({"1002-5", "2028-9", "2054-5", "2076-8", "2106-3", "UNK", "ASKU"})

# http://hl7.org/fhir/us/core/ValueSet/omb-ethnicity-category (required for ombCategory), with its null flavors
OMB_ETHNICITY = frozenset({"2135-2", "2186-5", "UNK", "ASKU"})

# Quantity.code strings EHRs send instead of UCUM (none is valid UCUM, none can name a person).
NON_UCUM_UNITS = frozenset({"units", "(score)", "mmHg", "bpm", "beats/min", "breaths/min", "mEq/L", "IU/L", "IU"})
