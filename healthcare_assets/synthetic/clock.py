"""Time: the simulation counts integer seconds since the Unix epoch (UTC) and writes FHIR dateTimes in the local
time of the facility, with its UTC offset (``2024-03-10T08:15:00-04:00``), as Synthea and real EHR exports do.

Daylight saving follows the US rules (since 2007: second Sunday of March to first Sunday of November, at 02:00
local; 1987-2006: first Sunday of April to last Sunday of October). Written without the tz database so the output
cannot change with the machine's tzdata.
"""

from __future__ import annotations

from datetime import date, timedelta

DAY = 86_400
HOUR = 3_600
MINUTE = 60
YEAR = 365.2425 * DAY

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def _nth_sunday(year: int, month: int, n: int) -> int:
    """Day number (days since 1970-01-01) of the n-th Sunday of a month; n = -1 for the last one."""
    if n > 0:
        first = date(year, month, 1)
        day = first + timedelta(days=(6 - first.weekday()) % 7 + 7 * (n - 1))
    else:
        nxt = date(year + (month == 12), month % 12 + 1, 1)
        last = nxt - timedelta(days=1)
        day = last - timedelta(days=(last.weekday() + 1) % 7)
    return day.toordinal() - _EPOCH_ORDINAL


class Zone:
    """A US time zone: standard offset in hours and whether it observes daylight saving time."""

    __slots__ = ("std", "dst", "_cache", "last_utc", "last_text")

    def __init__(self, std_offset: int, dst: bool):
        self.std = std_offset
        self.dst = dst
        self._cache: dict[int, tuple[int, int]] = {}
        # fmt() memo: resources written together often share one instant.
        self.last_utc = -(2**62)
        self.last_text = ""

    def _dst_bounds(self, year: int) -> tuple[int, int]:
        bounds = self._cache.get(year)
        if bounds is None:
            if year >= 2007:
                start_day, end_day = _nth_sunday(year, 3, 2), _nth_sunday(year, 11, 1)
            else:
                start_day, end_day = _nth_sunday(year, 4, 1), _nth_sunday(year, 10, -1)
            # 02:00 local standard time -> UTC; 02:00 local daylight time -> UTC.
            start = start_day * DAY + 2 * HOUR - self.std * HOUR
            end = end_day * DAY + 2 * HOUR - (self.std + 1) * HOUR
            bounds = (start, end)
            self._cache[year] = bounds
        return bounds

    def offset(self, utc: int) -> int:
        """Offset from UTC in hours at instant ``utc``."""
        if not self.dst:
            return self.std
        # The year estimate can be off by one only around New Year, where daylight time is never in force.
        start, end = self._dst_bounds(1970 + int(utc // YEAR))
        return self.std + 1 if start <= utc < end else self.std

    def local_to_utc(self, local_seconds: int) -> int:
        """The instant whose local wall-clock time is ``local_seconds`` (seconds since 1970-01-01 local)."""
        guess = local_seconds - self.std * HOUR
        return local_seconds - self.offset(guess) * HOUR

    def local_seconds(self, utc: int) -> int:
        return utc + self.offset(utc) * HOUR


_SUFFIX = {h: f"{'-' if h < 0 else '+'}{abs(h):02d}:00" for h in range(-12, 15)}
_DATES: dict[int, str] = {}


def date_string(day_number: int) -> str:
    """``YYYY-MM-DD`` for a day number (days since 1970-01-01)."""
    s = _DATES.get(day_number)
    if s is None:
        s = date.fromordinal(_EPOCH_ORDINAL + day_number).isoformat()
        if len(_DATES) < 200_000:
            _DATES[day_number] = s
    return s


def fmt(utc: int, zone: Zone) -> str:
    """FHIR dateTime with seconds and the zone's UTC offset at that instant."""
    if utc == zone.last_utc:
        return zone.last_text
    off = zone.offset(utc)
    days, secs = divmod(utc + off * HOUR, DAY)
    h, rem = divmod(secs, HOUR)
    m, s = divmod(rem, MINUTE)
    text = f"{date_string(days)}T{h:02d}:{m:02d}:{s:02d}{_SUFFIX[off]}"
    zone.last_utc = utc
    zone.last_text = text
    return text


def fmt_ms(utc: int, millis: int, zone: Zone) -> str:
    """FHIR instant-like dateTime with milliseconds (as Synthea writes ``Observation.issued``)."""
    off = zone.offset(utc)
    days, secs = divmod(utc + off * HOUR, DAY)
    h, rem = divmod(secs, HOUR)
    m, s = divmod(rem, MINUTE)
    return f"{date_string(days)}T{h:02d}:{m:02d}:{s:02d}.{millis:03d}{_SUFFIX[off]}"


def day_number(d: date) -> int:
    return d.toordinal() - _EPOCH_ORDINAL
