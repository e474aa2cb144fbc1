"""``Person``: who a simulated patient is: age, sex, race and ethnicity, names, home, contacts, identifiers, body.

Drawn first from the patient's clinical random stream; conditions, stays, visits and the Patient resource all read
it. Names, contacts and identifiers are fake but PHI-shaped, so that de-identification has real work to do.
"""

from __future__ import annotations

import random
from bisect import bisect_right

from healthcare_assets.synthetic import people
from healthcare_assets.synthetic import vocab as V
from healthcare_assets.synthetic.clock import DAY, YEAR
from healthcare_assets.synthetic.runtime import Runtime

_US_BIRTHPLACES = tuple(p for p in people.PLACES if p.hospital)


class Person:
    """The demographics of one patient (drawn in ``__init__``, read-only afterwards)."""

    def __init__(self, rt: Runtime, index: int, rng: random.Random) -> None:
        s = rt.shift
        p_kid = 0.07 * max(0.2, 1.0 - 0.5 * s)
        p_old = max(0.005, 0.035 * (1.0 + 0.6 * s))
        r = rng.random()
        if r < p_kid:
            age = rng.uniform(0.3, 18.0)
        elif r < p_kid + p_old:
            age = rng.uniform(90.0, 104.0)
        else:
            age = rng.gauss(56.0 + 8.0 * s, 17.0)
            while not 18.0 <= age <= 99.0:
                age = rng.gauss(56.0 + 8.0 * s, 17.0)
        self.birth = rt.end_utc - int(age * YEAR) - rng.randrange(DAY)
        self.age_end = (rt.end_utc - self.birth) / YEAR
        r = rng.random()
        self.gender = "female" if r < 0.505 else "male" if r < 0.998 else "other" if r < 0.999 else "unknown"
        self.female = self.gender == "female" or (self.gender in ("other", "unknown") and rng.random() < 0.5)
        self.frailty = rng.gauss(0.0, 1.0) + 0.5 * s

        races = V.RACES
        r = rng.random() * sum(x[3] for x in races)
        acc = 0.0
        race = races[-1]
        for item in races:
            acc += item[3]
            if r < acc:
                race = item
                break
        if race[0] == "multi":
            a, b = rng.sample(races[:5], 2)
            self.race = [a, b]
            self.race_text = f"{a[2]}, {b[2]}"
            self.race_key = "multi"
        else:
            self.race = [race]
            self.race_text = race[2]
            self.race_key = race[1]
        p_hisp = {"2106-3": 0.21, "multi": 0.30, "UNK": 0.25, "ASKU": 0.2}.get(self.race_key, 0.05)
        r = rng.random()
        if self.race_key in ("UNK", "ASKU") and r < 0.3:
            self.ethnicity = V.ETHNICITY_UNKNOWN
        else:
            self.ethnicity = V.ETHNICITY_HISPANIC if rng.random() < p_hisp else V.ETHNICITY_NOT_HISPANIC
        self.hispanic = self.ethnicity is V.ETHNICITY_HISPANIC

        # Names.
        def family_name() -> str:
            if self.hispanic and rng.random() < 0.7:
                return rng.choice(people.HISPANIC_FAMILY)
            if self.race_key == "2028-9" and rng.random() < 0.7:
                return rng.choice(people.ASIAN_FAMILY)
            return rng.choice(people.FAMILY)

        self.given = rng.choice(people.FEMALE_GIVEN if self.female else people.MALE_GIVEN)
        self.middle = (
            rng.choice(people.FEMALE_GIVEN if self.female else people.MALE_GIVEN) if rng.random() < 0.3 else None
        )
        birth_family = family_name()
        self.family = birth_family
        adult = self.age_end >= 18
        if adult:
            a = self.age_end
            r = rng.random()
            if a < 25:
                self.marital = "S" if r < 0.85 else "M" if r < 0.98 else "D"
            elif a < 45:
                self.marital = "M" if r < 0.5 else "S" if r < 0.88 else "D"
            elif a < 70:
                self.marital = "M" if r < 0.58 else "D" if r < 0.78 else "S" if r < 0.92 else "W"
            else:
                self.marital = "M" if r < 0.42 else "W" if r < 0.80 else "D" if r < 0.90 else "S"
        else:
            self.marital = "S"
        self.maiden = None
        if self.female and adult and self.marital in ("M", "W", "D") and rng.random() < 0.7:
            self.family = family_name()
            if self.family != birth_family:
                self.maiden = birth_family
        if not adult:
            self.prefix = None
        elif rng.random() < 0.04:
            self.prefix = "Dr."
        elif not self.female:
            self.prefix = "Mr."
        else:
            self.prefix = "Mrs." if self.marital in ("M", "W") else "Ms."
        self.suffix = None
        if adult and not self.female and rng.random() < 0.03:
            self.suffix = rng.choice(("Jr.", "Sr.", "II", "III"))
        elif self.prefix == "Dr." and rng.random() < 0.5:
            self.suffix = rng.choice(("MD", "PhD"))
        self.nickname = people.NICKNAMES.get(self.given) if rng.random() < 0.15 else None
        parts = [self.prefix] if self.prefix else []
        parts += [self.given, self.family]
        self.display = " ".join(parts)
        self.full_name = f"{self.given} {self.family}"

        # Home, facilities, contact.
        world = rt.world
        r = rng.random() * world.place_cumweights[-1]
        self.place_index = bisect_right(world.place_cumweights, r)
        self.place = people.PLACES[self.place_index]
        self.hospital = world.hospitals[world.home_hospital[self.place_index]]
        clinic_choices = world.place_clinics[world.home_hospital[self.place_index]]
        self.clinic = world.clinics[clinic_choices[rng.randrange(len(clinic_choices))]]
        self.zip = rng.choice(self.place.zips)
        self.line = f"{rng.randint(1, 999)} {rng.choice(people.STREET_NAMES)} {rng.choice(people.STREET_SUFFIXES)}"
        self.line2 = f"{rng.choice(('Apt', 'Unit', 'Suite'))} {rng.randint(1, 99)}" if rng.random() < 0.15 else None
        self.lat = round(self.place.lat + rng.gauss(0.0, 0.03), 6)
        self.lon = round(self.place.lon + rng.gauss(0.0, 0.03), 6)
        self.phone = f"555-{rng.randint(200, 999)}-{rng.randint(1000, 9999)}"
        self.mobile = f"555-{rng.randint(200, 999)}-{rng.randint(1000, 9999)}" if rng.random() < 0.4 else None
        email_local = f"{self.given}.{self.family}{rng.randint(1, 99)}".lower().replace("'", "")
        self.email = f"{email_local}@example.com" if adult and rng.random() < 0.3 else None
        self.mrn = f"{(index * 7_919_993 + rt.seed * 104_729) % 90_000_000 + 10_000_000:08d}"
        ssn = (index * 7_919 + rt.seed * 13) % 1_000_000
        self.ssn = f"999-{ssn // 10_000:02d}-{ssn % 10_000:04d}"
        dl = (index * 104_729 + rt.seed * 31) % 1_000_000
        self.dl = f"S99{dl:06d}" if self.age_end >= 16 and rng.random() < 0.85 else None
        self.passport = f"X{rng.randint(10_000_000, 99_999_999)}X" if adult and rng.random() < 0.3 else None
        self.mother_maiden = f"{rng.choice(people.FEMALE_GIVEN)} {family_name()}"
        if rng.random() < 0.12:
            city, state, country = rng.choice(people.FOREIGN_BIRTHPLACES)
        else:
            bp = _US_BIRTHPLACES[rng.randrange(len(_US_BIRTHPLACES))]
            city, state, country = bp.city, bp.state, "US"
        self.birthplace = (
            {"city": city, "state": state, "country": country} if state else {"city": city, "country": country}
        )
        if self.hispanic and rng.random() < 0.5:
            self.language = "es"
        elif self.race_key == "2028-9" and rng.random() < 0.4:
            self.language = rng.choice(("zh", "vi", "tl"))
        elif self.race_key == "2054-5" and rng.random() < 0.03:
            self.language = "ht"
        elif rng.random() < 0.01:
            self.language = "fr"
        else:
            self.language = "en-US"
        self.multiple_birth = rng.random() < 0.02

        # Body.
        if adult:
            self.height = rng.gauss(176.0, 7.0) if not self.female else rng.gauss(162.0, 6.5)
            bmi = max(16.0, rng.gauss(28.3 + 0.6 * self.frailty, 5.5))
        else:
            a = self.age_end
            self.height = 50.0 + 6.2 * a if a > 1 else 50 + 25 * a
            self.height = min(self.height * (1 + rng.gauss(0.0, 0.04)), 185.0)
            bmi = max(13.0, rng.gauss(17.0 + 0.25 * a, 2.5))
        self.bmi = bmi
        self.weight = bmi * (self.height / 100.0) ** 2
