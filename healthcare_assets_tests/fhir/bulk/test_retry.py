"""Retry-After parsing and clamping, backoff bounds, and which statuses are worth retrying."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from healthcare_assets.fhir.bulk.errors import OutcomeIssue
from healthcare_assets.fhir.bulk.retry import Backoff, RetryPolicy, clamp_delay, is_transient, parse_retry_after

pytestmark = pytest.mark.timeout(30)

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        ("0", 0.0),
        (" 7 ", 7.0),
        ("1.5", 1.5),
        ("-5", -5.0),
        ("99999999999999999999", 1e20),
    ],
)
def test_delta_seconds(value: str, expected: float) -> None:
    assert parse_retry_after(value, NOW) == pytest.approx(expected)


@pytest.mark.parametrize(
    "value",
    [
        "Fri, 02 Jan 2026 03:04:35 GMT",  # IMF-fixdate
        "Friday, 02-Jan-26 03:04:35 GMT",  # RFC 850
        "Fri Jan  2 03:04:35 2026",  # asctime (no zone: GMT)
    ],
)
def test_http_date_forms(value: str) -> None:
    assert parse_retry_after(value, NOW) == pytest.approx(30.0)


@pytest.mark.parametrize("value", [None, "", "soon", "1e3", "inf", "nan", "12 seconds", "Fri, 99 Foo 2026"])
def test_unusable_values(value: str | None) -> None:
    assert parse_retry_after(value, NOW) is None


def test_absurd_values_are_clamped() -> None:
    policy = RetryPolicy(min_delay=0.5, max_delay=300.0)
    rng = random.Random(1)
    assert policy.delay(0, "-30", rng, NOW) == 0.5  # negative
    assert policy.delay(0, "99999999999999999999", rng, NOW) == 300.0  # huge
    assert policy.delay(0, "Fri, 31 Dec 9999 23:59:59 GMT", rng, NOW) == 300.0  # years ahead
    assert policy.delay(0, format_datetime(NOW - timedelta(hours=1), usegmt=True), rng, NOW) == 0.5  # past
    assert policy.delay(0, "12", rng, NOW) == 12.0
    fallback = policy.delay(0, "garbage", rng, NOW)  # unparsable: backoff
    assert 0.5 <= fallback <= 1.0
    assert clamp_delay(float("nan"), 1, 10) == 10


def test_backoff_grows_is_capped_and_jittered() -> None:
    backoff = Backoff(initial=1.0, factor=2.0, maximum=8.0, jitter=0.5)
    rng = random.Random(7)
    for attempt, cap in [(0, 1), (1, 2), (2, 4), (3, 8), (10, 8), (10_000, 8)]:
        delays = [backoff.delay(attempt, rng) for _ in range(50)]
        assert all(cap * 0.5 <= d <= cap for d in delays)
        assert len(set(delays)) > 1  # jitter spreads clients out
    with pytest.raises(ValueError):
        Backoff(initial=0)


def test_transient_statuses() -> None:
    for status in (408, 429, 502, 503, 504):
        assert is_transient(status)
    assert is_transient(500)  # a bare 500 may be a hiccup
    assert is_transient(500, (OutcomeIssue("error", "transient", "busy"),))
    assert not is_transient(500, (OutcomeIssue("error", "exception", "export failed"),))
    for status in (400, 401, 403, 404, 410, 501):
        assert not is_transient(status)
