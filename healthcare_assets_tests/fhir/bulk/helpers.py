"""Test helpers for the Bulk Data tests: fake clock, event recorder, fast settings, a tiny dataset."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

from healthcare_assets.fhir.bulk import Backoff, ClientSettings, ProgressEvent, RetryPolicy


class FakeClock:
    """Monotonic time that only moves when the client sleeps: waits are recorded, never real."""

    def __init__(self) -> None:
        self.t = 1_000.0
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.t += seconds


class Events(list[ProgressEvent]):
    def __call__(self, event: ProgressEvent) -> None:
        self.append(event)

    def kinds(self) -> list[str]:
        return [e.kind for e in self]

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [dict(e.data) for e in self if e.kind == kind]


def fast_settings(**overrides: Any) -> ClientSettings:
    values: dict[str, Any] = {
        "retry": RetryPolicy(
            max_attempts=4,
            backoff=Backoff(initial=0.5, factor=2.0, maximum=4.0, jitter=0.5),
            min_delay=0.1,
            max_delay=30.0,
        ),
        "poll_timeout": 600.0,
        "min_poll_interval": 0.5,
        "max_poll_interval": 60.0,
        "parallel_downloads": 4,
        "chunk_size": 64 * 1024,
    }
    values.update(overrides)
    return ClientSettings(**values)


def tiny_resources() -> list[dict[str, Any]]:
    """5 patients, 4 encounters each (1 inpatient), 2 observations each, 2 organizations."""
    resources: list[dict[str, Any]] = []
    for p in range(1, 6):
        pid = f"p{p}"
        resources.append(
            {
                "resourceType": "Patient",
                "id": pid,
                "gender": "female" if p % 2 else "male",
                "birthDate": f"19{50 + p}-01-0{p}",
                "name": [{"family": f"Test{p}"}],
            }
        )
        for e in range(1, 5):
            resources.append(
                {
                    "resourceType": "Encounter",
                    "id": f"{pid}-e{e}",
                    "status": "finished",
                    "class": {
                        "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                        "code": "IMP" if e == 1 else "AMB",
                    },
                    "subject": {"reference": f"Patient/{pid}"},
                }
            )
        for o in range(1, 3):
            resources.append(
                {
                    "resourceType": "Observation",
                    "id": f"{pid}-o{o}",
                    "status": "final",
                    "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
                    "subject": {"reference": f"Patient/{pid}"},
                    "valueQuantity": {"value": 60 + o},
                }
            )
    resources.append({"resourceType": "Organization", "id": "org1", "name": "General"})
    resources.append({"resourceType": "Organization", "id": "org2", "name": "Clinic"})
    return resources


def read_lines(paths: list[Path]) -> list[bytes]:
    lines: list[bytes] = []
    for path in paths:
        data = path.read_bytes()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        lines.extend(line for line in data.split(b"\n") if line)
    return lines
