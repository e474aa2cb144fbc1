"""The fast drift gate: what it flags, what it leaves alone, and that Evidently's preset agrees with it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from healthcare_assets.monitoring import evidently_report
from healthcare_assets.monitoring.drift import DriftInputError, column_drift, drift_gate, method_for


def _frames(n: int = 3000, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    reference = pd.DataFrame(
        {
            "lab": rng.normal(100, 10, n),
            "lab_shifted": rng.normal(100, 10, n),
            "flag": (rng.random(n) < 0.2).astype(float),
            "flag_shifted": (rng.random(n) < 0.2).astype(float),
            "band": rng.integers(0, 4, n).astype(float),
            "never_measured": np.full(n, np.nan),
        }
    )
    current = pd.DataFrame(
        {
            "lab": rng.normal(100, 10, n),
            "lab_shifted": rng.normal(106, 10, n),  # +0.6 SD
            "flag": (rng.random(n) < 0.2).astype(float),
            "flag_shifted": (rng.random(n) < 0.35).astype(float),
            "band": rng.integers(0, 4, n).astype(float),
            "never_measured": np.full(n, np.nan),
        }
    )
    current.loc[: n // 2, "lab"] = np.nan  # missing values are dropped, not compared
    return reference, current


def test_gate_flags_shifted_columns_only() -> None:
    reference, current = _frames()
    result = drift_gate(reference, current, list(reference.columns))
    assert set(result.drifted) == {"lab_shifted", "flag_shifted"}
    methods = {c.column: c.method for c in result.columns}
    assert methods == {"lab": "ks", "lab_shifted": "ks", "flag": "z", "flag_shifted": "z", "band": "chisquare",
                       "never_measured": "untestable"}  # fmt: skip
    assert result.summary()["columns_tested"] == 5 and result.drifted_share == pytest.approx(2 / 5)
    assert set(result.ranked()[:2]) == set(result.drifted) and result.ranked()[-1] != "never_measured"


def test_no_drift_between_two_samples_of_one_distribution() -> None:
    rng = np.random.default_rng(7)
    columns = [f"x{i}" for i in range(40)]
    reference = pd.DataFrame(rng.normal(size=(2000, 40)), columns=columns)
    current = pd.DataFrame(rng.normal(size=(500, 40)), columns=columns)
    assert drift_gate(reference, current, columns).drifted_share < 0.15  # ~5% false positives expected


def test_evidently_default_rule_matches_evidently_distances() -> None:
    reference, current = _frames()
    result = drift_gate(reference, current, ["lab_shifted", "flag"], rule="evidently_default")
    assert [c.method for c in result.columns] == ["wasserstein", "jensenshannon"]
    assert method_for(500, 10, "evidently_default") == "ks"  # small references use the tests


def test_bad_input_names_the_problem() -> None:
    reference, current = _frames(50)
    with pytest.raises(DriftInputError, match="batch lacks feature column"):
        drift_gate(reference, current.drop(columns=["band"]), ["band"])
    with pytest.raises(DriftInputError, match="batch has no rows"):
        drift_gate(reference, current.iloc[:0], ["lab"])
    with pytest.raises(DriftInputError, match="unknown drift rule"):
        drift_gate(reference, current, ["lab"], rule="psi")
    assert column_drift("c", np.array([1.0, 1.0]), np.array([1.0])).drifted is False


def test_evidently_preset_agrees_and_writes_html(tmp_path) -> None:
    reference, current = _frames(1500, seed=3)
    columns = list(reference.columns)
    gate = drift_gate(reference, current, columns)
    html = tmp_path / "drift" / "report.html"
    evidently = evidently_report.run_preset(reference, current, columns, html)
    assert sorted(evidently.drifted) == sorted(gate.drifted)
    assert evidently.drifted_share == pytest.approx(gate.drifted_share)
    for column in ("lab", "lab_shifted", "flag_shifted", "band"):
        assert evidently.scores[column] == pytest.approx(next(c.score for c in gate.columns if c.column == column))
    assert html.exists() and html.stat().st_size > 10_000 and not list(html.parent.glob(".drift-*"))


def test_sampling_rule_is_seeded_and_ordered() -> None:
    frame = pd.DataFrame({"x": np.arange(1000)})
    a, b = evidently_report.sample_rows(frame, 100), evidently_report.sample_rows(frame, 100)
    assert a.equals(b) and len(a) == 100 and a["x"].is_monotonic_increasing
    assert evidently_report.sample_rows(frame, 5000) is frame
    assert evidently_report.report_columns(["a", "b", "c"], ["c", "a", "b"], 2) == ["a", "c"]
    assert evidently_report.report_columns(["a", "b"], ["b", "a"], 0) == ["a", "b"]


def test_chi_square_false_positive_rate_is_nominal() -> None:
    """Two samples of one 4-value distribution: about 5% of the columns drift at p < 0.05, not more (a one-sample
    chi-square against the reference's frequencies, Evidently's own, rejects 27% of them in this setting)."""
    rng = np.random.default_rng(11)
    probabilities = [0.5, 0.3, 0.15, 0.05]
    flagged = 0
    for _ in range(400):
        reference = rng.choice(4, size=3000, p=probabilities).astype(float)
        current = rng.choice(4, size=3000, p=probabilities).astype(float)
        result = column_drift("c", reference, current)
        assert result.method == "chisquare"
        flagged += result.drifted
    assert 0.02 < flagged / 400 < 0.09
