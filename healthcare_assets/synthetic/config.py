"""``SyntheticConfig``: everything that determines a synthetic cohort. Same config, same bytes."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any

from healthcare_assets.synthetic.risk import SIGNAL_DEFAULT, SIGNAL_RANGE

MAX_PATIENTS = 10_000_000
MAX_WORKERS = 64


class SyntheticConfigError(ValueError):
    """A ``SyntheticConfig`` field has a value the generator cannot use."""


@dataclass(frozen=True)
class SyntheticConfig:
    """Parameters of one synthetic cohort.

    ``seed`` and everything else except ``workers`` determine the output bytes; ``workers`` only changes speed.

    * ``patients``: cohort size (1 .. 10,000,000).
    * ``seed``: non-negative integer; patients' random streams and all ids derive from it.
    * ``end_date``: the simulation's "now" (the export date). Nothing happens after the end of this day (UTC);
      stays still open then are exported ``in-progress``. An ISO string is accepted and converted.
    * ``history_years``: how many years of encounters before ``end_date`` are simulated (older diagnoses still
      appear, recorded at their onset).
    * messiness, each a probability in [0, 1]: ``malformed_rate`` (per written line, an extra broken line is
      injected after it), ``duplicate_rate`` (per resource, the same line is written a second time),
      ``missing_rate`` (per optional element, it is left out).
    * drift: ``case_mix_shift`` in [-2, 3] (older, frailer, more comorbid population when positive);
      ``creatinine_shift`` in mg/dL, in [-5, 5] (a laboratory assay bias added to every reported creatinine, in
      either unit; the patients' true state and therefore their true risk do not change);
      ``icd10_dropped`` (conditions carry SNOMED CT codings only).
    * ``signal_strength`` in [0.25, 4]: how strongly the true risk depends on the patient's state (the stay's
      effects scaled by it, the chronic burden half as fast, the readmission rate held near 14%; see ``risk``).
      The default 3.0 gives an oracle AUROC of about 0.94 (a good model can pass the clinical gate);
      ``risk.SIGNAL_REALISTIC`` (0.5) about 0.70, like real EHR data; 1.0 reproduces the cohorts made before
      the option existed.
    * ``workers``: processes used to generate shards in parallel (1 = in this process).
    """

    patients: int = 2000
    seed: int = 42
    end_date: date = date(2026, 6, 30)
    history_years: int = 6
    malformed_rate: float = 0.0005
    duplicate_rate: float = 0.001
    missing_rate: float = 0.02
    case_mix_shift: float = 0.0
    creatinine_shift: float = 0.0
    icd10_dropped: bool = False
    signal_strength: float = SIGNAL_DEFAULT
    workers: int = 2

    def __post_init__(self) -> None:
        if isinstance(self.end_date, str):
            try:
                object.__setattr__(self, "end_date", date.fromisoformat(self.end_date))
            except ValueError as exc:
                raise SyntheticConfigError(f"end_date must be an ISO date (YYYY-MM-DD), got {self.end_date!r}") from exc
        if isinstance(self.end_date, datetime):
            object.__setattr__(self, "end_date", self.end_date.date())
        _check_int("patients", self.patients, 1, MAX_PATIENTS)
        _check_int("seed", self.seed, 0, 2**63 - 1)
        _check_int("history_years", self.history_years, 1, 30)
        _check_int("workers", self.workers, 1, MAX_WORKERS)
        if not isinstance(self.end_date, date):
            raise SyntheticConfigError(f"end_date must be a datetime.date, got {type(self.end_date).__name__}")
        if not date(1990, 1, 1) <= self.end_date <= date(2100, 12, 31):
            raise SyntheticConfigError(f"end_date must be between 1990-01-01 and 2100-12-31, got {self.end_date}")
        for name in ("malformed_rate", "duplicate_rate", "missing_rate"):
            _check_float(name, getattr(self, name), 0.0, 1.0, "a probability")
        _check_float("case_mix_shift", self.case_mix_shift, -2.0, 3.0, "a shift")
        _check_float("creatinine_shift", self.creatinine_shift, -5.0, 5.0, "a bias in mg/dL")
        _check_float("signal_strength", self.signal_strength, *SIGNAL_RANGE, "a signal strength")
        if not isinstance(self.icd10_dropped, bool):
            raise SyntheticConfigError(f"icd10_dropped must be a bool, got {self.icd10_dropped!r}")

    def as_dict(self) -> dict[str, Any]:
        """Plain values (the end date as ISO text), e.g. for metadata or a manifest."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["end_date"] = self.end_date.isoformat()
        return out


def _check_int(name: str, value: Any, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SyntheticConfigError(f"{name} must be an integer, got {value!r}")
    if not lo <= value <= hi:
        raise SyntheticConfigError(f"{name} must be between {lo:,} and {hi:,}, got {value:,}")


def _check_float(name: str, value: Any, lo: float, hi: float, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SyntheticConfigError(f"{name} must be a number ({what}), got {value!r}")
    if not math.isfinite(value) or not lo <= value <= hi:
        raise SyntheticConfigError(f"{name} must be {what} in [{lo}, {hi}], got {value!r}")
