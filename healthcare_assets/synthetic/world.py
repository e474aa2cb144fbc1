"""The shared world of a run: hospitals, clinics and their practitioners, derived from the seed alone.

Every worker process rebuilds the same world from the seed (it is small and cheap), so no state has to be shipped
between processes and the Practitioner/Organization files do not depend on the cohort size or the sharding.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from healthcare_assets.synthetic import people
from healthcare_assets.synthetic.clock import Zone
from healthcare_assets.synthetic.ids import KIND_ORGANIZATION, KIND_PRACTITIONER, IdFactory, stream_seed
from healthcare_assets.synthetic.vocab import ORG_TYPE_PROVIDER, SYNTHEA_ID_SYSTEM, US_NPI

HOSPITAL_PRACTITIONERS = 14
CLINIC_PRACTITIONERS = 5
_WORLD_STREAM = 1_000_001


@dataclass
class Practitioner:
    id: str
    display: str  # "Dr. Given Family"
    ref: dict[str, str]  # {"reference": "Practitioner/<id>", "display": ...}, shared read-only
    resource: dict[str, Any]


@dataclass
class Organization:
    id: str
    name: str
    kind: str  # "hospital" or "clinic"
    place: people.Place
    zone: Zone
    ref: dict[str, str]  # with display
    ref_bare: dict[str, str]  # reference only (used when the display is "missing")
    resource: dict[str, Any]
    practitioners: list[Practitioner] = field(default_factory=list)
    # Local reporting conventions, fixed per organization.
    temperature_f: bool = False
    glucose_si: bool = False
    creatinine_si: bool = False
    spo2_single_code: bool = False
    icd_first: bool = False


@dataclass
class World:
    hospitals: list[Organization]
    clinics: list[Organization]
    home_hospital: list[int]  # per place index: index into hospitals
    place_clinics: dict[int, list[int]]  # hospital index -> indices into clinics
    place_cumweights: list[float]

    @property
    def organizations(self) -> list[Organization]:
        return self.hospitals + self.clinics

    @property
    def practitioners(self) -> list[Practitioner]:
        return [p for org in self.organizations for p in org.practitioners]


_CACHE: dict[int, World] = {}


def build_world(seed: int) -> World:
    """The world of a seed (memoised per process)."""
    world = _CACHE.get(seed)
    if world is None:
        world = _build(seed)
        _CACHE.clear()
        _CACHE[seed] = world
    return world


def _address(rng: random.Random, place: people.Place) -> dict[str, Any]:
    line = (
        f"{rng.randint(1, 2999)} {rng.choice(people.STREET_NAMES).upper()} {rng.choice(people.STREET_SUFFIXES).upper()}"
    )
    return {
        "line": [line],
        "city": place.city.upper(),
        "state": place.abbr,
        "postalCode": place.zips[0],
        "country": "US",
    }


def _build(seed: int) -> World:
    rng = random.Random(stream_seed(seed, 0, _WORLD_STREAM))
    org_ids = IdFactory(seed, KIND_ORGANIZATION, 0)
    prac_ids = IdFactory(seed, KIND_PRACTITIONER, 0)
    zones: dict[tuple[int, bool], Zone] = {}
    hospitals: list[Organization] = []
    clinics: list[Organization] = []
    place_clinics: dict[int, list[int]] = {}
    hospital_of_place: dict[int, int] = {}
    npi = 0

    def make_org(kind: str, name: str, place: people.Place, n_prac: int) -> Organization:
        nonlocal npi
        oid = org_ids.next()
        zone = zones.setdefault((place.std_offset, place.dst), Zone(place.std_offset, place.dst))
        address = _address(rng, place)
        phone = f"{rng.randint(201, 989)}{rng.randint(200, 999)}{rng.randint(1000, 9999)}"
        resource = {
            "resourceType": "Organization",
            "id": oid,
            "identifier": [{"system": SYNTHEA_ID_SYSTEM, "value": oid}],
            "active": True,
            "type": ORG_TYPE_PROVIDER,
            "name": name,
            "telecom": [{"system": "phone", "value": phone}],
            "address": [address],
        }
        org = Organization(
            id=oid,
            name=name,
            kind=kind,
            place=place,
            zone=zone,
            ref={"reference": f"Organization/{oid}", "display": name},
            ref_bare={"reference": f"Organization/{oid}"},
            resource=resource,
            temperature_f=rng.random() < (0.45 if kind == "hospital" else 0.6),
            glucose_si=rng.random() < 0.08,
            creatinine_si=rng.random() < 0.10,
            spo2_single_code=rng.random() < 0.3,
            icd_first=rng.random() < 0.2,
        )
        for _ in range(n_prac):
            npi += 1
            pid = prac_ids.next()
            female = rng.random() < 0.5
            given = rng.choice(people.FEMALE_GIVEN if female else people.MALE_GIVEN)
            family = rng.choice(people.FAMILY + people.HISPANIC_FAMILY + people.ASIAN_FAMILY)
            display = f"Dr. {given} {family}"
            email = f"{given}.{family}@example.com".replace("'", "")
            presource = {
                "resourceType": "Practitioner",
                "id": pid,
                "identifier": [{"system": US_NPI, "value": f"9999{npi:06d}"}],
                "active": True,
                "name": [{"family": family, "given": [given], "prefix": ["Dr."]}],
                "telecom": [{"system": "email", "value": email, "use": "work"}],
                "address": [address],
                "gender": "female" if female else "male",
            }
            org.practitioners.append(
                Practitioner(pid, display, {"reference": f"Practitioner/{pid}", "display": display}, presource)
            )
        return org

    for i, place in enumerate(people.PLACES):
        if not place.hospital:
            continue
        city = place.city.upper()
        hospital_of_place[i] = len(hospitals)
        hospitals.append(
            make_org("hospital", rng.choice(people.HOSPITAL_PATTERNS).format(city=city), place, HOSPITAL_PRACTITIONERS)
        )
        patterns = rng.sample(people.CLINIC_PATTERNS, 2)
        place_clinics[hospital_of_place[i]] = []
        for pattern in patterns:
            place_clinics[hospital_of_place[i]].append(len(clinics))
            clinics.append(make_org("clinic", pattern.format(city=city), place, CLINIC_PRACTITIONERS))

    home_hospital: list[int] = []
    for i, place in enumerate(people.PLACES):
        if i in hospital_of_place:
            home_hospital.append(hospital_of_place[i])
            continue
        best = min(
            hospital_of_place.items(),
            key=lambda kv: (people.PLACES[kv[0]].lat - place.lat) ** 2 + (people.PLACES[kv[0]].lon - place.lon) ** 2,
        )
        home_hospital.append(best[1])

    cum: list[float] = []
    total = 0.0
    for place in people.PLACES:
        total += place.weight
        cum.append(total)
    return World(hospitals, clinics, home_hospital, place_clinics, cum)
