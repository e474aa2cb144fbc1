"""The clinical vocabulary of the synthetic cohort: real SNOMED CT, ICD-10-CM, LOINC, UCUM and RxNorm codes.

Every table here is plain data. The CodeableConcepts are built once at import and shared (read-only) by every
resource that uses them, which keeps generation fast; nothing may mutate them.

Unit choices (documented for the downstream unit normalisation):

* temperature ``8310-5`` is reported in ``Cel`` or, at hospitals that chart Fahrenheit, in ``[degF]`` (same code);
* glucose is ``2345-7`` in ``mg/dL`` or, at some laboratories, ``15074-8`` (Glucose [Moles/volume] in Blood) in
  ``mmol/L`` (1 mmol/L = 18.016 mg/dL): a different LOINC code for the molar unit;
* creatinine is ``2160-0`` in ``mg/dL`` or, at some laboratories, ``14682-9`` (Creatinine [Moles/volume] in Serum
  or Plasma) in ``umol/L`` (1 mg/dL = 88.42 umol/L);
* pulse oximetry carries ``59408-5`` and ``2708-6`` (US Core style) or ``2708-6`` alone;
* blood pressure is a ``85354-9`` panel with ``8480-6``/``8462-4`` components at clinic and ED visits (as Synthea
  writes it) and two separate ``8480-6``/``8462-4`` observations on inpatient flowsheets.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
ADMIT_SOURCE = "http://terminology.hl7.org/CodeSystem/admit-source"
DISCHARGE_DISPOSITION = "http://terminology.hl7.org/CodeSystem/discharge-disposition"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
US_SSN = "http://hl7.org/fhir/sid/us-ssn"
US_NPI = "http://hl7.org/fhir/sid/us-npi"
OMB_RACE_ETHNICITY = "urn:oid:2.16.840.1.113883.6.238"
NULL_FLAVOR = "http://terminology.hl7.org/CodeSystem/v3-NullFlavor"
MRN_SYSTEM = "http://hospital.smarthealthit.org"
SYNTHEA_ID_SYSTEM = "https://github.com/synthetichealth/synthea"

EXT_RACE = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race"
EXT_ETHNICITY = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity"
EXT_BIRTHSEX = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex"
EXT_BIRTHPLACE = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
EXT_MAIDEN = "http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName"
EXT_GEOLOCATION = "http://hl7.org/fhir/StructureDefinition/geolocation"


def coding(system: str, code: str, display: str) -> dict[str, str]:
    return {"system": system, "code": code, "display": display}


def concept(*codings: dict[str, str], text: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"coding": list(codings)}
    if text is not None:
        out["text"] = text
    return out


# --------------------------------------------------------------------------------------------- conditions
@dataclass(frozen=True)
class Dx:
    """A diagnosis with its SNOMED CT and ICD-10-CM codes, and the CodeableConcepts built from them."""

    snomed: str
    display: str
    icd10: str
    icd10_display: str

    @property
    def snomed_coding(self) -> dict[str, str]:
        return coding(SNOMED, self.snomed, self.display)

    @property
    def icd10_coding(self) -> dict[str, str]:
        return coding(ICD10CM, self.icd10, self.icd10_display)


class DxConcepts:
    """The four shapes a diagnosis' ``code`` can take (SNOMED first/ICD first, or SNOMED only)."""

    __slots__ = ("dx", "both", "both_icd_first", "snomed_only", "reason")

    def __init__(self, dx: Dx):
        self.dx = dx
        s, i = dx.snomed_coding, dx.icd10_coding
        self.both = concept(s, i, text=dx.display)
        self.both_icd_first = concept(i, s, text=dx.display)
        self.snomed_only = concept(s, text=dx.display)
        self.reason = concept(s)  # Encounter.reasonCode, as Synthea writes it


def _dx(snomed: str, display: str, icd10: str, icd10_display: str) -> DxConcepts:
    return DxConcepts(Dx(snomed, display, icd10, icd10_display))


# Charlson comorbidity categories (Charlson 1987 weights; Quan 2005 ICD-10 coding algorithm). A patient with a
# category gets one of its variants. Hierarchies (applied by ``risk.charlson_index``): complicated diabetes
# supersedes uncomplicated, severe liver disease supersedes mild, metastatic tumour supersedes malignancy.
CHARLSON_WEIGHTS: Mapping[str, int] = MappingProxyType(
    {
        "mi": 1, "chf": 1, "pvd": 1, "cvd": 1, "dementia": 1, "copd": 1, "rheum": 1, "pud": 1,
        "liver_mild": 1, "dm": 1, "dm_comp": 2, "hemiplegia": 2, "renal": 2, "cancer": 2,
        "liver_severe": 3, "metastatic": 6, "hiv": 6,
    }
)  # fmt: skip

CHRONIC_VARIANTS: Mapping[str, tuple[DxConcepts, ...]] = MappingProxyType(
    {
        "mi": (_dx("399211009", "History of myocardial infarction (situation)", "I25.2", "Old myocardial infarction"),),
        "chf": (
            _dx("88805009", "Chronic congestive heart failure (disorder)", "I50.22",
                "Chronic systolic (congestive) heart failure"),
            _dx("84114007", "Heart failure (disorder)", "I50.9", "Heart failure, unspecified"),
        ),
        "pvd": (_dx("400047006", "Peripheral vascular disease (disorder)", "I73.9",
                    "Peripheral vascular disease, unspecified"),),
        "cvd": (
            _dx("230690007", "Cerebrovascular accident (disorder)", "I63.9", "Cerebral infarction, unspecified"),
            _dx("266257000", "Transient ischemic attack (disorder)", "G45.9",
                "Transient cerebral ischemic attack, unspecified"),
        ),
        "dementia": (
            _dx("52448006", "Dementia (disorder)", "F03.90",
                "Unspecified dementia, unspecified severity, without behavioral disturbance, psychotic "
                "disturbance, mood disturbance, and anxiety"),
            _dx("26929004", "Alzheimer's disease (disorder)", "G30.9", "Alzheimer's disease, unspecified"),
        ),
        "copd": (
            _dx("13645005", "Chronic obstructive lung disease (disorder)", "J44.9",
                "Chronic obstructive pulmonary disease, unspecified"),
            _dx("87433001", "Pulmonary emphysema (disorder)", "J43.9", "Emphysema, unspecified"),
        ),
        "rheum": (
            _dx("69896004", "Rheumatoid arthritis (disorder)", "M06.9", "Rheumatoid arthritis, unspecified"),
            _dx("55464009", "Systemic lupus erythematosus (disorder)", "M32.9",
                "Systemic lupus erythematosus, unspecified"),
        ),
        "pud": (_dx("13200003", "Peptic ulcer (disorder)", "K27.9",
                    "Peptic ulcer, site unspecified, unspecified as acute or chronic, without hemorrhage or "
                    "perforation"),),
        "liver_mild": (
            _dx("128302006", "Chronic hepatitis C (disorder)", "B18.2", "Chronic viral hepatitis C"),
            _dx("197321007", "Steatosis of liver (disorder)", "K76.0",
                "Fatty (change of) liver, not elsewhere classified"),
            _dx("19943007", "Cirrhosis of liver (disorder)", "K74.60", "Unspecified cirrhosis of liver"),
        ),
        "liver_severe": (
            _dx("34742003", "Portal hypertension (disorder)", "K76.6", "Portal hypertension"),
            _dx("28670008", "Esophageal varices (disorder)", "I85.00", "Esophageal varices without bleeding"),
        ),
        "dm": (_dx("44054006", "Diabetes mellitus type 2 (disorder)", "E11.9",
                   "Type 2 diabetes mellitus without complications"),),
        "dm_comp": (
            _dx("127013003", "Disorder of kidney due to diabetes mellitus (disorder)", "E11.22",
                "Type 2 diabetes mellitus with diabetic chronic kidney disease"),
            _dx("368581000119106", "Neuropathy due to type 2 diabetes mellitus (disorder)", "E11.40",
                "Type 2 diabetes mellitus with diabetic neuropathy, unspecified"),
            _dx("422034002", "Retinopathy due to type 2 diabetes mellitus (disorder)", "E11.319",
                "Type 2 diabetes mellitus with unspecified diabetic retinopathy without macular edema"),
        ),
        "hemiplegia": (_dx("50582007", "Hemiplegia (disorder)", "G81.90",
                           "Hemiplegia, unspecified affecting unspecified side"),),
        # Renal variants are ordered by stage: index 0 = CKD 3, 1 = CKD 4, 2 = end-stage.
        "renal": (
            _dx("433144002", "Chronic kidney disease stage 3 (disorder)", "N18.30",
                "Chronic kidney disease, stage 3 unspecified"),
            _dx("431857002", "Chronic kidney disease stage 4 (disorder)", "N18.4",
                "Chronic kidney disease, stage 4 (severe)"),
            _dx("46177005", "End-stage renal disease (disorder)", "N18.6", "End stage renal disease"),
        ),
        # Cancer variants: 0 breast (female), 1 lung, 2 colon, 3 prostate (male).
        "cancer": (
            _dx("254837009", "Malignant neoplasm of breast (disorder)", "C50.919",
                "Malignant neoplasm of unspecified site of unspecified female breast"),
            _dx("363358000", "Malignant tumor of lung (disorder)", "C34.90",
                "Malignant neoplasm of unspecified part of unspecified bronchus or lung"),
            _dx("363406005", "Malignant tumor of colon (disorder)", "C18.9",
                "Malignant neoplasm of colon, unspecified"),
            _dx("399068003", "Malignant tumor of prostate (disorder)", "C61", "Malignant neoplasm of prostate"),
        ),
        "metastatic": (
            _dx("128462008", "Secondary malignant neoplastic disease (disorder)", "C79.9",
                "Secondary malignant neoplasm of unspecified site"),
            _dx("94222008", "Secondary malignant neoplasm of bone (disorder)", "C79.51",
                "Secondary malignant neoplasm of bone"),
        ),
        "hiv": (_dx("86406008", "Human immunodeficiency virus infection (disorder)", "B20",
                    "Human immunodeficiency virus [HIV] disease"),),
        # Common chronic conditions outside the Charlson index.
        "htn": (_dx("59621000", "Essential hypertension (disorder)", "I10", "Essential (primary) hypertension"),),
        "hld": (_dx("55822004", "Hyperlipidemia (disorder)", "E78.5", "Hyperlipidemia, unspecified"),),
        "obesity": (_dx("162864005", "Body mass index 30+ - obesity (finding)", "E66.9", "Obesity, unspecified"),),
        "afib": (_dx("49436004", "Atrial fibrillation (disorder)", "I48.91", "Unspecified atrial fibrillation"),),
        "cad": (_dx("53741008", "Coronary arteriosclerosis (disorder)", "I25.10",
                    "Atherosclerotic heart disease of native coronary artery without angina pectoris"),),
        "depression": (_dx("35489007", "Depressive disorder (disorder)", "F32.A", "Depression, unspecified"),),
        "anemia": (_dx("271737000", "Anemia (disorder)", "D64.9", "Anemia, unspecified"),),
        "hypothyroid": (_dx("40930008", "Hypothyroidism (disorder)", "E03.9", "Hypothyroidism, unspecified"),),
        "osteoarthritis": (
            _dx("239873007", "Osteoarthritis of knee (disorder)", "M17.9", "Osteoarthritis of knee, unspecified"),
            _dx("239872002", "Osteoarthritis of hip (disorder)", "M16.9", "Osteoarthritis of hip, unspecified"),
        ),
        "osteoporosis": (_dx("64859006", "Osteoporosis (disorder)", "M81.0",
                             "Age-related osteoporosis without current pathological fracture"),),
        "asthma": (_dx("195967001", "Asthma (disorder)", "J45.909", "Unspecified asthma, uncomplicated"),),
        "alcohol": (_dx("7200002", "Alcoholism (disorder)", "F10.20", "Alcohol dependence, uncomplicated"),),
    }
)  # fmt: skip

# Reasons for hospital stays and emergency visits (acute diagnoses, resolved at discharge).
ACUTE: Mapping[str, DxConcepts] = MappingProxyType(
    {
        "pneumonia": _dx("233604007", "Pneumonia (disorder)", "J18.9", "Pneumonia, unspecified organism"),
        "sepsis": _dx("91302008", "Sepsis (disorder)", "A41.9", "Sepsis, unspecified organism"),
        "uti": _dx("68566005", "Urinary tract infectious disease (disorder)", "N39.0",
                   "Urinary tract infection, site not specified"),
        "chf_exac": _dx("42343007", "Congestive heart failure (disorder)", "I50.9", "Heart failure, unspecified"),
        "copd_exac": _dx("195951007", "Acute exacerbation of chronic obstructive airways disease (disorder)",
                         "J44.1", "Chronic obstructive pulmonary disease with (acute) exacerbation"),
        "ami": _dx("57054005", "Acute myocardial infarction (disorder)", "I21.9",
                   "Acute myocardial infarction, unspecified"),
        "stroke": _dx("422504002", "Ischemic stroke (disorder)", "I63.9", "Cerebral infarction, unspecified"),
        "aki": _dx("14669001", "Acute renal failure syndrome (disorder)", "N17.9", "Acute kidney failure, unspecified"),
        "cellulitis": _dx("128045006", "Cellulitis (disorder)", "L03.90", "Cellulitis, unspecified"),
        "gi_bleed": _dx("74474003", "Gastrointestinal hemorrhage (disorder)", "K92.2",
                        "Gastrointestinal hemorrhage, unspecified"),
        "hip_fracture": _dx("5913000", "Fracture of neck of femur (disorder)", "S72.009A",
                            "Fracture of unspecified part of neck of unspecified femur, initial encounter for "
                            "closed fracture"),
        "syncope": _dx("271594007", "Syncope (disorder)", "R55", "Syncope and collapse"),
        "dka": _dx("420422005", "Ketoacidosis due to diabetes mellitus (disorder)", "E11.10",
                   "Type 2 diabetes mellitus with ketoacidosis without coma"),
        "afib_rvr": _dx("49436004", "Atrial fibrillation (disorder)", "I48.91", "Unspecified atrial fibrillation"),
        "hyponatremia": _dx("89627008", "Hyponatremia (disorder)", "E87.1", "Hypo-osmolality and hyponatremia"),
        "dehydration": _dx("34095006", "Dehydration (disorder)", "E86.0", "Dehydration"),
        "chest_pain": _dx("29857009", "Chest pain (finding)", "R07.9", "Chest pain, unspecified"),
        "asthma_exac": _dx("195967001", "Asthma (disorder)", "J45.901", "Unspecified asthma with (acute) exacerbation"),
        "appendicitis": _dx("74400008", "Appendicitis (disorder)", "K35.80", "Unspecified acute appendicitis"),
        "hip_oa": _dx("239872002", "Osteoarthritis of hip (disorder)", "M16.9", "Osteoarthritis of hip, unspecified"),
        # Minor problems seen in clinics and emergency departments.
        "sinusitis": _dx("444814009", "Viral sinusitis (disorder)", "J01.90", "Acute sinusitis, unspecified"),
        "pharyngitis": _dx("195662009", "Acute viral pharyngitis (disorder)", "J02.9",
                           "Acute pharyngitis, unspecified"),
        "bronchitis": _dx("10509002", "Acute bronchitis (disorder)", "J20.9", "Acute bronchitis, unspecified"),
        "ankle_sprain": _dx("44465007", "Sprain of ankle (disorder)", "S93.409A",
                            "Sprain of unspecified ligament of unspecified ankle, initial encounter"),
        "back_pain": _dx("279039007", "Low back pain (finding)", "M54.50", "Low back pain, unspecified"),
        "laceration": _dx("284549007", "Laceration of hand (disorder)", "S61.419A",
                          "Laceration without foreign body of unspecified hand, initial encounter"),
    }
)  # fmt: skip

# ------------------------------------------------------------------------------------------- encounters
CLASS_AMB = coding(ACT_CODE, "AMB", "ambulatory")
CLASS_EMER = coding(ACT_CODE, "EMER", "emergency")
CLASS_IMP = coding(ACT_CODE, "IMP", "inpatient encounter")

ENC_CHECKUP = concept(coding(SNOMED, "185349003", "Encounter for check up (procedure)"),
                      text="Encounter for check up (procedure)")  # fmt: skip
ENC_SYMPTOM = concept(coding(SNOMED, "185345009", "Encounter for symptom (procedure)"),
                      text="Encounter for symptom (procedure)")  # fmt: skip
ENC_PROBLEM = concept(coding(SNOMED, "185347001", "Encounter for problem (procedure)"),
                      text="Encounter for problem (procedure)")  # fmt: skip
ENC_FOLLOWUP = concept(coding(SNOMED, "390906007", "Follow-up encounter (procedure)"),
                       text="Follow-up encounter (procedure)")  # fmt: skip
ENC_ED = concept(coding(SNOMED, "50849002", "Emergency room admission (procedure)"),
                 text="Emergency room admission (procedure)")  # fmt: skip
ENC_EMERGENCY_ADMISSION = concept(coding(SNOMED, "183452005", "Emergency hospital admission (procedure)"),
                                  text="Emergency hospital admission (procedure)")  # fmt: skip
ENC_ELECTIVE_ADMISSION = concept(coding(SNOMED, "8715000", "Hospital admission, elective (procedure)"),
                                 text="Hospital admission, elective (procedure)")  # fmt: skip
ENC_ADMISSION = concept(coding(SNOMED, "32485007", "Hospital admission (procedure)"),
                        text="Hospital admission (procedure)")  # fmt: skip
ENC_ICU = concept(coding(SNOMED, "305351004", "Admission to intensive care unit (procedure)"),
                  text="Admission to intensive care unit (procedure)")  # fmt: skip

PARTICIPANT_PPRF = [concept(coding("http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "PPRF",
                                   "primary performer"), text="primary performer")]  # fmt: skip
PARTICIPANT_ATND = [concept(coding("http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "ATND",
                                   "attender"), text="attender")]  # fmt: skip

ADMIT_SOURCES: Mapping[str, dict[str, Any]] = MappingProxyType(
    {
        code: concept(coding(ADMIT_SOURCE, code, display), text=display)
        for code, display in (
            ("hosp-trans", "Transferred from other hospital"),
            ("emd", "From accident/emergency department"),
            ("outp", "From outpatient department"),
            ("gp", "General Practitioner referral"),
            ("mp", "Medical Practitioner/physician referral"),
            ("nursing", "From nursing home"),
            ("rehab", "From rehabilitation facility"),
            ("other", "Other"),
        )
    }
)

DISPOSITION_DISPLAY: Mapping[str, str] = MappingProxyType(
    {
        "home": "Home",
        "alt-home": "Alternative home",
        "other-hcf": "Other healthcare facility",
        "hosp": "Hospice",
        "long": "Long-term care",
        "aadvice": "Left against advice",
        "exp": "Expired",
        "psy": "Psychiatric hospital",
        "rehab": "Rehabilitation",
        "snf": "Skilled nursing facility",
        "oth": "Other",
    }
)
DISPOSITIONS: Mapping[str, dict[str, Any]] = MappingProxyType(
    {c: concept(coding(DISCHARGE_DISPOSITION, c, d), text=d) for c, d in DISPOSITION_DISPLAY.items()}
)
# An emergency or ward encounter that continues in another unit of the same stay.
DISPOSITION_ADMITTED = concept(coding(DISCHARGE_DISPOSITION, "oth", "Other"), text="Admitted as inpatient")
DISPOSITION_UNIT_TRANSFER = concept(coding(DISCHARGE_DISPOSITION, "oth", "Other"), text="Transferred to another unit")

# ---------------------------------------------------------------------------------------- observations
CATEGORY_VITALS = [concept(coding("http://terminology.hl7.org/CodeSystem/observation-category", "vital-signs",
                                  "vital-signs"))]  # fmt: skip
CATEGORY_LAB = [concept(coding("http://terminology.hl7.org/CodeSystem/observation-category", "laboratory",
                               "laboratory"))]  # fmt: skip


@dataclass(frozen=True)
class Measure:
    """One LOINC-coded quantity: how it is coded, its UCUM unit and how many decimals are reported."""

    key: str
    loinc: str
    display: str
    unit: str
    decimals: int
    category: str  # "vital-signs" or "laboratory"

    @property
    def code(self) -> dict[str, Any]:
        return concept(coding(LOINC, self.loinc, self.display), text=self.display)


def _m(key, loinc, display, unit, decimals, category="laboratory") -> Measure:
    return Measure(key, loinc, display, unit, decimals, category)


MEASURES: Mapping[str, Measure] = MappingProxyType(
    {
        m.key: m
        for m in (
            # Labs (the seed's list, with 777-3 for the platelet count and 3094-0 for urea nitrogen).
            _m("creatinine", "2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "mg/dL", 2),
            _m("creatinine_si", "14682-9", "Creatinine [Moles/volume] in Serum or Plasma", "umol/L", 0),
            _m("bun", "3094-0", "Urea nitrogen [Mass/volume] in Serum or Plasma", "mg/dL", 0),
            _m("sodium", "2951-2", "Sodium [Moles/volume] in Serum or Plasma", "mmol/L", 0),
            _m("potassium", "2823-3", "Potassium [Moles/volume] in Serum or Plasma", "mmol/L", 1),
            _m("glucose", "2345-7", "Glucose [Mass/volume] in Serum or Plasma", "mg/dL", 0),
            _m("glucose_si", "15074-8", "Glucose [Moles/volume] in Blood", "mmol/L", 1),
            _m("wbc", "6690-2", "Leukocytes [#/volume] in Blood by Automated count", "10*3/uL", 1),
            _m("hemoglobin", "718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL", 1),
            _m("platelets", "777-3", "Platelets [#/volume] in Blood by Automated count", "10*3/uL", 0),
            _m("alt", "1742-6", "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma", "U/L", 0),
            _m("ast", "1920-8", "Aspartate aminotransferase [Enzymatic activity/volume] in Serum or Plasma", "U/L", 0),
            _m("hba1c", "4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "%", 1),
            # Vital signs.
            _m("heart_rate", "8867-4", "Heart rate", "/min", 0, "vital-signs"),
            _m("respiratory_rate", "9279-1", "Respiratory rate", "/min", 0, "vital-signs"),
            _m("temperature", "8310-5", "Body temperature", "Cel", 1, "vital-signs"),
            _m("temperature_f", "8310-5", "Body temperature", "[degF]", 1, "vital-signs"),
            _m("spo2", "2708-6", "Oxygen saturation in Arterial blood", "%", 0, "vital-signs"),
            _m("systolic", "8480-6", "Systolic blood pressure", "mm[Hg]", 0, "vital-signs"),
            _m("diastolic", "8462-4", "Diastolic blood pressure", "mm[Hg]", 0, "vital-signs"),
            _m("weight", "29463-7", "Body weight", "kg", 1, "vital-signs"),
            _m("height", "8302-2", "Body height", "cm", 1, "vital-signs"),
            _m("bmi", "39156-5", "Body mass index (BMI) [Ratio]", "kg/m2", 1, "vital-signs"),
        )
    }
)
MEASURE_CODES: Mapping[str, dict[str, Any]] = MappingProxyType({k: m.code for k, m in MEASURES.items()})
SPO2_US_CORE_CODE = concept(
    coding(LOINC, "59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry"),
    coding(LOINC, "2708-6", "Oxygen saturation in Arterial blood"),
    text="Oxygen saturation in Arterial blood by Pulse oximetry",
)
BP_PANEL_CODE = concept(coding(LOINC, "85354-9", "Blood pressure panel with all children optional"),
                        text="Blood pressure panel with all children optional")  # fmt: skip
SERVICE_COMMENT_CODE = concept(coding(LOINC, "8251-1", "Service comment"), text="Service comment")

BMP = ("creatinine", "bun", "sodium", "potassium", "glucose")
CBC = ("wbc", "hemoglobin", "platelets")
LFT = ("alt", "ast")


# ------------------------------------------------------------------------------------------ medications
@dataclass(frozen=True)
class Med:
    rxnorm: str
    display: str
    sig: str  # dosage instruction text

    @property
    def concept(self) -> dict[str, Any]:
        return concept(coding(RXNORM, self.rxnorm, self.display), text=self.display)


_DAILY = "Take 1 tablet by mouth once daily"
_BID = "Take 1 tablet by mouth twice daily"
MEDS: Mapping[str, Med] = MappingProxyType(
    {
        "lisinopril": Med("314076", "lisinopril 10 MG Oral Tablet", _DAILY),
        "hctz": Med("310798", "Hydrochlorothiazide 25 MG Oral Tablet", _DAILY),
        "amlodipine": Med("197361", "Amlodipine 5 MG Oral Tablet", _DAILY),
        "atenolol_chlorthalidone": Med("746030", "Atenolol 50 MG / Chlorthalidone 25 MG Oral Tablet", _DAILY),
        "simvastatin10": Med("314231", "Simvastatin 10 MG Oral Tablet", "Take 1 tablet by mouth at bedtime"),
        "simvastatin20": Med("312961", "Simvastatin 20 MG Oral Tablet", "Take 1 tablet by mouth at bedtime"),
        "atorvastatin80": Med("259255", "atorvastatin 80 MG Oral Tablet", _DAILY),
        "aspirin81": Med("243670", "aspirin 81 MG Oral Tablet", _DAILY),
        "clopidogrel": Med("309362", "Clopidogrel 75 MG Oral Tablet", _DAILY),
        "nitroglycerin": Med("705129", "Nitroglycerin 0.4 MG/ACTUAT Mucosal Spray",
                             "1 spray under the tongue every 5 minutes as needed for chest pain, up to 3 doses"),
        "furosemide": Med("313988", "Furosemide 40 MG Oral Tablet", "Take 1 tablet by mouth every morning"),
        "digoxin": Med("197604", "Digoxin 0.125 MG Oral Tablet", _DAILY),
        "warfarin": Med("855332", "Warfarin Sodium 5 MG Oral Tablet", "Take as directed per INR"),
        "verapamil": Med("897718", "Verapamil Hydrochloride 40 MG", "Take 1 tablet by mouth three times daily"),
        "apixaban": Med("1364445", "apixaban 5 MG Oral Tablet", _BID),
        "metformin": Med("860975", "24 HR Metformin hydrochloride 500 MG Extended Release Oral Tablet",
                         "Take 1 tablet by mouth daily with the evening meal"),
        "insulin": Med("106892", "insulin human, isophane 70 UNT/ML / Regular Insulin, Human 30 UNT/ML "
                                 "Injectable Suspension [Humulin]", "Inject subcutaneously twice daily as directed"),
        "albuterol": Med("2123111", "NDA020503 200 ACTUAT Albuterol 0.09 MG/ACTUAT Metered Dose Inhaler",
                         "Inhale 2 puffs every 4 to 6 hours as needed for shortness of breath"),
        "fluticasone_salmeterol": Med("896209", "60 ACTUAT Fluticasone propionate 0.25 MG/ACTUAT / salmeterol "
                                                "0.05 MG/ACTUAT Dry Powder Inhaler", "Inhale 1 puff twice daily"),
        "fluticasone": Med("895994", "120 ACTUAT Fluticasone propionate 0.044 MG/ACTUAT Metered Dose Inhaler",
                           "Inhale 2 puffs twice daily"),
        "galantamine": Med("310436", "Galantamine 4 MG Oral Tablet", _BID),
        "donepezil_memantine": Med("1599803", "24 HR Donepezil hydrochloride 10 MG / Memantine hydrochloride "
                                              "28 MG Extended Release Oral Capsule", "Take 1 capsule by mouth daily"),
        "methotrexate": Med("105585", "methotrexate 2.5 MG Oral Tablet", "Take 3 tablets by mouth once weekly"),
        "alendronate": Med("904419", "Alendronic acid 10 MG Oral Tablet", _DAILY),
        "levothyroxine": Med("966222", "Levothyroxine Sodium 0.075 MG Oral Tablet",
                             "Take 1 tablet by mouth every morning on an empty stomach"),
        "ferrous_sulfate": Med("310325", "ferrous sulfate 325 MG Oral Tablet", _DAILY),
        "docetaxel": Med("1860480", "1 ML DOCEtaxel 20 MG/ML Injection", "Infuse intravenously per oncology protocol"),
        "leuprolide": Med("752899", "0.25 ML Leuprolide Acetate 30 MG/ML Prefilled Syringe",
                          "Inject every 4 months per oncology"),
        "naproxen": Med("849574", "Naproxen sodium 220 MG Oral Tablet",
                        "Take 1 tablet by mouth every 8 hours as needed for pain"),
        "acetaminophen": Med("313782", "Acetaminophen 325 MG Oral Tablet",
                             "Take 2 tablets by mouth every 6 hours as needed for pain or fever"),
        "ibuprofen": Med("310965", "Ibuprofen 200 MG Oral Tablet",
                         "Take 2 tablets by mouth every 6 hours as needed for pain"),
        "oxycodone_apap": Med("1049221", "Acetaminophen 325 MG / oxyCODONE Hydrochloride 5 MG Oral Tablet",
                              "Take 1 tablet by mouth every 6 hours as needed for severe pain"),
        "hydrocodone_apap": Med("856987", "Acetaminophen 300 MG / HYDROcodone Bitartrate 5 MG Oral Tablet",
                                "Take 1 tablet by mouth every 6 hours as needed for pain"),
        "ceftriaxone": Med("1665021", "ceftriaxone 1000 MG Injection", "Administer 1 g intravenously every 24 hours"),
        "piperacillin_tazobactam": Med("1659149", "piperacillin 4000 MG / tazobactam 500 MG Injection",
                                       "Administer intravenously every 6 hours"),
        "amoxicillin_clavulanate": Med("562251", "Amoxicillin 250 MG / Clavulanate 125 MG Oral Tablet",
                                       "Take 1 tablet by mouth every 8 hours for 7 days"),
        "amoxicillin": Med("308192", "Amoxicillin 500 MG Oral Tablet",
                           "Take 1 tablet by mouth every 8 hours for 10 days"),
        "cefuroxime": Med("309097", "Cefuroxime 250 MG Oral Tablet", "Take 1 tablet by mouth twice daily for 7 days"),
        "nitrofurantoin": Med("311989", "Nitrofurantoin 5 MG/ML Oral Suspension",
                              "Take 20 mL by mouth every 6 hours for 5 days"),
        "alteplase": Med("1804799", "Alteplase 100 MG Injection", "Administer intravenously once per stroke protocol"),
        "amiodarone": Med("834357", "3 ML Amiodarone hydrocholoride 50 MG/ML Prefilled Syringe",
                          "Administer intravenously as directed"),
    }
)  # fmt: skip
MED_CONCEPTS: Mapping[str, dict[str, Any]] = MappingProxyType({k: m.concept for k, m in MEDS.items()})

# Long-term medication options per chronic condition (a patient with the condition gets one or two of them).
CHRONIC_MEDS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "htn": ("lisinopril", "hctz", "amlodipine", "atenolol_chlorthalidone"),
        "hld": ("simvastatin10", "simvastatin20", "atorvastatin80"),
        "cad": ("aspirin81", "atorvastatin80", "nitroglycerin"),
        "mi": ("aspirin81", "clopidogrel", "atorvastatin80"),
        "chf": ("furosemide", "lisinopril", "digoxin"),
        "afib": ("apixaban", "warfarin", "verapamil", "digoxin"),
        "dm": ("metformin", "insulin"),
        "dm_comp": ("insulin",),
        "copd": ("albuterol", "fluticasone_salmeterol"),
        "asthma": ("albuterol", "fluticasone"),
        "dementia": ("galantamine", "donepezil_memantine"),
        "rheum": ("methotrexate",),
        "osteoporosis": ("alendronate",),
        "hypothyroid": ("levothyroxine",),
        "anemia": ("ferrous_sulfate",),
        "renal": ("ferrous_sulfate",),
        "osteoarthritis": ("naproxen", "acetaminophen"),
        "cvd": ("aspirin81", "clopidogrel"),
        "pvd": ("clopidogrel", "aspirin81"),
    }
)

# ------------------------------------------------------------------------------------------- procedures
PROCEDURES: Mapping[str, dict[str, Any]] = MappingProxyType(
    {
        key: concept(coding(SNOMED, code, display), text=display)
        for key, code, display in (
            ("medrec", "430193006", "Medication reconciliation (procedure)"),
            ("chest_xray", "399208008", "Plain X-ray of chest (procedure)"),
            ("ecg", "29303009", "Electrocardiographic procedure (procedure)"),
            ("echo", "40701008", "Echocardiography (procedure)"),
            ("pci", "415070008", "Percutaneous coronary intervention (procedure)"),
            ("cabg", "232717009", "Coronary artery bypass grafting (procedure)"),
            ("dialysis", "265764009", "Renal dialysis (procedure)"),
            ("hip_replacement", "52734007", "Total replacement of hip (procedure)"),
            ("colonoscopy", "73761001", "Colonoscopy (procedure)"),
            ("urine_culture", "117010004", "Urine culture (procedure)"),
            ("sputum", "269911007", "Sputum examination (procedure)"),
            ("cardioversion", "180325003", "Electrical cardioversion (procedure)"),
            ("chemotherapy", "367336001", "Chemotherapy (procedure)"),
            ("appendectomy", "80146002", "Excision of appendix (procedure)"),
            ("spirometry", "127783003", "Spirometry (procedure)"),
            ("transfusion", "116859006", "Transfusion of blood product (procedure)"),
            ("oxygen", "371908008", "Oxygen administration by mask (procedure)"),
            ("suture", "288086009", "Suture open wound (procedure)"),
            ("immobilization", "274474001", "Bone immobilization (procedure)"),
        )
    }
)

# --------------------------------------------------------------------------------------- demographics
RACES: tuple[tuple[str, str, str, float], ...] = (
    # (system, code, display, share)
    (OMB_RACE_ETHNICITY, "2106-3", "White", 0.640),
    (OMB_RACE_ETHNICITY, "2054-5", "Black or African American", 0.150),
    (OMB_RACE_ETHNICITY, "2028-9", "Asian", 0.065),
    (OMB_RACE_ETHNICITY, "1002-5", "American Indian or Alaska Native", 0.012),
    (OMB_RACE_ETHNICITY, "2076-8", "Native Hawaiian or Other Pacific Islander", 0.004),
    ("multi", "", "Multiracial", 0.030),
    (NULL_FLAVOR, "UNK", "Unknown", 0.030),
    (NULL_FLAVOR, "ASKU", "Asked but no answer", 0.019),
)
ETHNICITY_HISPANIC = (OMB_RACE_ETHNICITY, "2135-2", "Hispanic or Latino")
ETHNICITY_NOT_HISPANIC = (OMB_RACE_ETHNICITY, "2186-5", "Not Hispanic or Latino")
ETHNICITY_UNKNOWN = (NULL_FLAVOR, "UNK", "Unknown")

MARITAL: Mapping[str, dict[str, Any]] = MappingProxyType(
    {
        code: concept(coding("http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", code, display), text=display)
        for code, display in (("M", "Married"), ("S", "Never Married"), ("D", "Divorced"), ("W", "Widowed"))
    }
)

LANGUAGES: Mapping[str, dict[str, Any]] = MappingProxyType(
    {
        code: {"language": concept(coding("urn:ietf:bcp:47", code, display), text=display)}
        for code, display in (
            ("en-US", "English"),
            ("es", "Spanish"),
            ("zh", "Chinese"),
            ("vi", "Vietnamese"),
            ("tl", "Tagalog"),
            ("fr", "French"),
            ("ht", "Haitian"),
        )
    }
)


def identifier_type(code: str, display: str) -> dict[str, Any]:
    return concept(coding(V2_0203, code, display), text=display)


ID_TYPE_MR = identifier_type("MR", "Medical Record Number")
ID_TYPE_SS = identifier_type("SS", "Social Security Number")
ID_TYPE_DL = identifier_type("DL", "Driver's License")
ID_TYPE_PPN = identifier_type("PPN", "Passport Number")

CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CLINICAL_ACTIVE = concept(coding(CONDITION_CLINICAL, "active", "Active"))
CLINICAL_RESOLVED = concept(coding(CONDITION_CLINICAL, "resolved", "Resolved"))
VERIFICATION_CONFIRMED = concept(coding(CONDITION_VERIFICATION, "confirmed", "Confirmed"))
VERIFICATION_PROVISIONAL = concept(coding(CONDITION_VERIFICATION, "provisional", "Provisional"))
CATEGORY_ENCOUNTER_DX = [concept(coding("http://terminology.hl7.org/CodeSystem/condition-category",
                                        "encounter-diagnosis", "Encounter Diagnosis"))]  # fmt: skip
CATEGORY_PROBLEM_LIST = [concept(coding("http://terminology.hl7.org/CodeSystem/condition-category",
                                        "problem-list-item", "Problem List Item"))]  # fmt: skip
ORG_TYPE_PROVIDER = [concept(coding("http://terminology.hl7.org/CodeSystem/organization-type", "prov",
                                    "Healthcare Provider"), text="Healthcare Provider")]  # fmt: skip
