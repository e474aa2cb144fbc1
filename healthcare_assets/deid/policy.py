"""The de-identification policy: which column is kept and how it is transformed, in one readable statement each.

The project's ViewDefinitions are the allow-list (a column exists only if a later stage needs it) and their
``deid`` tags name the transform; this module turns them into the policy a privacy officer signs, and into a
version string that goes into every output row, the asset metadata and the audit ledger.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from healthcare_assets.audit.canonical import sha256_json
from healthcare_assets.deid.domains import Domain, domain_of
from healthcare_assets.deid.geography import RESTRICTED_ZIP3
from healthcare_assets.fhir.views import ViewDefinition, plan_view

# Bump when any transform's behaviour changes; the full version also hashes the views and the ZIP3 list.
POLICY_REVISION = 3  # 2: coded values validated against their domains (domains.py); 3: follow-up flag, no data end
AGE_CAP = 90  # Safe Harbor: ages over 89 are aggregated into "90 or older"
# The event an encounter's age is computed at (ages are derived in the PHI zone from the full birth date).
AGE_AT = {"encounter": ("period_start", "age_years")}
# Whether the batch's data reaches FOLLOWUP_DAYS past an encounter's end: the follow-up limit of outcome labels (a
# stay discharged less than that before the data ends has a pending label, never a negative one). Derived inside
# the PHI zone and published as a flag only: an interval to the data's end (hours or days) would give away each
# patient's anchor, since the end of the data is about when the batch was exported (its id says when), and with
# the anchor every offset becomes a date again.
FOLLOWUP_DAYS = 30
FOLLOWUP = {"encounter": ("period_end", f"followup_complete_{FOLLOWUP_DAYS}d")}
FOLLOWUP_STATEMENT = (
    f"true when the batch's data (the Bulk transactionTime, the synthetic simulation end, else the batch's latest "
    f"event time but not after landing) reaches {FOLLOWUP_DAYS} days past the encounter's end; computed inside the "
    "PHI zone; a flag, not an interval, so the end of the data (about the export's date) cannot pin the anchor"
)


class Profile(StrEnum):
    """``safe_harbor``: 45 CFR 164.514(b)(2). ``date_shift``: consistent per-patient shifted dates, for use under
    an Expert Determination or a data use agreement only; it is NOT Safe Harbor and is marked so everywhere."""

    SAFE_HARBOR = "safe_harbor"
    DATE_SHIFT = "date_shift"

    @property
    def is_safe_harbor(self) -> bool:
        return self is Profile.SAFE_HARBOR


@dataclass(frozen=True)
class OutputColumn:
    name: str
    duckdb_type: str
    description: str


@dataclass(frozen=True)
class ColumnRule:
    """One source column of one view: its transform, the namespace of a pseudonym, and what comes out."""

    view: str
    column: str
    transform: str
    namespace: str | None
    outputs: tuple[OutputColumn, ...]
    statement: str
    fhir_type: str | None = None  # FHIR type of the source path (code, uri, string, dateTime, ...)
    domain: Domain | None = None  # what a kept value must be to be published as is (domains.py)


@dataclass(frozen=True)
class TablePolicy:
    view: str
    table: str
    resource: str
    rules: tuple[ColumnRule, ...]

    @property
    def output_columns(self) -> list[OutputColumn]:
        columns = [OutputColumn("batch_id", "VARCHAR", "Export batch (partition) the row came from.")]
        columns += [out for rule in self.rules for out in rule.outputs]
        if self.view in AGE_AT:
            _, name = AGE_AT[self.view]
            columns.append(
                OutputColumn(name, "INTEGER", f"Age in whole years at {AGE_AT[self.view][0]}, capped at {AGE_CAP}.")
            )
        if self.view in FOLLOWUP:
            columns.append(
                OutputColumn(
                    FOLLOWUP[self.view][1], "BOOLEAN", f"The batch's data reaches {FOLLOWUP_DAYS} days past the end."
                )
            )
        columns.append(OutputColumn("deid_policy", "VARCHAR", "Version of the de-identification policy applied."))
        return columns


@dataclass(frozen=True)
class Policy:
    profile: Profile
    tables: tuple[TablePolicy, ...]
    version: str

    def table(self, view: str) -> TablePolicy:
        return next(t for t in self.tables if t.view == view)

    def describe(self) -> str:
        """The policy as Markdown: one line per column, what is kept and how."""
        lines = [
            f"# De-identification policy {self.version}",
            "",
            f"Profile: **{self.profile.value}**"
            + ("" if self.profile.is_safe_harbor else " (NOT Safe Harbor: Expert Determination or DUA use only)"),
            "",
            "Only the columns below leave the PHI zone; everything else in a resource (names, identifiers,"
            " telecom, address lines, free text, narrative, attachments, unknown extensions) is never selected.",
        ]
        for table in self.tables:
            lines += [
                "",
                f"## {table.table} (from {table.resource})",
                "",
                "| column | transform | statement |",
                "|---|---|---|",
            ]
            lines += [f"| {r.column} | {r.transform} | {r.statement} |" for r in table.rules]
            if table.view in AGE_AT:
                event, name = AGE_AT[table.view]
                lines.append(
                    f"| {name} | derived | age in whole years at {event}, computed from the full birth date"
                    f' inside the PHI zone, capped at {AGE_CAP} ("90 or older") |'
                )
            if table.view in FOLLOWUP:
                lines.append(f"| {FOLLOWUP[table.view][1]} | derived | {FOLLOWUP_STATEMENT} |")
        return "\n".join(lines) + "\n"


_REFERENCE_TYPE = re.compile(r"getReferenceKey\(\s*([A-Z][A-Za-z]+)\s*\)")


def _namespace(view: ViewDefinition, path: str) -> str | None:
    if "getResourceKey()" in path:
        return view.resource
    match = _REFERENCE_TYPE.search(path)
    return match.group(1) if match else None


def _rule(
    view_name: str, view: ViewDefinition, column, profile: Profile, sql_type: str, fhir_type: str | None
) -> ColumnRule:
    transform = column.tag("deid")
    name, described = column.name, (column.description or column.name).rstrip(". ")
    shifted = not profile.is_safe_harbor
    namespace = None
    domain = domain_of(view_name, name) if transform in ("keep", "state") else None
    if transform == "keep":
        outputs = (OutputColumn(name, sql_type, f"{described}."),)
        statement = "kept as is (a code, value, unit, status or class; no free text)"
        if domain is not None:
            statement = _DOMAIN_STATEMENTS[domain.kind]
    elif transform == "pseudonym":
        namespace = _namespace(view, column.path)
        if namespace is None:
            raise ValueError(
                f"view {view_name}, column {name}: a pseudonym column must use getResourceKey() or a typed "
                "getReferenceKey(Type), so the surrogate's namespace is known"
            )
        outputs = (OutputColumn(name, "VARCHAR", f"{described} (surrogate)."),)
        statement = (
            f"replaced by the {namespace} surrogate: random, kept in the PHI-zone codebook (or HMAC-SHA256"
            " with a secret key), identical across resource types and export batches"
        )
    elif transform in ("event_time", "death_date"):
        outputs = (OutputColumn(f"{name}_offset_h", "DOUBLE", f"{described}, in hours since the patient's anchor."),)
        statement = (
            "hours since the patient's anchor (the earliest event time seen for the patient, kept only in "
            "the PHI zone); no date, month or year leaves the PHI zone"
        )
        if shifted:
            outputs += (OutputColumn(f"{name}_shifted", "TIMESTAMP", f"{described}, shifted per patient."),)
            statement += "; also the date shifted by the patient's random offset (date_shift profile)"
    elif transform == "birth_date":
        outputs = (
            OutputColumn("birth_year", "INTEGER", "Year of birth; NULL when it would reveal an age over 89."),
            OutputColumn("age_90_or_older", "BOOLEAN", "True for everyone whose birth year was withheld (90+)."),
        )
        statement = (
            "year only; withheld (NULL, with age_90_or_older = true) when the person is, or would be at the "
            "latest event or export time, older than 89"
        )
        if shifted:
            outputs += (OutputColumn("birth_date_shifted", "DATE", "Birth date shifted per patient."),)
            statement += "; also the birth date shifted by the patient's random offset (date_shift profile)"
    elif transform == "zip3":
        outputs = (OutputColumn("zip3", "VARCHAR", "First three digits of the ZIP code; 000 where restricted."),)
        statement = (
            f"first three digits only; '000' for the {len(RESTRICTED_ZIP3)} restricted prefixes (population "
            "under 20,000); NULL when not a US ZIP code"
        )
    elif transform == "state":
        outputs = (OutputColumn(name, sql_type, f"{described}."),)
        statement = (
            "kept when a US state or territory (a state is larger than the smallest unit Safe Harbor allows); "
            "anything else becomes NULL"
        )
    else:
        raise ValueError(f"view {view_name}, column {name}: unknown or missing deid transform {transform!r}")
    return ColumnRule(view_name, name, transform, namespace, outputs, statement, fhir_type, domain)


_DOMAIN_STATEMENTS = {
    "value_set": "kept when in its FHIR value set; anything else becomes NULL",
    "system": "kept when a known terminology or a declared local code system; anything else becomes local-system-<n>",
    "code": (
        "kept when a code of a known terminology with that system's shape and not a PHI value of the batch, or a "
        "declared local code seen for at least k patients; anything else becomes local-code-<n>"
    ),
    "measurement": "kept, except a number whose digits are an identifier, phone number or date of the batch (NULL)",
}


def build_policy(views: dict[str, ViewDefinition], profile: Profile | str = Profile.SAFE_HARBOR) -> Policy:
    """The policy for ``views`` (normally ``catalog.project_views()``) under ``profile``."""
    profile = Profile(profile)
    tables = []
    for view_name, view in sorted(views.items()):
        planned = {out.column.name: out for out in plan_view(view).outputs}
        rules = tuple(
            _rule(view_name, view, c, profile, planned[c.name].sql_type, planned[c.name].fhir_type)
            for c in view.columns
        )
        tables.append(TablePolicy(view_name, f"deidentified_{view_name}", view.resource, rules))
    fingerprint = sha256_json(
        {
            "revision": POLICY_REVISION,
            "profile": profile.value,
            "age_cap": AGE_CAP,
            "restricted_zip3": sorted(RESTRICTED_ZIP3),
            "rules": [[r.view, r.column, r.transform, r.namespace] for t in tables for r in t.rules],
            "domains": [
                [r.view, r.column, r.domain.kind, sorted(r.domain.values), [*r.domain.systems, r.domain.system_column]]
                for t in tables
                for r in t.rules
                if r.domain
            ],
            "paths": {name: [c.path for c in view.columns] for name, view in sorted(views.items())},
            "derived": {"age_at": AGE_AT, "followup": FOLLOWUP},
        }
    )
    return Policy(profile, tuple(tables), f"{profile.value}-r{POLICY_REVISION}-{fingerprint[:12]}")
