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
from typing import Any

from whoosh.support.charset import accent_map

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
        # Filled a group at a time, when first needed: as Python numbers or as a numpy array.
        self._letter_sets: dict[str, list[int]] = {}
        self._letter_arrays: dict[str, Any] = {}

    def __len__(self) -> int:
        return sum(len(entries) for entries in self._groups.values())

    def __contains__(self, word: object) -> bool:
        if not isinstance(word, str) or not word:
            return False
        entries = self._groups.get(word[0], [])
        position = bisect.bisect_left(entries, (len(word), word))
        return position < len(entries) and entries[position][1] == word

    def within(self, word: str, max_edits: int, *, numpy: Any = None) -> list[tuple[str, int]]:
        """Known words at most `max_edits` edits from `word` (other than `word`), closest first.

        With `numpy` (version 2 or later), the letter sets of the words of the right lengths are
        compared over whole arrays, and only the few words left are compared letter by letter
        in Python; the words found are the same."""
        word = fold(word)
        if max_edits <= 0 or not word:
            return []
        entries = self._groups.get(word[0], [])
        if not entries:
            return []
        lengths = self._lengths[word[0]]
        start = bisect.bisect_left(lengths, len(word) - max_edits)
        stop = bisect.bisect_right(lengths, len(word) + max_edits)
        letters = letter_set(word)
        if numpy is not None and hasattr(numpy, "bitwise_count"):
            positions = self._screened_arrays(numpy, word[0], start, stop, letters, max_edits)
        else:
            positions = self._screened(word[0], start, stop, letters, max_edits)
        found = []
        for position in positions:
            candidate = entries[position][1]
            if candidate == word:
                continue
            edits = bounded_edits(word, candidate, max_edits)
            if edits <= max_edits:
                found.append((candidate, edits))
        return sorted(found, key=lambda pair: (pair[1], pair[0]))

    def _screened(
        self, initial: str, start: int, stop: int, letters: int, max_edits: int
    ) -> list[int]:
        """The positions in `initial`'s group, from `start` to `stop`, of the words that may be
        within `max_edits` of a word with the letter set `letters`. Each edit brings in at most
        one letter and takes away at most one: a word with more letters the other lacks is too
        far, and most are, without computing the distance."""
        letter_sets = self._letter_sets.get(initial)
        if letter_sets is None:
            letter_sets = [letter_set(candidate) for _, candidate in self._groups[initial]]
            self._letter_sets[initial] = letter_sets
        return [
            position
            for position in range(start, stop)
            if (letters & ~(other := letter_sets[position])).bit_count() <= max_edits
            and (other & ~letters).bit_count() <= max_edits
        ]

    def _screened_arrays(
        self, numpy: Any, initial: str, start: int, stop: int, letters: int, max_edits: int
    ) -> list[int]:
        """`_screened` over a numpy array of the group's letter sets."""
        letter_sets = self._letter_arrays.get(initial)
        if letter_sets is None:
            letter_sets = numpy.fromiter(
                (letter_set(candidate) for _, candidate in self._groups[initial]),
                dtype=numpy.uint64,
                count=len(self._groups[initial]),
            )
            self._letter_arrays[initial] = letter_sets
        others = letter_sets[start:stop]
        mine = numpy.uint64(letters)
        close = (numpy.bitwise_count(mine & ~others) <= max_edits) & (
            numpy.bitwise_count(others & ~mine) <= max_edits
        )
        return (numpy.flatnonzero(close) + start).tolist()  # type: ignore[no-any-return]


def letter_set(word: str) -> int:
    """The letters of `word` as bits (letters may share a bit: the set can only look smaller)."""
    bits = 0
    for letter in set(word):
        bits |= 1 << (ord(letter) & 63)
    return bits


def bounded_edits(a: str, b: str, limit: int) -> int:
    """The optimal-string-alignment (Damerau) distance of `a` and `b`, or `limit + 1` when it is
    larger than `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    # What the words share at both ends costs nothing: compare only the part in between.
    start = 0
    end_a, end_b = len(a), len(b)
    while start < end_a and start < end_b and a[start] == b[start]:
        start += 1
    while end_a > start and end_b > start and a[end_a - 1] == b[end_b - 1]:
        end_a -= 1
        end_b -= 1
    a, b = a[start:end_a], b[start:end_b]
    too_far = limit + 1
    if not a or not b:
        return min(max(len(a), len(b)), too_far)
    if limit <= 1:
        # One edit leaves in between one letter for another, or two letters swapped (or one
        # letter against none, above); anything else is further.
        one_edit = len(a) == len(b) == 1 or (len(a) == len(b) == 2 and a == b[::-1])
        return 1 if one_edit else too_far
    return min(_edit_distance(a, b), too_far)


def _edit_distance(a: str, b: str) -> int:
    """The optimal-string-alignment distance of `a` and `b` (neither empty), by Hyyrö's
    bit-parallel algorithm (2003). Bit i of `up` (of `down`) tells whether the distance of
    `a[: i + 1]` to the letters of `b` read so far is one more (one less) than that of `a[:i]`,
    and bit i of `unchanged` whether it equals that of `a[:i]` to the letters read before the
    latest; each letter of `b` updates every bit at once, and the last bit carries the distance
    of all of `a`."""
    everything = (1 << len(a)) - 1
    last = 1 << (len(a) - 1)
    where: dict[str, int] = {}  # each letter's positions in `a`, as bits
    for position, letter in enumerate(a):
        where[letter] = where.get(letter, 0) | 1 << position
    up, down, unchanged, before = everything, 0, 0, 0
    distance = len(a)
    for letter in b:
        matches = where.get(letter, 0)
        swapped = ((~unchanged & matches) << 1) & before  # two neighbours in the other order
        unchanged = ((((matches & up) + up) ^ up) | matches | down | swapped) & everything
        across_up = (down | ~(unchanged | up)) & everything
        across_down = unchanged & up
        if across_up & last:
            distance += 1
        elif across_down & last:
            distance -= 1
        shifted = ((across_up << 1) | 1) & everything
        down = shifted & unchanged
        up = ((across_down << 1) | ~(shifted | unchanged)) & everything
        before = matches
    return distance
