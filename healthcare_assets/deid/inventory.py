"""What PHI the raw batch holds: the dictionary the residual scan looks for, and counts per Safe Harbor category.

Built inside the de-identification connection from three sources:

* person-like resources (Patient, Practitioner, RelatedPerson, Organization, Coverage, Device, ...), read in
  full: one regular-expression pass (DuckDB's RE2, no JSON tree walk) captures HumanName parts, identifier and
  telecom values, address parts, displays and free text, device identifiers, and the vocabulary that is not PHI
  (codes, systems, units, statuses);
* the flattened views: every original id the output could carry (``_keys``), every date of a time column, and
  the identifier values of the resources the views read (collected while flattening);
* names repeated elsewhere (``Reference.display``) are those same people's names, already in the dictionary.

The dictionary is written as Parquet into the PHI-zone staging folder (it is PHI) and never logged; only counts
leave it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from healthcare_assets.fhir.landing import LandedBatch
from healthcare_assets.fhir.profile import readable_files
from healthcare_assets.warehouse.duckdb_store import sql_literal

MIN_TERM_LENGTH = 3
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
VOCAB_KEYS = ("code", "system", "unit", "status")
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
VOCAB_FILE = "phi_vocab.parquet"


@dataclass(frozen=True)
class Inventory:
    """Where the dictionary lives (PHI-zone Parquet) and what it holds, in counts."""

    terms_path: Path  # (kind, term): lower-case dictionary terms, ambiguous ones removed
    vocab_path: Path  # (term): non-PHI vocabulary of the person resources (codes, systems, units, statuses)
    terms_by_kind: dict[str, int]
    ambiguous_terms_dropped: int
    category_counts: dict[str, dict[str, int]]  # resource type -> Safe Harbor category -> values present


def build_inventory(
    con: duckdb.DuckDBPyConnection,
    batch: LandedBatch,
    extra_terms_sql: str,
    out_dir: Path,
    extra_vocab_sql: str | None = None,
) -> Inventory:
    """``extra_terms_sql`` yields ``(rtype, kind, term)`` rows the caller already holds (ids, dates, identifiers);
    ``extra_vocab_sql`` yields ``(term)`` code values of the batch (never free text): a dictionary term equal to
    one of them cannot be told apart from the code, so it is dropped and counted as ambiguous."""
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
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _phi_vocab AS
            SELECT DISTINCT lower(trim(value)) AS term FROM _raw_values WHERE key IN ({_in(VOCAB_KEYS)})
            {"UNION SELECT lower(trim(term)) FROM (" + extra_vocab_sql + ")" if extra_vocab_sql else ""}"""
    )
    whole_cases = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in WHOLE_KEYS.items())
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _phi_extra AS {extra_terms_sql}""",
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _phi_candidates AS
            SELECT DISTINCT kind, term FROM (
                SELECT 'name' AS kind, lower(w) AS term FROM _raw_values,
                    unnest(regexp_split_to_array(value, '[^[:alnum:]]+')) AS u(w)
                WHERE key IN ({_in(NAME_KEYS)})
                UNION ALL
                SELECT CASE key {whole_cases} END, lower(trim(value)) FROM _raw_values
                WHERE key IN ({_in(WHOLE_KEYS)})
                UNION ALL
                SELECT 'zip', left(trim(value), 5) FROM _raw_values WHERE key = 'postalCode'
                UNION ALL
                SELECT kind, lower(trim(term)) FROM _phi_extra WHERE kind <> 'date'
                UNION ALL
                SELECT 'date', f FROM (SELECT DISTINCT try_cast(term AS DATE) AS d FROM _phi_extra WHERE kind = 'date'),
                    unnest([strftime(d, '%Y-%m-%d'), strftime(d, '%m/%d/%Y'), strftime(d, '%-m/%-d/%Y'),
                            strftime(d, '%Y%m%d'), strftime(d, '%d.%m.%Y')]) AS u(f)
                WHERE d IS NOT NULL
            ) WHERE length(term) >= {MIN_TERM_LENGTH}"""
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _phi_terms AS
           SELECT kind, term FROM _phi_candidates c ANTI JOIN _phi_vocab v ON v.term = c.term"""
    )
    candidates = con.execute("SELECT count(*) FROM _phi_candidates").fetchall()[0][0]
    by_kind = dict(con.execute("SELECT kind, count(*) FROM _phi_terms GROUP BY 1 ORDER BY 1").fetchall())
    terms_path, vocab_path = out_dir / TERMS_FILE, out_dir / VOCAB_FILE
    con.execute(f"COPY _phi_terms TO {sql_literal(terms_path)} (FORMAT parquet)")
    con.execute(f"COPY _phi_vocab TO {sql_literal(vocab_path)} (FORMAT parquet)")
    dropped = int(candidates) - sum(by_kind.values())
    return Inventory(terms_path, vocab_path, by_kind, dropped, _category_counts(con))


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
