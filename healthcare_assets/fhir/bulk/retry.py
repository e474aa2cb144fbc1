"""Waiting politely: ``Retry-After`` parsing, capped exponential backoff with jitter, transient-status rules.

Bulk Data servers throttle clients (429) and ask them to come back later (202 + ``Retry-After``). The header
may be delta-seconds or an HTTP-date, and real servers send odd values (negative, years ahead, garbage), so
every delay is clamped into ``[min_delay, max_delay]``; unparsable values fall back to backoff. Sleeping and
the clock are injected so tests run without waiting.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from healthcare_assets.fhir.bulk.errors import OutcomeIssue

Clock = Callable[[], float]
Sleep = Callable[[float], None]

_DELTA = re.compile(r"^[+-]?\d+(\.\d+)?$")
# Statuses that mean "try again later" whatever the body says.
ALWAYS_TRANSIENT = frozenset({408, 429, 502, 503, 504})
# OperationOutcome codes a server uses to say an error is temporary.
TRANSIENT_CODES = frozenset({"transient", "throttled", "timeout", "incomplete", "lock-error"})


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait according to a ``Retry-After`` value, unclamped (may be negative); ``None`` if unusable.

    Accepts delta-seconds (``"120"``, leniently ``"1.5"``) and the three HTTP-date forms (IMF-fixdate, RFC 850,
    asctime; a date without a zone is read as GMT).
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if _DELTA.match(text):
        seconds = float(text)
        return seconds if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return (when - now).total_seconds()


def clamp_delay(seconds: float, minimum: float, maximum: float) -> float:
    """Force a delay into ``[minimum, maximum]`` (NaN counts as absurd and becomes ``maximum``)."""
    if math.isnan(seconds):
        return maximum
    return min(max(seconds, minimum), maximum)


@dataclass(frozen=True)
class Backoff:
    """Capped exponential backoff with jitter: ``min(maximum, initial * factor**attempt)``, minus up to ``jitter``.

    Jitter spreads out clients that failed together, so they do not all come back at the same instant.
    """

    initial: float = 1.0
    factor: float = 2.0
    maximum: float = 60.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.initial <= 0 or self.factor < 1 or self.maximum < self.initial or not 0 <= self.jitter < 1:
            raise ValueError(f"invalid backoff {self}")

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Delay before retry number ``attempt`` (0-based)."""
        base = min(self.maximum, self.initial * self.factor ** min(max(attempt, 0), 64))
        return base * (1.0 - self.jitter * rng.random())


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry one request (kick-off, manifest page, file, token)."""

    max_attempts: int = 6
    backoff: Backoff = Backoff()
    min_delay: float = 0.1
    max_delay: float = 300.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.min_delay < 0 or self.max_delay < self.min_delay:
            raise ValueError(f"invalid retry policy {self}")

    def delay(self, attempt: int, retry_after: str | None, rng: random.Random, now: datetime | None = None) -> float:
        """The server's ``Retry-After`` (clamped) when usable, otherwise backoff for ``attempt``."""
        asked = parse_retry_after(retry_after, now)
        if asked is None:
            return clamp_delay(self.backoff.delay(attempt, rng), self.min_delay, self.max_delay)
        return clamp_delay(asked, self.min_delay, self.max_delay)


def is_transient(status: int, issues: tuple[OutcomeIssue, ...] = ()) -> bool:
    """Whether an error status is worth retrying.

    429/408/502/503/504 always are. A 500 is retried unless its OperationOutcome names a non-transient cause
    (a failed export says ``exception``/``processing``; retrying that would only repeat the failure).
    """
    if status in ALWAYS_TRANSIENT:
        return True
    if status == 500:
        return not issues or any(issue.code in TRANSIENT_CODES for issue in issues)
    return False
