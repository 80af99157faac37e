"""Query classes that build our fixed matchers (`search.whoosh_ext.matchers`).

Whoosh's boolean queries, and the queries that expand into many terms (prefixes, wildcards, fuzzy
terms, ranges), build Whoosh's own matchers. These subclasses build ours, and `with_fixed_matchers`
rewrites a query tree (what Whoosh's parser returns) into them. Every query the engine runs is
made of these classes or passes through `with_fixed_matchers`.
"""

from __future__ import annotations

from typing import Any

from whoosh import matching, query

from search.whoosh_ext.matchers import (
    AndMaybeMatcher,
    AndNotMatcher,
    ArrayUnionMatcher,
    UnionMatcher,
)


class And(query.And):  # type: ignore[misc]
    """Whoosh's And (intersections have no known bug); here so that a rewritten tree is ours."""


class Or(query.Or):  # type: ignore[misc]
    """Whoosh's Or, choosing between the same two matchers by the same rule, both fixed."""

    def _matcher(self, subs: list[Any], searcher: Any, context: Any) -> Any:
        needs_current = context.needs_current if context else True
        tree_fits = len(subs) < self.TOO_MANY_CLAUSES and (
            needs_current or self.scale or len(subs) == 2 or searcher.doc_count_all() > 5000
        )
        preload = self.matcher_type == self.ARRAY_MATCHER or (
            self.matcher_type == self.AUTO_MATCHER and not tree_fits
        )
        if preload:  # small indexes, or very many clauses: every match read into an array
            scored = context.weighting is not None if context else True
            matchers = [sub.matcher(searcher, context) for sub in subs]
            return ArrayUnionMatcher(
                matchers, searcher.doc_count_all(), boost=self.boost, scored=scored
            )
        reader = searcher.reader()
        tree = self._tree_matcher(
            subs, UnionMatcher, searcher, context, lambda q: q.estimate_size(reader)
        )
        if self.scale and any(tree.term_matchers()):
            tree = matching.CoordMatcher(tree, scale=self.scale)
        return tree


class AndNot(query.AndNot):  # type: ignore[misc]
    def matcher(self, searcher: Any, context: Any = None) -> Any:
        scored = self.a.matcher(searcher, context)
        excluded = self.b.matcher(searcher, searcher.boolean_context())
        return AndNotMatcher(scored, excluded)


class AndMaybe(query.AndMaybe):  # type: ignore[misc]
    matcherclass = AndMaybeMatcher


class _ExpandsToOr:
    """For queries that match the union of the terms they expand to: that union is our `Or`."""

    matches_everything: str | None = None
    """The text for which Whoosh matches every document of the field instead of expanding."""

    def matcher(self, searcher: Any, context: Any = None) -> Any:
        this: Any = self
        if self.matches_everything is not None and this.text == self.matches_everything:
            return super().matcher(searcher, context)  # type: ignore[misc]
        terms = [query.Term(this.field(), word) for word in this._btexts(searcher.reader()) if word]
        if not terms:
            return matching.NullMatcher()
        if len(terms) == 1:
            return terms[0].matcher(searcher, context)
        if this.constantscore:  # the score does not depend on the terms: none is computed
            context = context.set(weighting=None) if context else searcher.context(weighting=None)
        return Or(terms, boost=this.boost).matcher(searcher, context)


class Prefix(_ExpandsToOr, query.Prefix):  # type: ignore[misc]
    matches_everything = ""


class Wildcard(_ExpandsToOr, query.Wildcard):  # type: ignore[misc]
    matches_everything = "*"


class Regex(_ExpandsToOr, query.Regex):  # type: ignore[misc]
    matches_everything = ".*"


class FuzzyTerm(_ExpandsToOr, query.FuzzyTerm):  # type: ignore[misc]
    pass


class Variations(_ExpandsToOr, query.Variations):  # type: ignore[misc]
    pass


class TermRange(_ExpandsToOr, query.TermRange):  # type: ignore[misc]
    pass


class NumericRange(query.NumericRange):  # type: ignore[misc]
    def _compile_query(self, ixreader: Any) -> Any:
        # Whoosh compiles a numeric range into its own Or of terms and ranges.
        return with_fixed_matchers(super()._compile_query(ixreader))


class DateRange(query.DateRange):  # type: ignore[misc]
    def _compile_query(self, ixreader: Any) -> Any:
        return with_fixed_matchers(super()._compile_query(ixreader))


_OURS: dict[type, type] = {
    query.And: And,
    query.Or: Or,
    query.AndNot: AndNot,
    query.AndMaybe: AndMaybe,
    query.Prefix: Prefix,
    query.Wildcard: Wildcard,
    query.Regex: Regex,
    query.FuzzyTerm: FuzzyTerm,
    query.Variations: Variations,
    query.TermRange: TermRange,
    query.NumericRange: NumericRange,
    query.DateRange: DateRange,
}


def with_fixed_matchers(node: Any) -> Any:
    """`node` with every Whoosh query that would build a matcher we fix replaced by ours (the
    same query, the same state: only the class differs)."""
    if isinstance(node, query.Query) and not node.is_leaf():
        node = node.apply(with_fixed_matchers)
    ours = _OURS.get(type(node))
    if ours is None:
        return node
    rewritten: Any = object.__new__(ours)
    rewritten.__dict__.update(node.__dict__)
    return rewritten
