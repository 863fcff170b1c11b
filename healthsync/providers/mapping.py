"""Small helpers that keep mappers short and strict: they raise on bad input, and the engine records why."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class SkipRecord(Exception):  # noqa: N818 - reads as an instruction in mappers: raise SkipRecord(...)
    """Raised by a mapper for a record it cannot or should not store; the reason is recorded on the run."""


def epoch(seconds: int | float) -> dt.datetime:
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise TypeError(f"expected a unix time, got {seconds!r}")
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)


def instant(text: str) -> dt.datetime:
    """An ISO 8601 instant with an offset or a Z, as UTC."""
    moment = dt.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"instant without a timezone: {text!r}")
    return moment.astimezone(dt.UTC)


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def zone(name: str | None) -> dt.tzinfo:
    try:
        return ZoneInfo(name) if name else dt.UTC
    except (ZoneInfoNotFoundError, ValueError):
        return dt.UTC


def local_day(moment: dt.datetime, tz_name: str | None) -> dt.date:
    return moment.astimezone(zone(tz_name)).date()


def day_start(date: dt.date, tz_name: str | None) -> dt.datetime:
    """The UTC instant at which a local calendar day begins."""
    return dt.datetime.combine(date, dt.time(), tzinfo=zone(tz_name)).astimezone(dt.UTC)


def number(value: object) -> float:
    """A numeric field, refusing strings and booleans that would silently coerce."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {value!r}")
    return float(value)


def optional_number(value: object) -> float | None:
    return None if value is None else number(value)
