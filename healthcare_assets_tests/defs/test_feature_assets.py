"""The feature assets with ``dagster.materialize``: both sources pass the gates, two synthetic batches give one
training set without duplicates, earlier batches feed prior utilization, a post-discharge lab seen by a leaky
feature fails the run, and nothing of the PHI zone reaches the feature stage's outputs or logs."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import DagsterInstance, asset, materialize

from healthcare_assets.defs.deidentification import deidentified_tables
from healthcare_assets.defs.extraction import fhir_profile, raw_fhir_ndjson
from healthcare_assets.defs.features import FeatureSettings, feature_matrix, readmission_cohort
from healthcare_assets.defs.partitions import EXPORT_BATCH_PARTITIONS, export_batches
from healthcare_assets.defs.resources import DataHome
from healthcare_assets.defs.training_data import feature_dictionary, train_test_split, training_set
from healthcare_assets.features import FeatureSpec, WindowSpec
from healthcare_assets.warehouse import Warehouse
from healthcare_assets_tests.deid.phi_cases import PHI_VALUES, write_cases
from healthcare_assets_tests.features.fhir_cases import Batch

PER_BATCH = [raw_fhir_ndjson, fhir_profile, deidentified_tables, readmission_cohort, feature_matrix]
CROSS_BATCH = [feature_dictionary, training_set, train_test_split]


class Pipeline:
    """One data directory and one Dagster instance, batches registered in the order they are run."""

    def __init__(self, home: Path, features: FeatureSettings | None = None):
        self.home = home
        self.instance = DagsterInstance.ephemeral()
        self.resources = {"home": DataHome(path=str(home)), "features": features or FeatureSettings()}
        self.warehouse = Warehouse(home / "warehouse.duckdb")

    def batch(self, batch: str, source: dict, extra=()):
        self.instance.add_dynamic_partitions(EXPORT_BATCH_PARTITIONS, [batch])
        return materialize(
            [*PER_BATCH, *extra],
            partition_key=batch,
            instance=self.instance,
            resources=self.resources,
            run_config={
                "ops": {"raw_fhir_ndjson": {"config": source}, "feature_matrix": {"config": {"leakage_sample": 0}}}
            },
            raise_on_error=False,
        )

    def cross_batch(self, split: dict | None = None):
        return materialize(
            CROSS_BATCH,
            instance=self.instance,
            resources=self.resources,
            run_config={"ops": {"train_test_split": {"config": split or {}}}},
            raise_on_error=False,
        )


def _checks(result) -> dict[str, bool]:
    return {f"{c.asset_key.to_user_string()}:{c.check_name}": c.passed for c in result.get_asset_check_evaluations()}


def _metadata(result, node: str) -> dict:
    return {m.asset_key.to_user_string(): m.metadata for m in result.asset_materializations_for_node(node)}


@pytest.mark.slow
def test_two_synthetic_batches_give_one_training_set_without_duplicates(tmp_path: Path) -> None:
    pipe = Pipeline(tmp_path / "home")
    source = {"source": "synthetic", "patients": 250, "seed": 11}
    first = pipe.batch("s1", source)
    assert first.success, first
    assert _checks(first)["feature_matrix:feature_matrix_schema"] and _checks(first)["feature_matrix:no_future_data"]
    cohort = _metadata(first, "readmission_cohort")["readmission_cohort"]
    assert "minus died in hospital" in cohort["attrition"].value and cohort["index_stays"].value > 100
    # The same export again (a full re-export): every resource is sent twice.
    second = pipe.batch("s2", source)
    assert second.success
    built = pipe.warehouse.query("SELECT batch_id, count(*) FROM feature_matrix GROUP BY ALL ORDER BY 1")
    assert built == [("s1", cohort["index_stays"].value)]  # s2 brought no stay that s1 had not
    cross = pipe.cross_batch()
    assert cross.success and all(_checks(cross).values())
    rows, stays, batches = pipe.warehouse.query(
        "SELECT count(*), count(DISTINCT stay_id), list(DISTINCT batch_id) FROM training_set"
    )[0]
    observed = pipe.warehouse.query("SELECT count(*) FROM feature_matrix WHERE label_status = 'observed'")[0][0]
    assert rows == stays == observed and batches == ["s1"]
    # Every training row is s1's published row, which passed the leakage gate in s1's build: none is rebuilt again.
    leakage = next(
        c for c in cross.get_asset_check_evaluations() if c.asset_key.to_user_string() == "training_set"
        and c.check_name == "no_future_data"
    )  # fmt: skip
    assert leakage.metadata["stays_verified_before"].value == rows and leakage.metadata["stays_checked"].value == 0
    columns = [r[0] for r in pipe.warehouse.query("DESCRIBE training_set")]
    features = [
        r[0]
        for r in pipe.warehouse.query("SELECT name FROM feature_dictionary WHERE role = 'feature' ORDER BY position")
    ]
    assert columns[:10] == ["stay_id", "patient_id", "batch_id", "index_offset_h", "label", "sex", "age_band",
                            "lace_score", "hospital_score", "age_at_admission"]  # fmt: skip
    assert columns[8 + 1 :] == features
    both = pipe.warehouse.query(
        "SELECT count(*) FROM (SELECT patient_id FROM train_test_split GROUP BY 1 HAVING count(DISTINCT split) > 1)"
    )
    assert both == [(0,)]
    split = _metadata(cross, "train_test_split")["train_test_split"]
    assert (
        split["seed"].value == 42 and split["strategy"].value == "random" and split["patients_on_both_sides"].value == 0
    )
    # The synthetic source's data ends at the simulation's end: the follow-up flag is set for every finished
    # encounter, true for most (years of history), false for the last month's; no interval to the end is published.
    flags = dict(
        pipe.warehouse.query(
            """SELECT followup_complete_30d, count(*) FROM deidentified_encounter
               WHERE batch_id = 's1' AND period_end_offset_h IS NOT NULL GROUP BY 1"""
        )
    )
    assert None not in flags and flags[True] > flags[False] > 0
    assert not pipe.warehouse.query(
        """SELECT table_name, column_name FROM information_schema.columns
           WHERE column_name IN ('data_end_offset_h', 'followup_end_offset_h')"""
    )


def test_synthea_passes_the_gates(tmp_path: Path, synthea_dir: Path) -> None:
    pipe = Pipeline(tmp_path / "home")
    result = pipe.batch("synthea", {"source": "ndjson_dir", "path": str(synthea_dir)})
    assert result.success
    assert _checks(result)["feature_matrix:feature_matrix_schema"] and _checks(result)["feature_matrix:no_future_data"]
    cohort = _metadata(result, "readmission_cohort")["readmission_cohort"]
    assert cohort["index_stays"].value > 20 and "too few to train" in cohort["warnings"].value  # 100 patients
    matrix = _metadata(result, "feature_matrix")["feature_matrix"]
    assert matrix["dagster/row_count"].value == cohort["index_stays"].value and matrix["published"].value


def test_earlier_stays_in_an_earlier_batch_count_as_prior_utilization(tmp_path: Path) -> None:
    pipe = Pipeline(tmp_path / "home")
    first = Batch()
    first.patient("pat-1")
    first.stay("old-1", "pat-1", 0, 72)
    first.stay("old-2", "pat-1", 2000, 96)
    assert pipe.batch("b1", {"source": "ndjson_dir", "path": str(first.write(tmp_path / "b1"))}).success
    second = Batch()
    second.patient("pat-1")
    second.stay("index", "pat-1", 5000, 120)
    assert pipe.batch("b2", {"source": "ndjson_dir", "path": str(second.write(tmp_path / "b2"))}).success
    rows = pipe.warehouse.query(
        "SELECT inpatient_stays_182d, inpatient_stays_365d, ed_visits_365d, los_days FROM feature_matrix "
        "WHERE batch_id = 'b2'"
    )
    # Admission at 5000 h: stays discharged at 2096 h (121 days before) and 72 h (205 days before), both via ED.
    assert rows == [(1, 2, 2, 5.0)]


class AroundDischarge(FeatureSettings):
    """A defective feature definition: "labs around discharge" (+-24 h), the classic leak."""

    def spec(self) -> FeatureSpec:
        spec = super().spec()
        return FeatureSpec(cohort=spec.cohort, windows=(*spec.windows, WindowSpec("around", -24.0, 24.0)))


@asset(deps=["feature_matrix"], partitions_def=export_batches, group_name="training")
def uses_feature_matrix() -> None:
    """Stands in for scoring: must not run after a failed blocking gate."""


def test_a_post_discharge_lab_seen_by_a_feature_fails_the_run(tmp_path: Path) -> None:
    batch = Batch()
    batch.patient("pat-1")
    batch.stay("stay-1", "pat-1", 1000, 100)  # discharged at 1100 h
    batch.lab("lab-1", "pat-1", "2160-0", 1.1, "mg/dL", 1080)
    batch.lab("lab-2", "pat-1", "2160-0", 6.3, "mg/dL", 1106)  # planted: 6 hours after discharge
    source = {"source": "ndjson_dir", "path": str(batch.write(tmp_path / "src"))}
    honest = Pipeline(tmp_path / "honest").batch("b1", source)
    assert honest.success and _checks(honest)["feature_matrix:no_future_data"]
    leaky = Pipeline(tmp_path / "leaky", AroundDischarge())
    result = leaky.batch("b1", source, extra=[uses_feature_matrix])
    assert not result.success
    assert _checks(result)["feature_matrix:no_future_data"] is False
    assert _checks(result)["feature_matrix:feature_matrix_schema"] is True
    evaluation = next(c for c in result.get_asset_check_evaluations() if c.check_name == "no_future_data")
    assert "creatinine_around_latest" in evaluation.metadata["failure_cases"].value
    assert not result.asset_materializations_for_node("uses_feature_matrix")
    assert not leaky.warehouse.table_exists("feature_matrix")  # not published


def test_nothing_from_the_phi_zone_reaches_feature_outputs_or_logs(tmp_path: Path) -> None:
    pipe = Pipeline(tmp_path / "home")
    result = pipe.batch("phi", {"source": "ndjson_dir", "path": str(write_cases(tmp_path / "src"))})
    assert result.success
    cross = pipe.cross_batch()
    text = []
    for run in (result, cross):
        for event in pipe.instance.all_logs(run.run_id):
            text.append(str(event.user_message))
            if event.dagster_event is not None:
                text.append(str(event.dagster_event.event_specific_data))
    for table in ("readmission_cohort", "feature_matrix", "training_set", "train_test_split", "feature_dictionary"):
        if pipe.warehouse.table_exists(table):
            text.append(str(pipe.warehouse.query(f"SELECT * FROM {table}")))
    blob = "\n".join(text)
    words = [v for values in PHI_VALUES.values() for v in values if not v.replace("-", "").isdigit()]
    assert [v for v in words if v in blob] == []


def test_batch_job_holds_the_partitioned_assets_and_the_training_job_the_rest() -> None:
    from healthcare_assets.definitions import defs

    batch = defs.resolve_job_def("batch_pipeline").asset_layer.selected_asset_keys
    cross = defs.resolve_job_def("training_pipeline").asset_layer.selected_asset_keys
    graph = defs.resolve_asset_graph()
    assert {k.to_user_string() for k in cross} == {
        "feature_dictionary", "training_set", "train_test_split", "candidate_models", "validation_report", "model_card"
    }  # fmt: skip
    assert "champion_model" not in {k.to_user_string() for k in batch | cross}  # only a person promotes
    assert {"readmission_cohort", "feature_matrix"} <= {k.to_user_string() for k in batch}
    assert all(graph.get(k).partitions_def is not None for k in batch)
    assert all(graph.get(k).partitions_def is None for k in cross)
    for check in graph.asset_check_keys:
        if check.asset_key.to_user_string() in ("feature_matrix", "training_set"):
            assert graph.get_check_spec(check).blocking, check
    # Outside the CLI (nightly exports, UI launches) a sensor, off by default, follows a batch with the rest.
    sensor = next(s for s in defs.sensors if s.name == "training_after_batch_sensor")
    assert sensor.job_name == "training_pipeline" and sensor.default_status.value == "STOPPED"
