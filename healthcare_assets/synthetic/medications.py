"""Long-term medications: started when a chronic condition is diagnosed or at a discharge; status at export.

``LongTermMedications`` feeds the risk model (how many are active at a discharge) and the MedicationRequests.
"""

from __future__ import annotations

import random

from healthcare_assets.synthetic import vocab as V
from healthcare_assets.synthetic.conditions import ChronicConditions


class LongTermMedications:
    """Long-term medications started when each chronic condition is diagnosed: ``items`` of (med, start, condition)."""

    def __init__(self, rng: random.Random, conditions: ChronicConditions) -> None:
        self.items: list[tuple[str, int, str]] = []
        seen: set[str] = set()
        for key, onset, _ in conditions.items:
            options = V.CHRONIC_MEDS.get(key)
            if not options:
                continue
            n = 2 if len(options) > 1 and rng.random() < 0.4 else 1
            for med in rng.sample(options, n):
                if med not in seen:
                    seen.add(med)
                    self.items.append((med, onset, key))

    def active_at(self, t: int) -> int:
        """How many have started by ``t`` (an input of the risk model)."""
        return sum(1 for _, start, _ in self.items if start <= t)

    def add(self, med: str, t: int, cond: str) -> bool:
        """Start ``med`` at ``t`` for ``cond`` unless it is already on the list; whether it was added."""
        if any(m == med for m, _, _ in self.items):
            return False
        self.items.append((med, t, cond))
        return True


def still_active(rng: random.Random, death: int | None) -> bool:
    """A long-term prescription's status at export: stopped for the dead, and for some others."""
    return death is None and rng.random() >= 0.08
