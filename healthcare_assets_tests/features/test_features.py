"""Features on stays worked out by hand: LACE and HOSPITAL, prior utilization across batches, units, codesets,
medications, and nothing available only after discharge."""

from __future__ import annotations

from healthcare_assets.features import FeatureSpec, matrix_columns
from healthcare_assets_tests.features.helpers import build, rows
from healthcare_assets_tests.features.world import World

DAY = 24.0


def test_lace_matches_a_hand_computed_lace() -> None:
    w = World()
    # A: ED arrival, 3 days 4 h in hospital, CHF + diabetes with complications, two ED visits in 6 months.
    w.patient("a")
    w.encounter("a", "EMER", 3000, 3003)
    w.encounter("a", "EMER", 4000, 4002)
    w.condition("a", 100, icd="I50.9")
    w.condition("a", 100, icd="E11.22")
    a = w.stay("a", 5000, 76)
    # B: elective, 10 days, breast cancer with metastases (metastatic supersedes malignancy: 6 points).
    w.patient("b")
    w.condition("b", 100, snomed="254837009")
    w.condition("b", 200, icd="C79.9")
    b = w.stay("b", 5000, 240, ed=False)
    # C: admitted from the ED (admit source), 12 hours, no comorbidity, five ED visits in 6 months.
    w.patient("c")
    for k in range(5):
        w.encounter("c", "EMER", 4000 + 50 * k, 4001 + 50 * k)
    w.encounter("c", "EMER", 500, 501)  # 187 days before admission: not in the 182-day window
    c = w.stay("c", 5000, 12, ed=False, admit_source_code="emd")
    matrix = rows(build(w), "_fx_matrix")
    # L + A + C + E by hand (van Walraven 2010).
    assert matrix[a]["lace_score"] == 3 + 3 + 3 + 2
    assert matrix[b]["lace_score"] == 5 + 0 + 5 + 0
    assert matrix[c]["lace_score"] == 0 + 3 + 0 + 4
    assert (matrix[a]["charlson_index"], matrix[b]["charlson_index"], matrix[c]["charlson_index"]) == (3, 6, 0)
    assert matrix[c]["ed_visits_182d"] == 5 and matrix[c]["ed_visits_365d"] == 6


def test_hospital_score_matches_a_hand_computed_score() -> None:
    w = World()
    w.patient("p")
    for k in range(3):  # three admissions in the previous year
        w.stay("p", 1000 + 1000 * k, 48)
    w.condition("p", 100, snomed="363406005")  # colon cancer: the oncology proxy
    stay = w.stay("p", 6000, 130)  # ED, 5.4 days
    w.lab("p", "718-7", 10.0, "g/dL", 6020)
    w.lab("p", "718-7", 11.5, "g/dL", 6110)  # last hemoglobin < 12
    w.lab("p", "2951-2", 133.0, "mmol/L", 6110)  # last sodium < 135
    w.procedure("p", "232717009", 6050)  # a real procedure during the stay
    w.procedure("p", "430193006", 6120)  # medication reconciliation does not count
    matrix = rows(build(w), "_fx_matrix")[stay]
    # H 1 + O 2 + S 1 + P 1 + I 1 + T 2 (2-5 admissions) + A 2 (>= 5 days)
    assert matrix["hospital_score"] == 10 and matrix["procedures_in_stay"] == 1


def test_earlier_stays_from_an_earlier_batch_count_as_prior_utilization() -> None:
    w = World()
    w.patient("p", batch="b1")
    w.stay("p", 1000, 100, batch="b1")
    w.stay("p", 4000, 100, batch="b1")
    w.encounter("p", "EMER", 6000, 6003, batch="b1")  # an ED visit that was not admitted
    w.patient("p", batch="b2")
    index = w.stay("p", 8000, 100, batch="b2")
    w.stay("q", 100, 10, batch="b2")  # somebody else's stay does not count
    matrix = rows(build(w, batch_order=["b1", "b2"]), "_fx_matrix")
    row = matrix[index]
    assert row["batch_id"] == "b2"
    # Admission at 8000 h: stays discharged at 4100 h (162 days before) and 1100 h (287 days before).
    assert (row["inpatient_stays_182d"], row["inpatient_stays_365d"]) == (1, 2)
    # ED visits: the two stays' ED arrivals and the 6000 h visit; 182 days = 4368 h before 8000 h.
    assert (row["ed_visits_182d"], row["ed_visits_365d"]) == (2, 3)


def test_units_are_converted_and_implausible_values_dropped() -> None:
    w = World()
    w.patient("p")
    stay = w.stay("p", 1000, 100)
    w.lab("p", "14682-9", 176.84, "umol/L", 1010)  # creatinine 2.0 mg/dL, molar code and unit
    w.lab("p", "2160-0", 1.5, "mg/dL", 1050)
    w.lab("p", "2160-0", 1.2, "mg/dL", 1090)
    w.lab("p", "2160-0", 1.1, "mg/dl", 1092)  # case variant of the same UCUM unit
    w.lab("p", "2160-0", 950.0, "mg/dL", 1095)  # a typo: not plausible, not used
    w.lab("p", "8310-5", 100.4, "[degF]", 1060)  # 38.0 Cel
    w.lab("p", "2345-7", 5.5, "mmol/L", 1061)  # glucose 99.09 mg/dL
    w.lab("p", "2345-7", 99.0, "furlongs", 1062)  # unknown unit: not used
    con = build(w)
    row = rows(con, "_fx_matrix")[stay]
    assert row["creatinine_stay_latest"] == 1.1 and row["creatinine_stay_max"] == 2.0
    assert row["creatinine_stay_mean"] == round((2.0 + 1.5 + 1.2 + 1.1) / 4, 4)
    assert row["creatinine_stay_trend"] < 0  # falling over the stay (per day)
    assert row["temperature_stay_latest"] == 38.0 and row["glucose_stay_latest"] == round(5.5 * 18.016, 4)
    assert row["sodium_stay_missing"] == 1 and row["sodium_stay_latest"] is None


def test_comorbidities_from_icd10cm_and_snomed_alike() -> None:
    w = World()
    w.patient("icd")
    w.condition("icd", 100, icd="I50.22")
    w.condition("icd", 100, icd="N18.1")  # CKD stage 1: CKD, but not Charlson renal disease
    w.condition("icd", 100, icd="E11.9")
    icd = w.stay("icd", 1000, 100)
    w.patient("snomed")
    w.condition("snomed", 100, snomed="88805009")
    w.condition("snomed", 100, snomed="431855005")
    w.condition("snomed", 100, snomed="44054006")
    w.condition("snomed", 2000, snomed="86406008")  # HIV recorded after discharge: not known at the index time
    snomed = w.stay("snomed", 1000, 100)
    matrix = rows(build(w), "_fx_matrix")
    for stay in (icd, snomed):
        row = matrix[stay]
        assert (row["cm_chf"], row["cm_ckd"], row["cm_renal"], row["cm_diabetes_uncomplicated"]) == (1, 1, 0, 1)
        assert row["cm_hiv_aids"] == 0 and row["charlson_index"] == 2


def test_nothing_available_only_after_discharge_is_used() -> None:
    w = World()
    w.patient("p")
    stay = w.stay("p", 1000, 100)  # discharged at 1100 h
    w.lab("p", "718-7", 9.0, "g/dL", 1080, issued=1085)
    w.lab("p", "718-7", 4.0, "g/dL", 1099, issued=1102)  # drawn before, resulted after discharge
    w.lab("p", "718-7", 3.0, "g/dL", 1110)  # after discharge
    w.lab("p", "718-7", 13.0, "g/dL", 500)  # before admission: in the 365-day window only
    w.medication("p", "314076", 200)  # lisinopril, long-term
    w.medication("p", "308192", 1050)  # amoxicillin: a short course
    w.medication("p", "197361", 1200)  # ordered after discharge
    w.medication("p", "310798", 300, status="entered-in-error")
    row = rows(build(w), "_fx_matrix")[stay]
    assert (row["hemoglobin_stay_latest"], row["hemoglobin_stay_min"]) == (9.0, 9.0)
    assert (row["hemoglobin_365d_min"], row["hemoglobin_365d_max"]) == (9.0, 13.0)
    assert row["long_term_medications"] == 1 and row["polypharmacy_5"] == 0


def test_the_dictionary_is_the_matrix() -> None:
    w = World()
    w.patient("p")
    w.stay("p", 1000, 100)
    spec = FeatureSpec()
    con = build(w, spec)
    described = [(c.name, c.dtype) for c in matrix_columns(spec)]
    actual = [(r[0], r[1]) for r in con.execute("DESCRIBE _fx_matrix").fetchall()]
    assert actual == described
    roles = {c.role for c in matrix_columns(spec)}
    assert roles == {"key", "label", "feature", "comparator", "subgroup", "meta"}


def test_same_data_same_bits() -> None:
    w = World()
    w.patient("p")
    stay = w.stay("p", 1000, 100)
    for k in range(40):
        w.lab("p", "2160-0", 0.7 + (k % 7) * 0.13, "mg/dL", 500 + 15 * k)
    first = rows(build(w), "_fx_matrix")[stay]
    second = rows(build(w), "_fx_matrix")[stay]
    assert first == second
