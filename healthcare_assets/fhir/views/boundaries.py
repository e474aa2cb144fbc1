"""FHIRPath ``lowBoundary()`` / ``highBoundary()`` for dates, dateTimes, instants and times, as SQL on the text.

Partial values stay text end to end (see ``fhir_model.sql_type``), so the boundaries are string arithmetic: fill the
missing parts with their smallest or largest value, and a missing time zone with the earliest (+14:00) or latest
(-12:00) offset, as the FHIRPath specification defines. Decimals are not supported: they are read as DOUBLE,
which loses the written precision (``1.0`` vs ``1``) the boundary depends on.
"""

from __future__ import annotations

_DATE = r"^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?"
_TIME = r"(\d{2})(?::(\d{2}))?(?::(\d{2}))?(?:\.(\d+))?"
_ZONE = r"(Z|[+-]\d{2}:\d{2})?$"


def _part(sql: str, pattern: str, group: int) -> str:
    return f"nullif(regexp_extract({sql}, '{pattern}', {group}), '')"


def _date(sql: str, low: bool, pattern: str) -> str:
    year, month, day = (_part(sql, pattern, g) for g in (1, 2, 3))
    if low:
        return f"{year} || '-' || coalesce({month}, '01') || '-' || coalesce({day}, '01')"
    last_day = f"strftime(last_day(CAST({year} || '-' || coalesce({month}, '12') || '-01' AS DATE)), '%d')"
    return f"{year} || '-' || coalesce({month}, '12') || '-' || coalesce({day}, {last_day})"


def _time(sql: str, low: bool, pattern: str, first: int) -> str:
    hour, minute, second, fraction = (_part(sql, pattern, first + g) for g in range(4))
    hours, fill, pad = ("00", "00", "0") if low else ("23", "59", "9")
    millis = f"rpad(coalesce({fraction}, ''), 3, '{pad}')[1:3]"
    return (
        f"coalesce({hour}, '{hours}') || ':' || coalesce({minute}, '{fill}') || ':' "
        f"|| coalesce({second}, '{fill}') || '.' || {millis}"
    )


def boundary_sql(sql: str, fhir_type: str | None, low: bool) -> str | None:
    """SQL for the boundary of ``sql`` (text of type ``fhir_type``), or None when the type has no text boundary."""
    if fhir_type == "date":
        return f"CASE WHEN {sql} IS NOT NULL THEN {_date(sql, low, _DATE + '$')} END"
    if fhir_type == "time":
        return f"CASE WHEN {sql} IS NOT NULL THEN {_time(sql, low, '^' + _TIME + '$', 1)} END"
    if fhir_type in ("dateTime", "instant"):
        pattern = _DATE + "(?:T" + _TIME + ")?" + _ZONE
        zone = _part(sql, pattern, 8)
        default_zone = "+14:00" if low else "-12:00"
        return (
            f"CASE WHEN {sql} IS NOT NULL THEN {_date(sql, low, pattern)} || 'T' || {_time(sql, low, pattern, 4)} "
            f"|| coalesce({zone}, '{default_zone}') END"
        )
    return None
