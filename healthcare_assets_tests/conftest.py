"""Shared fixtures: the shared data beside the repository, and a private data directory per test."""

from __future__ import annotations

from pathlib import Path

import pytest

from healthcare_assets.config import HOME_ENV, Paths
from healthcare_assets.defs.instance import DAGSTER_YAML

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SYNTHEA_DIR = SHARED / "data" / "synthea-r4-100"


@pytest.fixture(scope="session")
def synthea_dir() -> Path:
    """The real Synthea sample (100 patients); CI clones the repository with ../shared beside it."""
    if not (SYNTHEA_DIR / "Patient.ndjson.gz").exists():
        pytest.fail(f"shared Synthea sample not found at {SYNTHEA_DIR}: clone the repository beside ../shared")
    return SYNTHEA_DIR


@pytest.fixture
def data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Paths:
    """A fresh data directory and Dagster home, both selected through the environment as users do."""
    home = tmp_path / "home"
    dagster_home = tmp_path / "dagster"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text(DAGSTER_YAML)
    monkeypatch.setenv(HOME_ENV, str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    return Paths(home)


@pytest.fixture(scope="session")
def strong_truth():
    """The synthetic generator's truth for 1,500 patients (about 1,100 index stays) at the default signal: a
    contract-shaped training set is built from it until the features stage exists (modeling/contract.py)."""
    from healthcare_assets.synthetic.risk import SIGNAL_DEFAULT
    from healthcare_assets_tests.modeling.contract import truth_frame

    return truth_frame(1500, seed=3, signal=SIGNAL_DEFAULT)


@pytest.fixture(scope="session")
def realistic_truth():
    """The same cohort size at the realistic signal (oracle AUROC about 0.70): no model can pass the gate."""
    from healthcare_assets.synthetic.risk import SIGNAL_REALISTIC
    from healthcare_assets_tests.modeling.contract import truth_frame

    return truth_frame(1500, seed=3, signal=SIGNAL_REALISTIC)
