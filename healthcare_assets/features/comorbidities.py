"""Comorbidity codesets (ICD-10-CM prefixes AND SNOMED CT codes) and the Charlson comorbidity index.

Sources:

* Charlson ME, Pompei P, Ales KL, MacKenzie CR. A new method of classifying prognostic comorbidity in
  longitudinal studies. J Chronic Dis 1987;40(5):373-383: the 17 categories and their weights (1, 2, 3, 6).
* Quan H, Sundararajan V, Halfon P, et al. Coding algorithms for defining comorbidities in ICD-9-CM and ICD-10
  administrative data. Med Care 2005;43(11):1130-1139, Table 1 (ICD-10 Charlson): the ICD-10 prefixes below,
  matched against ICD-10-CM codes with the dot removed. One ICD-10-CM refinement: CKD stages 1-2
  (N18.1, N18.2) are not "moderate or severe renal disease" (Glasheen WP et al., Charlson Comorbidity Index:
  ICD-9 update and ICD-10 translation, Am Health Drug Benefits 2019;12(4):188-197).
* SNOMED CT (International Edition, http://snomed.info/sct): explicit concept lists per category, the concepts
  the synthetic cohort and Synthea emit plus common siblings. They are lists, not hierarchy expansions: a
  terminology server (ECL ``<< concept``) would give the full descendants; extend the lists as data.
  "Neoplasm of prostate" (126906006, behaviour unspecified) and carcinoma in situ are not malignancies, as in
  Quan's ICD-10 list (C codes only).

Hierarchies (Charlson): complicated diabetes supersedes uncomplicated, severe liver disease supersedes mild,
metastatic solid tumour supersedes malignancy. Categories outside the index have weight 0.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Comorbidity:
    key: str  # the feature column is cm_<key>
    label: str
    charlson_weight: int  # 0: not a Charlson category
    icd10cm_prefixes: tuple[str, ...]  # without dots, e.g. "I50", "E112"
    snomed: tuple[str, ...]
    icd10cm_excluded_prefixes: tuple[str, ...] = ()


def _r(prefix: str, lo: int, hi: int) -> tuple[str, ...]:
    """``C00``..``C26`` style ranges of two-digit prefixes."""
    return tuple(f"{prefix}{n:02d}" for n in range(lo, hi + 1))


COMORBIDITIES: tuple[Comorbidity, ...] = (
    # ---------------------------------------------------------------- Charlson (1987 weights, Quan 2005 ICD-10)
    Comorbidity("mi", "Myocardial infarction", 1, ("I21", "I22", "I252"),
                ("22298006", "399211009", "57054005", "401303003", "401314000", "1755008")),
    Comorbidity("chf", "Congestive heart failure", 1,
                ("I099", "I110", "I130", "I132", "I255", "I420", "I425", "I426", "I427", "I428", "I429", "I43",
                 "I50", "P290"),
                ("88805009", "84114007", "42343007", "85232009", "10335000", "703272007")),
    Comorbidity("pvd", "Peripheral vascular disease", 1,
                ("I70", "I71", "I731", "I738", "I739", "I771", "I790", "I792", "K551", "K558", "K559", "Z958",
                 "Z959"),
                ("400047006", "399957001", "840580004")),
    Comorbidity("cvd", "Cerebrovascular disease", 1, ("G45", "G46", "H340", *_r("I", 60, 69)),
                ("230690007", "266257000", "422504002", "432504007", "274100004")),
    Comorbidity("dementia", "Dementia", 1, ("F00", "F01", "F02", "F03", "F051", "G30", "G311"),
                ("52448006", "26929004", "230265002", "429998004")),
    Comorbidity("chronic_pulmonary", "Chronic pulmonary disease", 1,
                ("I278", "I279", *_r("J", 40, 47), *_r("J", 60, 67), "J684", "J701", "J703"),
                ("13645005", "87433001", "185086009", "195951007", "63480004", "195967001", "233678006")),
    Comorbidity("rheumatic", "Rheumatic disease", 1,
                ("M05", "M06", "M315", "M32", "M33", "M34", "M351", "M353", "M360"),
                ("69896004", "55464009", "200936003")),
    Comorbidity("peptic_ulcer", "Peptic ulcer disease", 1, ("K25", "K26", "K27", "K28"),
                ("13200003", "397825006", "51868009")),
    Comorbidity("liver_mild", "Mild liver disease", 1,
                ("B18", "K700", "K701", "K702", "K703", "K709", "K713", "K714", "K715", "K717", "K73", "K74",
                 "K760", "K762", "K763", "K764", "K768", "K769", "Z944"),
                ("128302006", "197321007", "19943007", "61977001")),
    Comorbidity("diabetes_uncomplicated", "Diabetes without chronic complication", 1,
                tuple(f"E1{t}{d}" for t in "01234" for d in "01689"),
                ("44054006", "46635009", "73211009", "420422005")),
    Comorbidity("diabetes_complicated", "Diabetes with chronic complication", 2,
                tuple(f"E1{t}{d}" for t in "01234" for d in "23457"),
                ("127013003", "368581000119106", "422034002", "90781000119102", "157141000119108",
                 "1551000119108", "97331000119101")),
    Comorbidity("hemiplegia", "Hemiplegia or paraplegia", 2,
                ("G041", "G114", "G801", "G802", "G81", "G82", "G830", "G831", "G832", "G833", "G834", "G839"),
                ("50582007", "60389000")),
    Comorbidity("renal", "Moderate or severe renal disease", 2,
                ("I120", "I131", *(f"N03{d}" for d in "234567"), *(f"N05{d}" for d in "234567"), "N18", "N19",
                 "N250", "Z490", "Z491", "Z492", "Z940", "Z992"),
                ("433144002", "431857002", "433146000", "46177005", "709044004"),
                icd10cm_excluded_prefixes=("N181", "N182")),
    Comorbidity("malignancy", "Malignancy (lymphoma, leukaemia, solid tumour)", 2,
                (*_r("C", 0, 26), *_r("C", 30, 34), *_r("C", 37, 41), "C43", *_r("C", 45, 58), *_r("C", 60, 76),
                 *_r("C", 81, 85), "C88", *_r("C", 90, 97)),
                ("254837009", "363358000", "363406005", "399068003", "254637007", "424132000", "109838007",
                 "93761005", "363346000")),
    Comorbidity("liver_severe", "Moderate or severe liver disease", 3,
                ("I850", "I859", "I864", "I982", "K704", "K711", "K721", "K729", "K765", "K766", "K767"),
                ("34742003", "28670008")),
    Comorbidity("metastatic", "Metastatic solid tumour", 6, ("C77", "C78", "C79", "C80"),
                ("128462008", "94222008", "94260004", "94381002")),
    Comorbidity("hiv_aids", "HIV/AIDS", 6, ("B20", "B21", "B22", "B24"), ("86406008", "62479008")),
    # ---------------------------------------------------------------- common conditions outside the index
    Comorbidity("diabetes", "Diabetes mellitus (any)", 0, ("E08", "E09", "E10", "E11", "E13"),
                ("44054006", "46635009", "73211009", "420422005", "127013003", "368581000119106", "422034002",
                 "90781000119102", "157141000119108", "1551000119108", "97331000119101")),
    Comorbidity("hypertension", "Hypertension", 0, ("I10", "I11", "I12", "I13", "I15", "I16"),
                ("59621000", "38341003", "1201005")),
    Comorbidity("ckd", "Chronic kidney disease (any stage)", 0, ("N18",),
                ("431855005", "431856006", "433144002", "431857002", "433146000", "46177005", "709044004")),
    Comorbidity("copd", "Chronic obstructive pulmonary disease", 0, ("J43", "J44"),
                ("13645005", "87433001", "185086009", "195951007")),
    Comorbidity("asthma", "Asthma", 0, ("J45",), ("195967001", "233678006")),
    Comorbidity("atrial_fibrillation", "Atrial fibrillation", 0, ("I48",), ("49436004",)),
    Comorbidity("coronary_artery_disease", "Coronary artery disease", 0, ("I20", "I25"),
                ("53741008", "414545008")),
    Comorbidity("hyperlipidemia", "Hyperlipidaemia", 0, ("E78",), ("55822004", "302870006")),
    Comorbidity("obesity", "Obesity", 0, ("E66",), ("162864005", "408512008")),
    Comorbidity("depression", "Depression", 0, ("F32", "F33"), ("35489007", "370143000")),
    Comorbidity("anemia", "Anaemia", 0, (*_r("D", 50, 64),), ("271737000",)),
    Comorbidity("alcohol_use_disorder", "Alcohol use disorder", 0, ("F10",), ("7200002",)),
)  # fmt: skip

# (superseding, superseded): the lower category does not add to the index when the higher one is present.
CHARLSON_HIERARCHY: tuple[tuple[str, str], ...] = (
    ("diabetes_complicated", "diabetes_uncomplicated"),
    ("liver_severe", "liver_mild"),
    ("metastatic", "malignancy"),
)
CHARLSON_SOURCE = "Charlson 1987 weights; ICD-10 per Quan et al., Med Care 2005;43:1130 (Table 1)"


def normalize_icd10(code: str) -> str:
    """``E11.22`` -> ``E1122``: the form the prefixes are written in."""
    return code.replace(".", "").strip().upper()


def codes_table() -> list[tuple[str, str, str, bool]]:
    """Rows (category, system 'icd10cm'|'snomed', code or prefix, excluded) for the feature SQL."""
    rows = []
    for c in COMORBIDITIES:
        rows += [(c.key, "icd10cm", p, False) for p in c.icd10cm_prefixes]
        rows += [(c.key, "icd10cm", p, True) for p in c.icd10cm_excluded_prefixes]
        rows += [(c.key, "snomed", code, False) for code in c.snomed]
    return rows
