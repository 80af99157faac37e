"""The ranking formula, as plain functions of plain values.

    final = text x quality_factor x recency_factor

    quality_factor = 1 + quality_weight x (clamp(quality, 0, 100) / 100 - 0.5)      (1 when unknown)
    recency_factor = 1 + recency_weight x (2^(-age / half_life) - 0.5)              (1 when undated)

`text` is BM25F relevance: BM25 (k1 = 1.2, b = 0.75) where a term's frequency in an article is the
sum over its fields of frequency x field weight (title 3, topics 2, excerpt 1, provider 1, body
0.5), and so is the article's length. Age is measured from `now`; a future date counts as age 0.
Each factor lies in [1 - weight/2, 1 + weight/2], so boosts reorder documents of comparable
relevance but can change a score by at most `max_boost() / min_boost()` (1.83 with the defaults);
every old document tends to the same floor, so among them text relevance decides. A missing value
is neutral (factor 1): an unknown quality counts like 50, an undated article like one exactly a
half-life old.

Whoosh reaches these functions through one place, `search.scoring`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime

from search.errors import InvalidArgumentError

_SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class RankingSettings:
    """How text relevance, quality and recency combine. Every field can be set per query."""

    quality_weight: float = 0.3
    """Strength of the quality boost, 0 (off) to 1."""
    recency_weight: float = 0.3
    """Strength of the recency boost, 0 (off) to 1."""
    half_life_days: float = 30.0
    """Age at which an article has lost half of its recency boost."""

    def __post_init__(self) -> None:
        for name in ("quality_weight", "recency_weight"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and 0.0 <= value <= 1.0):
                raise InvalidArgumentError(f"{name} must be between 0 and 1, got {value!r}")
        if not (
            isinstance(self.half_life_days, int | float) and 0 < self.half_life_days < math.inf
        ):
            raise InvalidArgumentError(
                f"half_life_days must be a positive number, got {self.half_life_days!r}"
            )

    def without_boosts(self) -> RankingSettings:
        """The same settings with quality and recency switched off: pure text relevance."""
        return replace(self, quality_weight=0.0, recency_weight=0.0)

    @property
    def boosted(self) -> bool:
        """Whether quality or recency can change a score."""
        return self.quality_weight > 0 or self.recency_weight > 0


DEFAULT_RANKING = RankingSettings()


def quality_factor(quality: int | None, weight: float) -> float:
    """Multiplier for an article's quality; rises with quality, 1 for an unknown quality."""
    if quality is None:
        return 1.0
    clamped = min(max(quality, 0), 100)
    return 1.0 + weight * (clamped / 100.0 - 0.5)


def recency_factor(age_seconds: float | None, weight: float, half_life_days: float) -> float:
    """Multiplier for an article's age; falls with age, 1 for an undated article.

    A negative age (a date in the future) counts as 0.
    """
    if age_seconds is None:
        return 1.0
    age_days = max(age_seconds, 0.0) / _SECONDS_PER_DAY
    decay = float(0.5 ** (age_days / half_life_days))
    return 1.0 + weight * (decay - 0.5)


def boost(quality: int | None, age_seconds: float | None, settings: RankingSettings) -> float:
    """The document-level multiplier: quality factor x recency factor."""
    return quality_factor(quality, settings.quality_weight) * recency_factor(
        age_seconds, settings.recency_weight, settings.half_life_days
    )


def max_boost(settings: RankingSettings) -> float:
    """The largest value `boost` can take under `settings`."""
    return (1.0 + settings.quality_weight / 2) * (1.0 + settings.recency_weight / 2)


def min_boost(settings: RankingSettings) -> float:
    """The smallest value `boost` can take under `settings`."""
    return (1.0 - settings.quality_weight / 2) * (1.0 - settings.recency_weight / 2)


def age_seconds(published_at: datetime | None, now: datetime) -> float | None:
    """Seconds between publication and `now` (negative for a future date), or None when undated."""
    if published_at is None:
        return None
    return (now - published_at).total_seconds()


def final_score(
    text_score: float,
    quality: int | None,
    published_at: datetime | None,
    now: datetime,
    settings: RankingSettings = DEFAULT_RANKING,
) -> float:
    """The score a document gets: text relevance x quality factor x recency factor."""
    return text_score * boost(quality, age_seconds(published_at, now), settings)
