"""Safe Harbor geography: only the first three ZIP digits, and 000 where the three-digit area is too small."""

from __future__ import annotations

# HHS list from the 2000 Census (ZIP3 areas with 20,000 people or fewer), plus 205 and 369, which other
# de-identification tools also restrict. The union is used so that nothing either list forbids gets out.
HHS_2000_RESTRICTED_ZIP3 = (
    "036",
    "059",
    "063",
    "102",
    "203",
    "556",
    "692",
    "790",
    "821",
    "823",
    "830",
    "831",
    "878",
    "879",
    "884",
    "890",
    "893",
)
EXTRA_RESTRICTED_ZIP3 = ("205", "369")
RESTRICTED_ZIP3 = frozenset(HHS_2000_RESTRICTED_ZIP3 + EXTRA_RESTRICTED_ZIP3)


# Values a ``state`` column may hold: names and USPS codes of the states, DC and the territories. Safe Harbor
# allows the state, and people are called Georgia or Washington, so these are not matched against names there.
US_STATES = {
    "AL": "Alabama", "AK": "Alaska", "AZ": "Arizona", "AR": "Arkansas", "CA": "California", "CO": "Colorado",
    "CT": "Connecticut", "DE": "Delaware", "FL": "Florida", "GA": "Georgia", "HI": "Hawaii", "ID": "Idaho",
    "IL": "Illinois", "IN": "Indiana", "IA": "Iowa", "KS": "Kansas", "KY": "Kentucky", "LA": "Louisiana",
    "ME": "Maine", "MD": "Maryland", "MA": "Massachusetts", "MI": "Michigan", "MN": "Minnesota",
    "MS": "Mississippi", "MO": "Missouri", "MT": "Montana", "NE": "Nebraska", "NV": "Nevada",
    "NH": "New Hampshire", "NJ": "New Jersey", "NM": "New Mexico", "NY": "New York", "NC": "North Carolina",
    "ND": "North Dakota", "OH": "Ohio", "OK": "Oklahoma", "OR": "Oregon", "PA": "Pennsylvania",
    "RI": "Rhode Island", "SC": "South Carolina", "SD": "South Dakota", "TN": "Tennessee", "TX": "Texas",
    "UT": "Utah", "VT": "Vermont", "VA": "Virginia", "WA": "Washington", "WV": "West Virginia",
    "WI": "Wisconsin", "WY": "Wyoming", "DC": "District of Columbia", "PR": "Puerto Rico", "GU": "Guam",
    "VI": "U.S. Virgin Islands", "AS": "American Samoa", "MP": "Northern Mariana Islands",
}  # fmt: skip
STATE_VALUES = frozenset(v.lower() for pair in US_STATES.items() for v in pair)


def zip3(postal_code: str | None) -> str | None:
    """Python twin of ``zip3_sql`` (for tests and small lookups)."""
    if postal_code is None:
        return None
    code = postal_code.strip()
    digits = code.replace("-", "")
    if not (digits.isdigit() and len(digits) in (5, 9) and (len(code) in (5, 9) or code[5:6] == "-")):
        return None
    return "000" if code[:3] in RESTRICTED_ZIP3 else code[:3]


def zip3_sql(column: str) -> str:
    """SQL: a US ZIP (12345, 12345-6789, 123456789) becomes its first three digits or 000; anything else NULL."""
    restricted = ", ".join(f"'{z}'" for z in sorted(RESTRICTED_ZIP3))
    value = f"trim({column})"
    return (
        f"CASE WHEN regexp_full_match({value}, '[0-9]{{5}}(-?[0-9]{{4}})?') THEN "
        f"CASE WHEN left({value}, 3) IN ({restricted}) THEN '000' ELSE left({value}, 3) END END"
    )
