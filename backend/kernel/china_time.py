"""China Standard Time (UTC+8, no daylight saving): the business day of jobs, bills, SLAs and shifts.

Stored times are UTC; these are the one place a UTC moment becomes a China date, or a China date a
UTC range."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

from backend.kernel.base import utcnow

CHINA_TZ = timezone(timedelta(hours=8))


def china_day(moment: datetime) -> date:
    """The China calendar date of an aware moment."""
    return moment.astimezone(CHINA_TZ).date()


def china_today() -> date:
    return china_day(utcnow())


def china_day_bounds(day: date) -> tuple[datetime, datetime]:
    """[start, end) of a China calendar day, as aware datetimes."""
    start = datetime.combine(day, time(0), tzinfo=CHINA_TZ)
    return start, start + timedelta(days=1)
