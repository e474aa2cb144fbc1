"""``FhirWriter``: one patient's serialized FHIR resources, and what every resource builder shares.

Builders (``fhir_patient``, ``fhir_resources``, ``observations``) take the writer: it holds the output lines per
resource type, the patient's id factory and subject reference, the clinical random stream (values drawn while
writing, such as measurement noise) and the mess stream (``miss``: optional elements left out).
"""

from __future__ import annotations

import random
from typing import Any

import orjson

from healthcare_assets.synthetic.demographics import Person
from healthcare_assets.synthetic.ids import IdFactory
from healthcare_assets.synthetic.runtime import Runtime

RESOURCE_TYPES = ("Patient", "Encounter", "Condition", "Observation", "MedicationRequest", "Procedure")


class FhirWriter:
    """Serialized resources of one patient (``out``: NDJSON lines per resource type, in the order written)."""

    def __init__(
        self, rt: Runtime, rng: random.Random, mrng: random.Random, ids: IdFactory, pid: str, person: Person
    ) -> None:
        self.rt = rt
        self.rng = rng
        self.mrng = mrng
        self.ids = ids
        self.pid = pid
        self.person = person
        self.subject = {"reference": f"Patient/{pid}"}
        self.out: dict[str, list[bytes]] = {t: [] for t in RESOURCE_TYPES}

    def emit(self, rtype: str, resource: dict[str, Any]) -> None:
        """Serialize ``resource`` as the next line of its type."""
        self.out[rtype].append(orjson.dumps(resource))

    def miss(self, scale: float = 1.0) -> bool:
        """Whether to leave an optional element out (``missing_rate`` times ``scale``; the mess stream only)."""
        m = self.rt.missing
        return m > 0.0 and self.mrng.random() < m * scale
