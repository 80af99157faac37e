"""Turning the many ways feeds and users write a point in time into aware UTC datetimes."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime

# Numbers above this are taken as epoch milliseconds rather than seconds (year 5138 in seconds).
_EPOCH_MILLIS_THRESHOLD = 1e11
_PARTIAL_DATE = re.compile(r"^\s*(\d{4})(?:-(\d{1,2}))?\s*$")


class DateParseError(ValueError):
    """A value that is not a readable point in time."""


def to_utc(value: datetime) -> datetime:
    """Return `value` as an aware UTC datetime; a naive value is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def coerce_datetime(value: object) -> datetime:
    """Read a date value as found in frontmatter: a YAML timestamp, a date, a string, epoch seconds.

    Raises `DateParseError` for anything else.
    """
    if isinstance(value, datetime):
        return to_utc(value)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, bool):
        raise DateParseError(f"{value!r} is not a date")
    if isinstance(value, int | float):
        seconds = float(value)
        if seconds != seconds or abs(seconds) == float("inf"):
            raise DateParseError(f"{value!r} is not a date")
        if abs(seconds) > _EPOCH_MILLIS_THRESHOLD:
            seconds /= 1000.0
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise DateParseError(f"{value!r} is out of range for a date") from exc
    if isinstance(value, str):
        return parse_datetime_text(value)
    raise DateParseError(f"expected a date, got {type(value).__name__}")


def parse_datetime_text(text: str) -> datetime:
    """Parse ISO-8601 (with `Z`, an offset, or neither), a bare date, or an RFC 2822 date."""
    stripped = text.strip()
    if not stripped or len(stripped) > 64:
        raise DateParseError(f"{_shorten(text)!r} is not a date")
    candidate = stripped[:-1] + "+00:00" if stripped[-1] in "zZ" else stripped
    try:
        return to_utc(datetime.fromisoformat(candidate))
    except ValueError:
        pass
    try:
        parsed = parsedate_to_datetime(stripped)
    except (TypeError, ValueError, IndexError):
        parsed = None
    if parsed is None:
        raise DateParseError(
            f"{_shorten(text)!r} is not a date (expected ISO-8601, e.g. 2020-11-13T19:30:00Z)"
        )
    return to_utc(parsed)


def parse_bound(text: str, *, upper: bool = False) -> datetime:
    """Parse a date filter bound typed by a user.

    Besides everything `parse_datetime_text` reads, it accepts a year (`2020`) or a month
    (`2020-11`). A lower bound is inclusive. With ``upper=True`` the result is an *exclusive* bound
    that still includes what the user named: ``2020-11-13`` includes the whole 13th, ``2020-11`` all
    of November, and ``2020-11-13T19:30:00Z`` that second itself.
    """
    partial = _PARTIAL_DATE.match(text)
    if partial:
        year = int(partial.group(1))
        month = int(partial.group(2) or 0)
        if partial.group(2) is not None and not 1 <= month <= 12:
            raise DateParseError(f"{text!r} is not a date: month {month} does not exist")
        if not upper:
            return datetime(year, month or 1, 1, tzinfo=UTC)
        next_year, next_month = (year + 1, 1) if month in (0, 12) else (year, month + 1)
        if next_year > 9999:
            return datetime.max.replace(tzinfo=UTC)
        return datetime(next_year, next_month, 1, tzinfo=UTC)
    parsed = parse_datetime_text(text)
    if not upper:
        return parsed
    step = timedelta(days=1) if _is_date_only(text) else timedelta(seconds=1)
    try:
        return parsed.replace(microsecond=0) + step
    except OverflowError:
        return datetime.max.replace(tzinfo=UTC)


def _is_date_only(text: str) -> bool:
    return bool(re.fullmatch(r"\s*\d{4}-\d{2}-\d{2}\s*", text))


def _shorten(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
