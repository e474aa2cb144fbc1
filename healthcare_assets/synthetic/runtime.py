"""``Runtime``: what every simulated patient reads from the run's ``SyntheticConfig``, derived once per process.

The generator builds one per worker process (with the shared ``World``) and hands it to ``simulate_patient``.
"""

from __future__ import annotations

from healthcare_assets.synthetic.clock import DAY, YEAR, day_number
from healthcare_assets.synthetic.config import SyntheticConfig
from healthcare_assets.synthetic.world import World


class Runtime:
    """Everything a worker needs, derived from the configuration once per process."""

    def __init__(self, config: SyntheticConfig, world: World):
        self.config = config
        self.world = world
        self.seed = config.seed
        self.end_utc = (day_number(config.end_date) + 1) * DAY  # exclusive: nothing at or after this instant
        self.window_start = self.end_utc - int(config.history_years * YEAR)
        self.missing = float(config.missing_rate)
        self.duplicate = float(config.duplicate_rate)
        self.malformed = float(config.malformed_rate)
        self.shift = float(config.case_mix_shift)
        self.creatinine_shift = float(config.creatinine_shift)
        self.icd10_dropped = bool(config.icd10_dropped)
        self.signal = float(config.signal_strength)
