"""Fixes to Whoosh-Reloaded 2.7.5 (frozen upstream) that the exact ranking depends on.

Applied once, on import of `search.scoring`. Each fix is covered by the oracle tests, which compare
the engine's ranking with a brute-force ranking of every matching document.
"""

from __future__ import annotations

from typing import Any

from whoosh.matching import combo


def _array_union_max_quality(self: Any) -> float:
    # A document can match several sub-queries and its score is their sum, so the upper bound of a
    # union is the sum of the parts' bounds. Upstream returns their maximum, which lets the top-k
    # collector discard documents that belong in the results (seen on indexes of at most 5,000
    # documents, where Whoosh picks this matcher for OR queries of three or more clauses).
    return float(sum(matcher.max_quality() for matcher in self._submatchers) * self._boost)


def apply() -> None:
    """Install the fixes (idempotent)."""
    combo.ArrayUnionMatcher.max_quality = _array_union_max_quality
