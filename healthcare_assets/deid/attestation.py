"""The 18 Safe Harbor identifier categories (45 CFR 164.514(b)(2)(i)), where each is handled, and the counts
per table that go into the asset metadata and the audit ledger."""

from __future__ import annotations

from typing import Any

from healthcare_assets.deid.engine import DeidResult
from healthcare_assets.deid.inventory import Inventory
from healthcare_assets.deid.policy import Policy

# category -> (letter in the rule, how this project handles it)
SAFE_HARBOR_CATEGORIES: dict[str, tuple[str, str]] = {
    "names": (
        "A",
        "never selected (HumanName, Reference.display, mother's maiden name); a name in a coded field -> NULL or "
        "local-code-<n>; scan: every name word, inside longer values too",
    ),
    "geographic_subdivisions": (
        "B",
        "postal code -> ZIP3, 000 for restricted prefixes; state kept only when a US state, else NULL; address "
        "lines, city, district, geolocation and birthplace never selected; scan: address, city and ZIP5 values",
    ),
    "dates": (
        "C",
        "event and death times -> hours since a per-patient anchor kept in the PHI zone; birth date -> year, "
        "withheld for 90+; ages capped at 90; a date in a code -> local-code-<n>; scan: date patterns, the "
        "batch's dates in every written form, no date-typed column",
    ),
    "telephone_numbers": ("D", "telecom never selected; scan: phone pattern and the batch's telecom values"),
    "fax_numbers": ("E", "telecom never selected; scan: phone pattern and the batch's telecom values"),
    "email_addresses": ("F", "telecom never selected; scan: e-mail pattern and the batch's telecom values"),
    "social_security_numbers": (
        "G",
        "identifiers never selected; SSN digits as a number -> NULL; scan: SSN pattern, the batch's identifiers "
        "and their digits in string and numeric columns",
    ),
    "medical_record_numbers": ("H", "identifiers never selected; scan: the batch's identifier values"),
    "health_plan_beneficiary_numbers": ("I", "identifiers, Coverage never selected; scan: identifier values"),
    "account_numbers": ("J", "identifiers, Account never selected; scan: identifier values"),
    "certificate_license_numbers": ("K", "identifiers never selected; scan: identifier values"),
    "vehicle_identifiers": ("L", "no selected element carries them; scan: identifier values"),
    "device_identifiers": ("M", "Device, udiCarrier, serialNumber never selected; scan: device identifier values"),
    "web_urls": (
        "N",
        "telecom and attachments never selected; unknown system URIs -> local-system-<n>; scan: URL pattern "
        "(known terminology URIs excepted)",
    ),
    "ip_addresses": ("O", "never selected; scan: IPv4 pattern"),
    "biometric_identifiers": ("P", "no view selects biometric data, free text or attachments"),
    "full_face_photographs": ("Q", "Patient.photo, Media and attachments never selected"),
    "other_unique_identifiers": (
        "R",
        "resource ids and references -> random surrogates (codebook) or HMAC-SHA256; other identifiers never "
        "selected; scan: every original resource id and identifier value",
    ),
}
_TRANSFORM_CATEGORY = {
    "pseudonym": "other_unique_identifiers",
    "event_time": "dates",
    "death_date": "dates",
    "birth_date": "dates",
    "zip3": "geographic_subdivisions",
}


def profile_counts(profile: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Values the profile counted in the raw resources, per type, in the categories the inventory leaves out:
    ``dates`` (values at the profile's time elements) and ``other_unique_identifiers`` (resource ids and
    references). With them, present and transformed count the same things: value occurrences."""
    counts: dict[str, dict[str, int]] = {}
    for row in profile.get("time_ranges", []):
        by_type = counts.setdefault(row["resource_type"], {})
        by_type["dates"] = by_type.get("dates", 0) + int(row["present"])
    for row in profile.get("types", []):
        by_type = counts.setdefault(row["resource_type"], {})
        by_type["other_unique_identifiers"] = by_type.get("other_unique_identifiers", 0) + int(row["accepted"])
    for row in profile.get("references", []):
        by_type = counts.setdefault(row["source_type"], {})
        by_type["other_unique_identifiers"] = by_type.get("other_unique_identifiers", 0) + int(row["total"])
    return counts


def primary_tables(policy: Policy) -> set[str]:
    """Tables named after their resource (``observation``, not ``observation_component``): they carry the raw
    counts of their resource."""
    return {t.table for t in policy.tables if t.view.replace("_", "") == t.resource.lower()}


def category_report(
    policy: Policy,
    result: DeidResult,
    inventory: Inventory,
    raw_counts: dict[str, dict[str, int]] | None = None,
) -> dict[str, dict[str, dict[str, int]]]:
    """Per table and category: values present in the raw resources, transformed into the table, removed.

    Raw counts belong to the table named after the resource (``observation`` for Observation), so a second view
    of the same resource (``observation_component``) reports only what it transformed. ``raw_counts`` (from
    ``profile_counts``) adds the dates, ids and references the inventory does not count, so that "present"
    and "transformed" count the same kind of thing.
    """
    report: dict[str, dict[str, dict[str, int]]] = {}
    primary = primary_tables(policy)
    for table in policy.tables:
        present = dict(inventory.category_counts.get(table.resource, {})) if table.table in primary else {}
        if table.table in primary:
            for category, count in (raw_counts or {}).get(table.resource, {}).items():
                present[category] = present.get(category, 0) + count
        transformed: dict[str, int] = {}
        for transform, count in result.transformed.get(table.table, {}).items():
            category = _TRANSFORM_CATEGORY.get(transform)
            if category:
                transformed[category] = transformed.get(category, 0) + count
        rows = {}
        for category in SAFE_HARBOR_CATEGORIES:
            p, t = present.get(category, 0), transformed.get(category, 0)
            if p or t:
                rows[category] = {"present": p, "transformed": t, "removed": max(p - t, 0)}
        report[table.table] = rows
    return report


def batch_totals(
    report: dict[str, dict[str, dict[str, int]]],
    inventory: Inventory,
    raw_counts: dict[str, dict[str, int]] | None = None,
    primary: set[str] | None = None,
) -> dict[str, dict[str, int]]:
    """All 18 categories for the whole batch (every resource type, including those no view reads).

    With ``primary`` (``primary_tables(policy)``), "transformed" sums only the tables named after their
    resource: a second view (``observation_component``) writes copies of values its resource's table counted."""
    present: dict[str, int] = {}
    for counts in [*inventory.category_counts.values(), *(raw_counts or {}).values()]:
        for category, count in counts.items():
            present[category] = present.get(category, 0) + count
    transformed: dict[str, int] = {}
    for table, rows in report.items():
        if primary is not None and table not in primary:
            continue
        for category, numbers in rows.items():
            transformed[category] = transformed.get(category, 0) + numbers["transformed"]
    return {
        category: {
            "present": present.get(category, 0),
            "transformed": transformed.get(category, 0),
            "removed": max(present.get(category, 0) - transformed.get(category, 0), 0),
        }
        for category in SAFE_HARBOR_CATEGORIES
    }
