"""What PHI the raw batch holds: the dictionary the residual scan looks for, and counts per Safe Harbor category.

Built inside the de-identification connection from three sources:

* person-like resources (Patient, Practitioner, RelatedPerson, Organization, Coverage, Device, ...), read in
  full: one regular-expression pass (DuckDB's RE2, no JSON tree walk) captures HumanName parts, identifier and
  telecom values, address parts, displays and free text, device identifiers, and the vocabulary that is not PHI
  (codes, systems, units, statuses);
* the flattened views: every original id the output could carry (``_keys``), every date of a time column, and
  the identifier values of the resources the views read (collected while flattening);
* names repeated elsewhere (``Reference.display``) are those same people's names, already in the dictionary.

Terms are normalised the way the scan normalises values (``scan.normalized_sql``). Every date becomes the
written forms people use (ISO, ``/``, ``.``, ``-``, month names and abbreviations, two-digit years; separators
vanish in normalisation, so ``1961/03/14``, ``1961.03.14`` and ``1961-03-14`` are one term), and identifier and
phone values made of digits and separators also become their bare digits. Nothing is dropped for looking like a
code: the columns' domains resolve that ambiguity (``domains.py``).

The dictionary is written as Parquet into the PHI-zone staging folder (it is PHI) and never logged; only counts
leave it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from healthcare_assets.deid.normalize import normalized_sql
from healthcare_assets.fhir.landing import LandedBatch
from healthcare_assets.fhir.profile import readable_files
from healthcare_assets.warehouse.duckdb_store import sql_literal

MIN_TERM_LENGTH = 1  # the scan decides where short terms apply (whole values of id columns only)
PERSON_TYPES = (
    "Patient", "Practitioner", "PractitionerRole", "RelatedPerson", "Person", "Organization", "Coverage", "Device",
    "Location", "Group", "Account",
)  # fmt: skip
_STRING = r'"(?:[^"\\]|\\.)*"'
_PAIR = (
    r'"(family|given|text|value|city|line|district|postalCode|display|valueString|id|code|system|unit|status|'
    r'serialNumber|deviceIdentifier|carrierHRF|photo|url)"\s*:\s*(' + _STRING + r"|\[\s*(?:" + _STRING
    + r"\s*,?\s*)*\])"
)  # fmt: skip
_IDENTIFIER_TYPE = r'v2-0203"\s*,\s*"code"\s*:\s*"([A-Z]+)"'
# Not part of a longer dotted number (OIDs such as 2.16.840.1.113883 are not addresses).
_IPV4 = r"(^|[^0-9.])[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}([^0-9.]|$)"

NAME_KEYS = ("family", "given")  # matched word by word
WHOLE_KEYS = {  # matched as whole values
    "text": "free_text",
    "display": "free_text",
    "valueString": "free_text",
    "value": "identifier_or_contact",
    "city": "place",
    "district": "place",
    "line": "address",
    "postalCode": "zip",
    "id": "resource_id",
    "serialNumber": "device_id",
    "deviceIdentifier": "device_id",
    "carrierHRF": "device_id",
}
IDENTIFIER_CATEGORIES = {
    "SS": "social_security_numbers",
    "MR": "medical_record_numbers",
    "MB": "health_plan_beneficiary_numbers",
    "MA": "health_plan_beneficiary_numbers",
    "MC": "health_plan_beneficiary_numbers",
    "SN": "health_plan_beneficiary_numbers",
    "AN": "account_numbers",
    "DL": "certificate_license_numbers",
    "LN": "certificate_license_numbers",
    "PPN": "other_unique_identifiers",
}
TERMS_FILE = "phi_terms.parquet"
# strftime formats of every date term, with spaces for separators (normalisation maps any separator to a space).
DATE_FORMATS = (
    "%Y %m %d", "%Y %-m %-d", "%m %d %Y", "%-m %-d %Y", "%d %m %Y", "%-d %-m %Y", "%m %d %y", "%-m %-d %y",
    "%d %m %y", "%-d %-m %y", "%Y%m%d", "%d %b %Y", "%-d %b %Y", "%b %d %Y", "%b %-d %Y",
    "%d %B %Y", "%-d %B %Y", "%B %d %Y", "%B %-d %Y", "%d %b %y", "%-d %b %y", "%b %d %y", "%b %-d %y",
    "%Y %b %d", "%Y %B %d",
)  # fmt: skip
# Identifier and telecom values written with digits and separators only also match as their bare digits.
MIN_DIGITS = 6


@dataclass(frozen=True)
class Inventory:
    """Where the dictionary lives (PHI-zone Parquet) and what it holds, in counts."""

    terms_path: Path  # (kind, term): normalised dictionary terms
    terms_by_kind: dict[str, int]
    category_counts: dict[str, dict[str, int]]  # resource type -> Safe Harbor category -> values present


def build_inventory(
    con: duckdb.DuckDBPyConnection,
    batch: LandedBatch,
    extra_terms_sql: str,
    out_dir: Path,
) -> Inventory:
    """``extra_terms_sql`` yields ``(rtype, kind, term)`` rows the caller already holds (ids, dates, identifiers).
    Leaves ``_phi_terms(kind, term)`` in ``con`` for the caller's validation step."""
    parts = []
    readable = readable_files(batch)
    for entry in batch.manifest["files"]:
        if entry["type"] not in PERSON_TYPES:
            continue
        reader = readable[entry["path"]].lines_sql()
        parts.append(f"SELECT {sql_literal(entry['type'])} AS rtype, line FROM {reader} WHERE line IS NOT NULL")
    lines = " UNION ALL ".join(parts) or "SELECT NULL::VARCHAR AS rtype, NULL::VARCHAR AS line LIMIT 0"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _raw_hits AS
            SELECT rtype, regexp_extract_all(line, $pair, 0) AS pairs,
                   regexp_extract_all(line, $idtype, 1) AS id_types
            FROM ({lines})""",
        {"pair": _PAIR, "idtype": _IDENTIFIER_TYPE},
    )
    # Each match is `"key": value`; the key is the text between the first two quotes, the value what follows
    # the first colon (a JSON string or array of strings, decoded only when it needs to be).
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _raw_values AS
           WITH pairs AS (
               SELECT rtype, split_part(m, '"', 2) AS key, trim(substr(m, strpos(m, ':') + 1)) AS raw
               FROM (SELECT rtype, unnest(pairs) AS m FROM _raw_hits))
           SELECT rtype, key, CASE WHEN contains(raw, '\\') THEN json_extract_string(raw, '$') ELSE raw[2:-2] END
               AS value
           FROM pairs WHERE NOT starts_with(raw, '[')
           UNION ALL
           SELECT rtype, key, unnest(json_extract_string(raw, '$[*]')) FROM pairs WHERE starts_with(raw, '[')"""
    )
    whole_cases = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in WHOLE_KEYS.items())
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _phi_extra AS {extra_terms_sql}""",
    )
    dates = ", ".join(f"strftime(d, '{f}')" for f in DATE_FORMATS)
    digits = f"""SELECT kind, regexp_replace(term, '[^0-9]', '', 'g') AS term FROM {{source}}
                 WHERE regexp_full_match(term, '[+0-9 ().-]+') AND length(regexp_replace(term, '[^0-9]', '', 'g'))
                     >= {MIN_DIGITS}"""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _phi_raw_terms AS
            SELECT 'name' AS kind, w AS term FROM _raw_values,
                unnest(regexp_split_to_array(value, '[^\\pL\\pN]+')) AS u(w)
            WHERE key IN ({_in(NAME_KEYS)})
            UNION ALL
            SELECT CASE key {whole_cases} END, value FROM _raw_values WHERE key IN ({_in(WHOLE_KEYS)})
            UNION ALL
            SELECT 'zip', left(trim(value), 5) FROM _raw_values WHERE key = 'postalCode'
            UNION ALL
            SELECT kind, term FROM _phi_extra WHERE kind NOT IN ('date', 'resource_id')"""
    )
    contacts = "(SELECT * FROM _phi_raw_terms WHERE kind = 'identifier_or_contact')"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _phi_terms AS
            SELECT DISTINCT kind, term FROM (
                SELECT kind, {normalized_sql("term")} AS term FROM _phi_raw_terms
                UNION ALL
                -- Original ids (millions) match whole values only: lower case, not normalised (scan.py).
                SELECT 'resource_id', lower(trim(term)) FROM _phi_extra WHERE kind = 'resource_id'
                UNION ALL
                -- Dates come out of strftime already in normal form (words and digits, single spaces).
                SELECT 'date', lower(f) FROM (
                    SELECT DISTINCT try_cast(term AS DATE) AS d FROM _phi_extra WHERE kind = 'date'),
                    unnest([{dates}]) AS u(f)
                WHERE d IS NOT NULL
                UNION ALL
                {digits.format(source=contacts)}
                UNION ALL
                SELECT kind, substr(term, 2) FROM ({digits.format(source=contacts)})
                WHERE length(term) = 11 AND starts_with(term, '1'))
            WHERE length(term) >= {MIN_TERM_LENGTH}"""
    )
    by_kind = dict(con.execute("SELECT kind, count(*) FROM _phi_terms GROUP BY 1 ORDER BY 1").fetchall())
    terms_path = out_dir / TERMS_FILE
    con.execute(f"COPY _phi_terms TO {sql_literal(terms_path)} (FORMAT parquet)")
    return Inventory(terms_path, by_kind, _category_counts(con))


def _category_counts(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, int]]:
    """Values present in the raw batch per resource type and Safe Harbor category. Counts only."""
    identifier_cases = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in IDENTIFIER_CATEGORIES.items())
    rows = con.execute(
        f"""SELECT rtype, category, count(*) FROM (
                SELECT rtype, CASE
                    WHEN key IN ('family', 'given') THEN 'names'
                    WHEN key IN ('line', 'city', 'district', 'postalCode') THEN 'geographic_subdivisions'
                    WHEN key IN ('serialNumber', 'deviceIdentifier', 'carrierHRF') THEN 'device_identifiers'
                    WHEN key = 'photo' THEN 'full_face_photographs'
                    WHEN key = 'system' AND value = 'phone' THEN 'telephone_numbers'
                    WHEN key = 'system' AND value = 'fax' THEN 'fax_numbers'
                    WHEN key = 'system' AND value = 'email' THEN 'email_addresses'
                    WHEN key = 'system' AND value = 'url' THEN 'web_urls'
                    WHEN key IN ('value', 'text', 'valueString') AND regexp_matches(value, $ipv4) THEN 'ip_addresses'
                END AS category
                FROM _raw_values
                UNION ALL
                SELECT rtype, CASE t {identifier_cases} ELSE 'other_unique_identifiers' END
                FROM _raw_hits, unnest(id_types) AS u(t)
                UNION ALL
                SELECT rtype, 'other_unique_identifiers' FROM _phi_extra WHERE kind = 'identifier_or_contact'
            ) WHERE category IS NOT NULL GROUP BY ALL ORDER BY ALL""",
        {"ipv4": _IPV4},
    ).fetchall()
    counts: dict[str, dict[str, int]] = {}
    for rtype, category, count in rows:
        counts.setdefault(rtype, {})[category] = int(count)
    return counts


def _in(values) -> str:
    return ", ".join(f"'{v}'" for v in values)
