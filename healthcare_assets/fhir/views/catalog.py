"""The project's own ViewDefinitions (package data in ``definitions/``): the flat tables every later stage reads.

They are also the de-identification allow-list: a column exists only if a later stage needs it, and each carries
a ``deid`` tag naming how de-identification transforms it. Nothing else of a resource (names, identifiers, free
text, unknown extensions) ever leaves the PHI zone.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from healthcare_assets.fhir.views.definition import ViewDefinition, load_view

DEID_TAG = "deid"
# De-identification transforms a column may ask for (applied by the deid layer, not here).
DEID_TRANSFORMS = ("keep", "pseudonym", "event_time", "birth_date", "death_date", "zip3", "state")


def view_names() -> list[str]:
    """Names of the shipped views (file stems), sorted."""
    folder = resources.files(__package__).joinpath("definitions")
    return sorted(p.name[: -len(".json")] for p in folder.iterdir() if p.name.endswith(".json"))


@cache
def project_view(name: str) -> ViewDefinition:
    """One shipped view by name (``patient``, ``encounter``, ``observation``, ...)."""
    text = resources.files(__package__).joinpath("definitions", f"{name}.json").read_text(encoding="utf-8")
    return load_view(text)


def project_views() -> dict[str, ViewDefinition]:
    return {name: project_view(name) for name in view_names()}


def deid_policy() -> dict[str, dict[str, str]]:
    """``{view: {column: transform}}`` from the columns' ``deid`` tags."""
    return {name: {c.name: c.tag(DEID_TAG) or "" for c in view.columns} for name, view in project_views().items()}
