"""Typo tolerance: query words the index does not know are widened to close words it does know.

Only words missing from every searched field are touched, so a query that matches as typed runs as
typed, and a word that exists is never traded for a neighbour. A missing word becomes an OR of the
known words within the allowed edit distance (see `search.vocabulary`): the closest ones count
fully and each further edit divides the weight (1 / (1 + extra edits)), so closer matches rank
above fuzzier ones. The suggestion is the query text with each corrected word replaced by its
closest, most frequent correction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from whoosh import query

from search.evaluation import numpy_at_hand
from search.schema import TEXT_FIELD, word_term
from search.vocabulary import Vocabulary, allowed_typos, fold
from search.whoosh_ext import queries as fixed

_MAX_CORRECTIONS_PER_WORD = 5


@dataclass(frozen=True, slots=True)
class Correction:
    """The query to run, and the did-you-mean text when a word was corrected."""

    query: query.Query
    suggestion: str | None = None
    known: frozenset[str] = frozenset()
    """Words of the query (as index terms) that the index was found to have."""


@dataclass(frozen=True, slots=True)
class _Candidate:
    word: str
    stem: str
    edits: int
    frequency: int


def correct(
    parsed: query.Query,
    text: str,
    searcher: Any,
    vocabulary: Callable[[], Vocabulary],
) -> Correction:
    """Widen the words of `parsed` that no document contains (`vocabulary` loads only if needed)."""
    corrector = _Corrector(text, searcher, vocabulary)
    corrected = corrector.visit(parsed)
    known = frozenset(corrector.known)
    if not corrector.replacements:
        return Correction(parsed, known=known)
    suggestion = text
    for (start, end), word in sorted(corrector.replacements.items(), reverse=True):
        suggestion = suggestion[:start] + word + suggestion[end:]
    return Correction(corrected, suggestion, known)


class _Corrector:
    def __init__(self, text: str, searcher: Any, vocabulary: Callable[[], Vocabulary]) -> None:
        self.text = text
        self.searcher = searcher
        self._vocabulary_loader = vocabulary
        self._vocabulary: Vocabulary | None = None
        self.replacements: dict[tuple[int, int], str] = {}
        self.known: set[str] = set()

    def visit(self, node: Any) -> Any:
        if isinstance(node, query.Not):
            return node  # a word to exclude is never widened
        group = _word_group(node)
        if group is not None:
            return self._widen(node, *group)
        if node.is_leaf():
            return node
        children = list(node.children())
        visited = [self.visit(child) for child in children]
        if all(new is old for new, old in zip(visited, children, strict=True)):
            return node  # nothing to widen below: no copy of the query
        replacements = iter(visited)
        return node.apply(lambda _: next(replacements))

    def _widen(self, node: Any, stem: str, fields: tuple[str, ...], span: tuple[int, int]) -> Any:
        if self.searcher.doc_frequency(TEXT_FIELD, stem):
            self.known.add(stem)
            return node
        typed = self.text[span[0] : span[1]]
        max_edits = allowed_typos(fold(typed))
        if max_edits == 0:
            return node
        candidates = self._candidates(typed, max_edits, fields)
        if not candidates:
            return node
        self.replacements[span] = candidates[0].word
        closest = candidates[0].edits
        terms = [
            query.Term(field, candidate.stem, boost=1.0 / (1 + candidate.edits - closest))
            for candidate in candidates
            for field in fields
        ]
        return fixed.Or(terms)

    def _candidates(self, typed: str, max_edits: int, fields: tuple[str, ...]) -> list[_Candidate]:
        if self._vocabulary is None:
            self._vocabulary = self._vocabulary_loader()
        by_stem: dict[str, _Candidate] = {}
        for word, edits in self._vocabulary.within(typed, max_edits, numpy=numpy_at_hand()):
            # The vocabulary's words are letters only: one token each, analysed as the index did.
            stem = word_term(word)
            if stem is None:
                continue  # a stop word
            frequency = sum(self.searcher.doc_frequency(field, stem) for field in fields)
            if frequency == 0:
                continue  # only in documents that have since been removed
            known = by_stem.get(stem)
            if known is None or (edits, -frequency, word) < (
                known.edits,
                -known.frequency,
                known.word,
            ):
                by_stem[stem] = _Candidate(word, stem, edits, frequency)
        ranked = sorted(by_stem.values(), key=lambda c: (c.edits, -c.frequency, c.word))
        return ranked[:_MAX_CORRECTIONS_PER_WORD]


def _word_group(node: Any) -> tuple[str, tuple[str, ...], tuple[int, int]] | None:
    """(stem, fields, span in the query text) when `node` stands for one typed word, else None.

    A typed word is a term of the `text` field (inside an `InField` when typed as `title:word`).
    """
    terms = [node] if isinstance(node, query.Term) else None
    if (
        terms is None
        and isinstance(node, query.Or)
        and node.subqueries
        and all(isinstance(child, query.Term) for child in node.subqueries)
    ):
        terms = list(node.subqueries)
    if not terms:
        return None
    stems = {term.text for term in terms}
    spans = {(getattr(term, "startchar", None), getattr(term, "endchar", None)) for term in terms}
    if len(stems) != 1 or len(spans) != 1 or any(term.fieldname != TEXT_FIELD for term in terms):
        return None
    start, end = spans.pop()
    if start is None or end is None:
        return None
    return stems.pop(), tuple(term.fieldname for term in terms), (start, end)
