"""The index's own words, unstemmed, for typo tolerance and did-you-mean suggestions.

Words are collected while indexing (lower-cased, accents folded, letters only, 4 to 30 long) and
kept in the file catalog. A word of the query that the index does not know is matched against them
within an edit distance that grows with its length, as Meilisearch does: none for words shorter
than 5 letters, 1 up to 8 letters, 2 from 9 letters on. Swapping two neighbouring letters counts as
one edit; the first letter must be right, which keeps the search small and the suggestions sane.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable

from whoosh.support.charset import accent_map
from whoosh.support.levenshtein import damerau_levenshtein

_WORD = re.compile(r"[^\W\d_]{4,30}")
_FOLD = dict(accent_map)


def fold(text: str) -> str:
    """Lower-case and strip accents, as the index does before stemming."""
    return text.lower().translate(_FOLD)


def extract_words(texts: Iterable[str]) -> set[str]:
    """The distinct words of `texts` worth suggesting."""
    words: set[str] = set()
    for text in texts:
        if text:
            words.update(_WORD.findall(fold(text)))
    return words


def allowed_typos(word: str) -> int:
    """How many edits a word of this length may contain and still be corrected."""
    length = len(word)
    if length < 5:
        return 0
    return 1 if length < 9 else 2


class Vocabulary:
    """Words grouped by first letter and sorted by length, for a quick bounded fuzzy search."""

    def __init__(self, words: Iterable[str]) -> None:
        groups: dict[str, list[tuple[int, str]]] = {}
        for word in words:
            if word:
                groups.setdefault(word[0], []).append((len(word), word))
        self._groups = {letter: sorted(entries) for letter, entries in groups.items()}
        self._lengths = {
            letter: [length for length, _ in entries] for letter, entries in self._groups.items()
        }

    def __len__(self) -> int:
        return sum(len(entries) for entries in self._groups.values())

    def __contains__(self, word: object) -> bool:
        if not isinstance(word, str) or not word:
            return False
        entries = self._groups.get(word[0], [])
        position = bisect.bisect_left(entries, (len(word), word))
        return position < len(entries) and entries[position][1] == word

    def within(self, word: str, max_edits: int) -> list[tuple[str, int]]:
        """Known words at most `max_edits` edits from `word` (other than `word`), closest first."""
        word = fold(word)
        if max_edits <= 0 or not word:
            return []
        entries = self._groups.get(word[0], [])
        lengths = self._lengths.get(word[0], [])
        start = bisect.bisect_left(lengths, len(word) - max_edits)
        stop = bisect.bisect_right(lengths, len(word) + max_edits)
        found = []
        for _, candidate in entries[start:stop]:
            if candidate == word:
                continue
            edits = damerau_levenshtein(word, candidate, limit=max_edits)
            if edits <= max_edits:
                found.append((candidate, edits))
        return sorted(found, key=lambda pair: (pair[1], pair[0]))
