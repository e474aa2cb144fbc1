"""Encounter codes the cohort reads: classes, ICU and emergency-admission types, admit sources, dispositions.

Sources:

* Encounter.class, HL7 v3 ActCode (http://terminology.hl7.org/CodeSystem/v3-ActCode; FHIR R4 value set
  v3-ActEncounterCode): IMP inpatient, ACUTE inpatient acute, NONAC inpatient non-acute, EMER emergency,
  OBSENC observation encounter, AMB ambulatory.
* Encounter types, SNOMED CT: 305351004 "Admission to intensive care unit", 183452005 "Emergency hospital
  admission", 50849002 "Emergency room admission".
* Admit source, HL7 admit-source (http://terminology.hl7.org/CodeSystem/admit-source): ``emd`` "From
  accident/emergency department".
* Discharge disposition: HL7 discharge-disposition (http://terminology.hl7.org/CodeSystem/discharge-disposition:
  home, alt-home, other-hcf, hosp, long, aadvice, exp, psy, rehab, snf, oth) and NUBC UB-04 form locator 17
  "patient discharge status" (two-digit codes, as Synthea and US claims write them). HL7's set has no code
  for "transferred to another acute hospital" (other-hcf is any other facility); NUBC's 02, 05, 43, 66 are.
  A transfer to another hospital whose encounters are in the data is merged into one stay anyway.
"""

from __future__ import annotations

from types import MappingProxyType

INPATIENT_CLASSES = ("IMP", "ACUTE", "NONAC")
EMERGENCY_CLASSES = ("EMER",)
OBSERVATION_CLASSES = ("OBSENC",)
# Encounter statuses that never happened (FHIR R4 encounter-status).
VOID_STATUSES = ("cancelled", "entered-in-error", "planned")
OPEN_STATUSES = ("in-progress", "arrived", "triaged", "onleave")

ICU_TYPES = ("305351004",)
EMERGENCY_ADMISSION_TYPES = ("183452005",)
ED_ADMIT_SOURCES = ("emd",)

# Disposition code (HL7 or NUBC) -> category. Categories "expired", "against_advice" and "acute_transfer" are
# exclusions of the cohort; the others become features (home is the reference).
DISPOSITION_CATEGORY = MappingProxyType(
    {
        # HL7 discharge-disposition
        "home": "home", "alt-home": "alternative_home", "other-hcf": "other_facility", "hosp": "hospice",
        "long": "long_term_care", "aadvice": "against_advice", "exp": "expired", "psy": "psychiatric",
        "rehab": "rehabilitation", "snf": "skilled_nursing", "oth": "other",
        # NUBC patient discharge status
        "01": "home", "02": "acute_transfer", "03": "skilled_nursing", "04": "other_facility",
        "05": "acute_transfer", "06": "home_health", "07": "against_advice", "20": "expired", "21": "other",
        "40": "expired", "41": "expired", "42": "expired", "43": "acute_transfer", "50": "hospice",
        "51": "hospice", "61": "skilled_nursing", "62": "rehabilitation", "63": "long_term_care",
        "64": "skilled_nursing", "65": "psychiatric", "66": "acute_transfer", "69": "other", "70": "other_facility",
    }
)  # fmt: skip
# The categories that become 0/1 features (disposition_<category>); "home" is the reference level.
DISPOSITION_FEATURES = (
    "home_health", "alternative_home", "skilled_nursing", "rehabilitation", "long_term_care", "hospice",
    "psychiatric", "other_facility", "other", "unknown",
)  # fmt: skip
