"""The ranking formula as pure functions: bounds, neutrality, monotonicity."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from search.errors import InvalidArgumentError
from search.ranking import (
    DEFAULT_RANKING,
    RankingSettings,
    boost,
    final_score,
    max_boost,
    min_boost,
    quality_factor,
    recency_factor,
)

NOW = datetime(2024, 1, 1, tzinfo=UTC)
DAY = 86_400.0

qualities = st.integers(min_value=-1_000, max_value=1_000)
ages = st.floats(min_value=-1e9, max_value=1e11, allow_nan=False)
weights = st.floats(min_value=0.0, max_value=1.0)
half_lives = st.floats(min_value=0.01, max_value=10_000.0)


def test_quality_factor_is_neutral_for_unknown_quality_and_for_50() -> None:
    assert quality_factor(None, 0.3) == 1.0
    assert quality_factor(50, 0.3) == pytest.approx(1.0)


def test_quality_factor_spans_the_configured_range() -> None:
    assert quality_factor(0, 0.3) == pytest.approx(0.85)
    assert quality_factor(100, 0.3) == pytest.approx(1.15)
    assert quality_factor(-40, 0.3) == quality_factor(0, 0.3)
    assert quality_factor(250, 0.3) == quality_factor(100, 0.3)


def test_recency_factor_halves_its_boost_every_half_life() -> None:
    fresh = recency_factor(0.0, 0.4, 30.0)
    one_half_life = recency_factor(30 * DAY, 0.4, 30.0)
    two_half_lives = recency_factor(60 * DAY, 0.4, 30.0)
    assert fresh == pytest.approx(1.2)
    assert one_half_life == pytest.approx(1.0)
    assert two_half_lives == pytest.approx(1.0 + 0.4 * (0.25 - 0.5))


def test_recency_factor_treats_future_dates_as_new_and_undated_as_neutral() -> None:
    assert recency_factor(-365 * DAY, 0.3, 30.0) == recency_factor(0.0, 0.3, 30.0)
    assert recency_factor(None, 0.3, 30.0) == 1.0


def test_very_old_documents_share_the_same_floor() -> None:
    ten_years = recency_factor(3650 * DAY, 0.3, 30.0)
    twenty_years = recency_factor(7300 * DAY, 0.3, 30.0)
    assert ten_years == pytest.approx(0.85)
    assert twenty_years == pytest.approx(ten_years)
    # Two old documents keep their text order.
    assert final_score(2.0, 50, NOW - timedelta(days=7300), NOW) > final_score(
        1.9, 50, NOW - timedelta(days=3650), NOW
    )


def test_weights_of_zero_switch_boosts_off() -> None:
    settings = DEFAULT_RANKING.without_boosts()
    assert not settings.boosted
    assert final_score(3.5, 100, NOW, NOW, settings) == 3.5
    assert final_score(3.5, 0, NOW - timedelta(days=9999), NOW, settings) == 3.5


def test_final_score_multiplies_the_three_parts() -> None:
    published = NOW - timedelta(days=15)
    expected = 2.0 * quality_factor(80, 0.3) * recency_factor(15 * DAY, 0.3, 30.0)
    assert final_score(2.0, 80, published, NOW) == pytest.approx(expected)


def test_default_boosts_are_bounded_so_relevance_dominates() -> None:
    assert max_boost(DEFAULT_RANKING) / min_boost(DEFAULT_RANKING) < 2.0


@given(
    quality=qualities,
    better=st.integers(min_value=0, max_value=500),
    age=ages,
    settings_weight=weights,
)
def test_score_never_decreases_when_quality_rises(
    quality: int, better: int, age: float, settings_weight: float
) -> None:
    settings = RankingSettings(quality_weight=settings_weight)
    assert boost(quality + better, age, settings) >= boost(quality, age, settings)


@given(age=ages, older=st.floats(min_value=0, max_value=1e10), weight=weights, half_life=half_lives)
def test_score_never_increases_with_age(
    age: float, older: float, weight: float, half_life: float
) -> None:
    assert recency_factor(age + older, weight, half_life) <= recency_factor(age, weight, half_life)


@given(
    quality=st.one_of(st.none(), qualities),
    age=st.one_of(st.none(), ages),
    qw=weights,
    rw=weights,
    hl=half_lives,
)
def test_boost_stays_within_its_bounds(
    quality: int | None, age: float | None, qw: float, rw: float, hl: float
) -> None:
    settings = RankingSettings(quality_weight=qw, recency_weight=rw, half_life_days=hl)
    value = boost(quality, age, settings)
    assert min_boost(settings) - 1e-12 <= value <= max_boost(settings) + 1e-12


@pytest.mark.parametrize(
    "overrides",
    [
        {"quality_weight": -0.1},
        {"recency_weight": 1.5},
        {"half_life_days": 0},
        {"half_life_days": float("inf")},
        {"quality_weight": float("nan")},
    ],
)
def test_settings_reject_values_outside_their_range(overrides: dict[str, float]) -> None:
    with pytest.raises(InvalidArgumentError):
        RankingSettings(**overrides)
