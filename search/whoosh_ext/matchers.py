"""Whoosh's boolean matchers with three bugs fixed and one shortcut added.

Whoosh-Reloaded 2.7.5 is frozen upstream, so we own these fixes. They are subclasses that only our
own query objects build (`search.whoosh_ext.queries`); Whoosh's classes stay as they are for every
other user in the process. The ranking fixes are covered by the oracle tests, which compare the
engine with a brute-force ranking of every matching document.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from whoosh.matching import binary, combo
from whoosh.matching.mcore import ReadTooFar


class ArrayUnionMatcher(combo.ArrayUnionMatcher):  # type: ignore[misc]
    def max_quality(self) -> float:
        # A document can match several sub-queries and its score is their sum, so the upper
        # bound of a union is the sum of the parts' bounds. Whoosh returns their maximum, which
        # lets the top-k collector discard documents that belong in the results (seen on indexes
        # of at most 5,000 documents, where Whoosh picks this matcher for OR queries of three or
        # more clauses).
        return float(sum(matcher.max_quality() for matcher in self._submatchers) * self._boost)


class AndMaybeMatcher(binary.AndMaybeMatcher):  # type: ignore[misc]
    def skip_to(self, target: int) -> bool:
        # Whoosh moves the optional side to `target` instead of to where the required side
        # landed, which can leave it behind: its share of the score is then lost for that
        # document.
        if not self.a.is_active():
            raise ReadTooFar
        moved = bool(self.a.skip_to(target))
        if self.a.is_active() and self.b.is_active():
            moved = bool(self.b.skip_to(self.a.id())) or moved
        return moved


class AndNotMatcher(binary.AndNotMatcher):  # type: ignore[misc]
    def _find_first(self) -> None:
        # Whoosh only looks for an excluded first document when both sides start on the same
        # one; when the excluded side starts earlier, a first document it also contains slips
        # through.
        if self.a.is_active() and self.b.is_active():
            self._find_next()


class UnionMatcher(binary.UnionMatcher):  # type: ignore[misc]
    def all_ids(self) -> Iterator[int]:
        # Whoosh has this commented out and steps through both sides instead.
        return iter(sorted(set(self.a.all_ids()) | set(self.b.all_ids())))

    def replace(self, minquality: float = 0) -> Any:
        # Whoosh turns a union whose one side cannot reach `minquality` alone into its own
        # AndMaybeMatcher, which has the skip_to bug: build ours instead.
        a, b = self.a, self.b
        if minquality and a.is_active() and b.is_active():
            a_max, b_max = a.max_quality(), b.max_quality()
            if a_max < minquality <= b_max:
                return AndMaybeMatcher(b, a)
            if b_max < minquality <= a_max:
                return AndMaybeMatcher(a, b)
        return super().replace(minquality)
