"""The generator's signal-strength option: validated, the legacy cohort at 1.0, a strong and a realistic oracle."""

from __future__ import annotations

import polars as pl
import pytest

from healthcare_assets.modeling.metrics import auroc
from healthcare_assets.synthetic import DischargeState, SyntheticConfig, SyntheticConfigError
from healthcare_assets.synthetic.risk import (
    INTERCEPT,
    INTERCEPT_BY_SIGNAL,
    SIGNAL_DEFAULT,
    _effects,
    intercept,
    readmission_logit,
)

STATES = [
    DischargeState(52, 0, 0, 2.0, False, False, 0.9, 13.5, 139.0, "home", 1),
    DischargeState(81, 6, 2, 9.5, True, True, 2.4, 8.6, 131.0, "snf", 11),
    DischargeState(35, 1, 0, 4.0, True, False, 1.1, 12.0, 138.0, "aadvice", 0),
    DischargeState(90, 3, 1, 1.0, False, False, 1.0, 12.0, 140.0, "hosp", 6),
]


def test_signal_strength_is_validated_and_defaults_to_the_strong_setting() -> None:
    assert SyntheticConfig().signal_strength == SIGNAL_DEFAULT == 3.0
    for bad in (0.0, 4.5, float("nan"), "3"):
        with pytest.raises(SyntheticConfigError, match="signal_strength"):
            SyntheticConfig(signal_strength=bad)
    with pytest.raises(ValueError, match="signal strength"):
        intercept(5.0)


def test_signal_one_is_the_original_model_exactly() -> None:
    for state in STATES:
        assert readmission_logit(state, 1.0) == _effects(state, INTERCEPT)  # same arithmetic, same bits
    assert intercept(1.0) == INTERCEPT
    # Interpolation between calibrated points is continuous and monotone.
    points = [s for s, _ in INTERCEPT_BY_SIGNAL]
    for a, b in zip(points, points[1:], strict=False):
        assert intercept(b) < intercept((a + b) / 2) < intercept(a)


def test_a_stronger_signal_spreads_the_risk() -> None:
    spread = {s: max(readmission_logit(x, s) for x in STATES) - min(readmission_logit(x, s) for x in STATES)
              for s in (0.5, 1.0, 3.0)}  # fmt: skip
    assert spread[0.5] < spread[1.0] < spread[3.0]


def _oracle(truth: pl.DataFrame) -> float:
    return auroc(truth["readmitted_30d"].to_numpy(), truth["true_probability"].to_numpy())


def test_default_and_realistic_settings_reach_their_oracle_auroc(
    strong_truth: pl.DataFrame, realistic_truth: pl.DataFrame
) -> None:
    """1,500 patients each (about 1,100 index stays): wide margins around 0.94 and 0.71 measured at 20,000."""
    assert _oracle(strong_truth) > 0.88
    assert 0.62 < _oracle(realistic_truth) < 0.80
    for truth in (strong_truth, realistic_truth):
        assert 0.09 < truth["readmitted_30d"].mean() < 0.20  # the rate stays near 14% at every setting
