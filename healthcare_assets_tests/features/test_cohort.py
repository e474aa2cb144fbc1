"""The cohort rules on stays worked out by hand: merging, index events, exclusions, labels and their status."""

from __future__ import annotations

from healthcare_assets.features import FeatureSpec, attrition
from healthcare_assets_tests.features.helpers import build, rows
from healthcare_assets_tests.features.world import World

DAY = 24.0


def test_ed_icu_ward_chain_and_next_day_transfer_are_one_stay() -> None:
    w = World()
    w.patient("p")
    w.encounter("p", "EMER", 1000, 1004)
    w.encounter("p", "IMP", 1004, 1050, type_code="305351004")  # ICU
    w.encounter("p", "IMP", 1050.2, 1100)  # ward, 12 minutes later
    last = w.encounter("p", "IMP", 1120, 1150, discharge_disposition_code="home")  # another hospital, 20 h later
    con = build(w)
    cohort = rows(con, "_fx_cohort")
    assert list(cohort) == [last]
    matrix = rows(con, "_fx_matrix")[last]
    assert matrix["encounters_in_stay"] == 4 and matrix["icu_stay"] == 1 and matrix["admitted_via_ed"] == 1
    assert matrix["los_days"] == round(150 / DAY, 4) and matrix["index_offset_h"] == 1150
    assert (matrix["label_status"], matrix["label"]) == ("observed", 0)


def test_an_ed_and_a_ward_encounter_starting_the_same_minute_count_as_via_the_ed_in_either_order() -> None:
    for order in (("IMP", "EMER"), ("EMER", "IMP")):
        w = World()
        w.patient("p")
        ids = {cls: w.encounter("p", cls, 1000, 1004 if cls == "EMER" else 1100) for cls in order}
        matrix = rows(build(w), "_fx_matrix")[ids["IMP"]]
        assert matrix["admitted_via_ed"] == 1, order


def test_readmission_within_the_horizon_is_the_label() -> None:
    w = World()
    w.patient("p")
    first = w.stay("p", 1000, 100)
    second = w.stay("p", 1100 + 10 * DAY, 50)  # admitted 10 days after the first discharge
    third = w.stay("p", 1150 + 10 * DAY + 31 * DAY, 50)  # 31 days after the second
    cohort = rows(build(w), "_fx_cohort")
    assert (cohort[first]["label"], cohort[first]["days_to_readmission"]) == (1, 10.0)
    assert (cohort[second]["label_status"], cohort[second]["label"]) == ("observed", 0)
    assert cohort[third]["label"] == 0


def test_pending_and_competing_death_are_never_negatives() -> None:
    w = World()
    w.patient("short")
    pending = w.stay("short", 4900, 100, followup=False)
    w.patient("died", deceased=True, deceased_datetime_offset_h=5000 + 5 * DAY)
    censored = w.stay("died", 4900, 100)
    w.patient("unknown_time", deceased=True)
    unknown = w.stay("unknown_time", 4900, 100)
    w.patient("readmitted_then_died", deceased=True, deceased_datetime_offset_h=5000 + 20 * DAY)
    readmitted = w.stay("readmitted_then_died", 4900, 100, followup=False)
    w.stay("readmitted_then_died", 5000 + 3 * DAY, 50)
    cohort = rows(build(w), "_fx_cohort")
    assert (cohort[pending]["label_status"], cohort[pending]["label"]) == ("pending", None)
    assert (cohort[censored]["label_status"], cohort[censored]["label"]) == ("censored", None)
    assert cohort[censored]["death_within_horizon"] is True
    assert cohort[unknown]["label_status"] == "censored"
    # An outcome seen before the data ends (or a later death) is observed.
    assert (cohort[readmitted]["label_status"], cohort[readmitted]["label"]) == ("observed", 1)


def test_exclusions_in_order_and_the_attrition_table() -> None:
    w = World()
    ids = {}
    for name, code in (("home", "home"), ("ama", "aadvice"), ("ama_nubc", "07"), ("transfer", "02"),
                       ("expired", "20"), ("snf", "snf")):  # fmt: skip
        w.patient(name)
        ids[name] = w.stay(name, 1000, 100, discharge_disposition_code=code)
    w.patient("child")
    ids["child"] = w.stay("child", 1000, 100, age_years=16)
    w.patient("died_at_discharge", deceased=True, deceased_datetime_offset_h=1100)
    ids["died_at_discharge"] = w.stay("died_at_discharge", 1000, 100)
    w.patient("open")
    w.encounter("open", "EMER", 1000, 1004)
    ids["open"] = w.encounter("open", "IMP", 1004, None)
    spec = FeatureSpec()
    con = build(w, spec)
    cohort = rows(con, "_fx_cohort")
    assert {k: cohort[v]["exclusion"] for k, v in ids.items()} == {
        "home": None, "snf": None, "ama": "against_advice", "ama_nubc": "against_advice",
        "transfer": "acute_transfer", "expired": "expired", "died_at_discharge": "expired",
        "child": "under_min_age", "open": "open",
    }  # fmt: skip
    assert set(rows(con, "_fx_matrix")) == {ids["home"], ids["snf"]}
    steps = attrition(con, spec.cohort)
    assert [s.stays for s in steps] == [9, 8, 7, 5, 3, 2]
    assert steps[-1].patients == 2 and steps[-1].non_outcomes == 2 and steps[-1].outcomes == 0


def test_a_resource_sent_again_counts_once_and_the_latest_version_wins() -> None:
    w = World()
    for batch in ("b1", "b2"):
        w.patient("p", batch=batch)
        w.encounter("p", "EMER", 1000, 1004, batch, encounter_id="ed")
    w.encounter("p", "IMP", 1004, None, "b1", encounter_id="ward")  # open when b1 was exported
    w.encounter("p", "IMP", 1004, 1100, "b2", encounter_id="ward")  # finished in b2
    w.stay("p", 2000, 50, batch="b1")  # a stay only b1 carried
    con = build(w, batch_order=["b1", "b2"])
    cohort = rows(con, "_fx_cohort")
    assert cohort["ward"]["batch_id"] == "b2" and cohort["ward"]["exclusion"] is None
    assert cohort["ward"]["encounters"] == 2  # the ED encounter is in both batches, counted once
    assert len(cohort) == 2
    # Registered order decides, not the names: with b2 first, b1's open version is the current one.
    assert rows(build(w, batch_order=["b2", "b1"]), "_fx_cohort")["ward"]["exclusion"] == "open"


def test_a_stay_belongs_to_the_batch_that_first_carried_it_finished() -> None:
    w = World()
    w.patient("p", batch="b1")
    w.patient("p", batch="b2")
    for batch in ("b1", "b2"):
        w.encounter("p", "IMP", 1000, 1100, batch, encounter_id="old")
    w.encounter("p", "IMP", 3000, 3100, "b2", encounter_id="new")
    matrix = rows(build(w, batch_order=["b1", "b2"]), "_fx_matrix")
    assert {k: v["batch_id"] for k, v in matrix.items()} == {"old": "b1", "new": "b2"}
