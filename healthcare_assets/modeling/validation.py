"""Validate a registered model version on the held-out test split, and card it.

``test_predictions`` scores the test split with the REGISTERED artifact (loaded back from MLflow, exactly what a
server would load), so what is validated is what gets promoted. On synthetic data the generator's true
probabilities come from the de-identified ``synthetic_ground_truth`` table, joined by the stay's pseudonym; they
never enter features or training.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np

from healthcare_assets.modeling.dataset import COMPARATORS, SUBGROUPS, TrainingData
from healthcare_assets.modeling.report import HeldOutPredictions

GROUND_TRUTH_TABLE = "synthetic_ground_truth"


class StaleTrainingData(RuntimeError):
    """The training data changed since the model was trained: validate a model trained on it."""


def oracle_probabilities(con: duckdb.DuckDBPyConnection, stay_ids: list[str]) -> np.ndarray | None:
    """The generator's true probability per stay (NaN where unknown); None without a ground-truth table."""
    import pandas as pd

    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [GROUND_TRUTH_TABLE]
    ).fetchall()[0][0]
    if not exists:
        return None
    stays = pd.DataFrame({"stay_id": pd.Series(stay_ids, dtype=object), "n": np.arange(len(stay_ids))})
    con.register("_test_stays", stays)
    try:
        rows = con.execute(
            f"""SELECT t.n, g.true_probability FROM _test_stays t
                LEFT JOIN (SELECT stay_id, arg_max(true_probability, batch_id) AS true_probability
                           FROM {GROUND_TRUTH_TABLE} GROUP BY stay_id) g USING (stay_id)
                ORDER BY t.n"""
        ).fetchall()
    finally:
        con.unregister("_test_stays")
    values = np.array([np.nan if p is None else float(p) for _, p in rows], dtype=float)
    if np.isnan(values).all():
        return None
    return values


def score_test_split(
    data: TrainingData, model: Any, oracle: np.ndarray | None, expected_training_sha256: str
) -> HeldOutPredictions:
    if data.hashes["training_set"] != expected_training_sha256:
        raise StaleTrainingData(
            "training_set changed since candidate_models trained this model (SHA-256 differs): materialize "
            "candidate_models again before validating"
        )
    test = data.part("test")
    p = model.predict_proba(data.X("test"))[:, 1]
    return HeldOutPredictions(
        y=test["label"].to_numpy(dtype=int),
        p=np.asarray(p, dtype=float),
        patients=data.groups("test"),  # data-derived ranks: the bootstrap's clusters do not depend on pseudonyms
        subgroups={c: test[c].to_numpy(dtype=object) for c in SUBGROUPS},
        comparators={c: test[c].to_numpy(dtype=float) for c in COMPARATORS},
        oracle=oracle,
    )


@dataclass
class Figures:
    roc: bytes
    calibration: bytes
    subgroups: bytes
    decision_curve: bytes

    def items(self) -> list[tuple[str, bytes]]:
        return [
            ("roc.png", self.roc),
            ("calibration.png", self.calibration),
            ("subgroups.png", self.subgroups),
            ("decision_curve.png", self.decision_curve),
        ]


def figures(data: HeldOutPredictions, report: Mapping[str, Any]) -> Figures:
    from healthcare_assets.modeling import plots  # matplotlib: imported by the step that draws, not at load

    curves = {"model": (data.p, report["auroc"])}
    lace = data.comparators.get("lace_score")
    if lace is not None and report.get("lace_auroc") is not None:
        curves["LACE"] = (np.asarray(lace, dtype=float), report["lace_auroc"])
    if data.oracle is not None and report.get("oracle_auroc") is not None:
        curves["oracle (true risk)"] = (np.asarray(data.oracle, dtype=float), report["oracle_auroc"])
    return Figures(
        roc=plots.roc_plot(data.y, curves),
        calibration=plots.calibration_plot(data.y, data.p, report["reliability"], report["calibration_slope"] or 0.0),
        subgroups=plots.subgroup_plot(report["subgroups"], report["auroc"]),
        decision_curve=plots.decision_curve_plot(report["decision_curve"]),
    )
