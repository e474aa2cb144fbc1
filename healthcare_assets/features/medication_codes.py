"""Medications that are not long-term therapy: short courses and in-hospital administrations (RxNorm).

"Medications active at discharge" needs a stop date the data does not carry (MedicationRequest.status is the
status at export time, which would leak what happened after discharge), so the feature counts the distinct
medications ordered at or before discharge, less those below: antibacterials (WHO ATC J01), analgesics and
antipyretics for acute pain (N02, M01AE ibuprofen), opioid combinations (N02AJ), and drugs given once in
hospital (thrombolytic B01AD alteplase, intravenous amiodarone C01BD01, cytotoxic infusions L01CD docetaxel).
RxNorm: https://www.nlm.nih.gov/research/umls/rxnorm; ATC: https://www.whocc.no/atc_ddd_index/. An explicit
list (the synthetic cohort's and Synthea's common codes), not an RxClass expansion: extend it as data.
"""

from __future__ import annotations

SHORT_COURSE_RXNORM: tuple[str, ...] = (
    # antibacterials (J01), urinary analgesic (G04BX phenazopyridine)
    "308192", "308182", "562251", "309097", "311989", "1665021", "1659149", "834061", "834102", "1094107",
    # analgesics / antipyretics / cold remedies for acute symptoms (N02BE, M01AE, R05), opioid combinations
    "313782", "313820", "310965", "198405", "1043400", "1049221", "856987",
    # given once in hospital
    "1804799", "834357", "1860480",
)  # fmt: skip
