"""Where and when encounters happen: local daytime instants, weekday clinic hours, the hospital and practitioner.

Shared by admissions, visits and what stays record; each draws from the patient's clinical random stream.
"""

from __future__ import annotations

import random

from healthcare_assets.synthetic.clock import DAY, HOUR, Zone
from healthcare_assets.synthetic.world import Organization, Practitioner, World


def daytime(rng: random.Random, t: int, zone: Zone, hour_lo: float, hour_hi: float) -> int:
    """The first instant at or after ``t`` whose local time falls in [hour_lo, hour_hi) on some day."""
    local = zone.local_seconds(t)
    day = local // DAY
    tod = int((hour_lo + rng.random() * (hour_hi - hour_lo)) * HOUR)
    out = zone.local_to_utc(day * DAY + tod)
    if out < t:
        out = zone.local_to_utc((day + 1) * DAY + tod)
    return out


def weekday_daytime(rng: random.Random, t: int, zone: Zone) -> int:
    """A weekday daytime instant (clinic hours) at or after ``t``."""
    out = daytime(rng, t, zone, 8.0, 16.5)
    local_day = zone.local_seconds(out) // DAY
    weekday = (local_day + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    if weekday >= 5:
        out += (7 - weekday) * DAY
    return out


def pick_hospital(rng: random.Random, home: Organization, world: World) -> Organization:
    """The patient's home hospital most of the time, otherwise any hospital."""
    if rng.random() < 0.9:
        return home
    hospitals = world.hospitals
    return hospitals[rng.randrange(len(hospitals))]


def pick_practitioner(rng: random.Random, org: Organization) -> Practitioner:
    """A practitioner of ``org``."""
    pracs = org.practitioners
    return pracs[rng.randrange(len(pracs))]
