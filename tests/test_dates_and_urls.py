"""Parsing of user-typed dates and the canonical form of URLs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from search.dates import DateParseError, parse_bound, parse_datetime_text
from search.urls import canonical_url


@pytest.mark.parametrize(
    ("text", "lower", "upper"),
    [
        ("2020", datetime(2020, 1, 1, tzinfo=UTC), datetime(2021, 1, 1, tzinfo=UTC)),
        ("2020-12", datetime(2020, 12, 1, tzinfo=UTC), datetime(2021, 1, 1, tzinfo=UTC)),
        ("2020-11-13", datetime(2020, 11, 13, tzinfo=UTC), datetime(2020, 11, 14, tzinfo=UTC)),
        (
            "2020-11-13T19:30:00Z",
            datetime(2020, 11, 13, 19, 30, tzinfo=UTC),
            datetime(2020, 11, 13, 19, 30, 1, tzinfo=UTC),
        ),
        (
            "2020-11-13T21:30:00+02:00",
            datetime(2020, 11, 13, 19, 30, tzinfo=UTC),
            datetime(2020, 11, 13, 19, 30, 1, tzinfo=UTC),
        ),
    ],
)
def test_bounds_include_the_whole_period_named(text: str, lower: datetime, upper: datetime) -> None:
    assert parse_bound(text) == lower
    assert parse_bound(text, upper=True) == upper


@pytest.mark.parametrize(
    "text", ["yesterday", "2020-13", "2020-00", "13/11/2020 noon", "", "x" * 100]
)
def test_unreadable_dates_are_refused_with_the_value_in_the_message(text: str) -> None:
    with pytest.raises(DateParseError) as caught:
        parse_bound(text)
    assert "not a date" in str(caught.value) or "does not exist" in str(caught.value)


def test_naive_times_are_taken_as_utc() -> None:
    assert parse_datetime_text("2020-11-13T19:30:00") == datetime(2020, 11, 13, 19, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        ("HTTPS://WWW.Nola.com/news/a.html#top", "https://www.nola.com/news/a.html"),
        ("https://nola.com/news/", "https://nola.com/news"),
        ("http://x.com:80/a/?id=1#f", "http://x.com/a?id=1"),
        ("https://x.com:8443/A/", "https://x.com:8443/A"),
        ("https://x.com/a?b=2&a=1", "https://x.com/a?b=2&a=1"),
        ("/tmp/article.md", "/tmp/article.md"),
    ],
)
def test_canonical_urls(url: str, canonical: str) -> None:
    assert canonical_url(url) == canonical
