"""Snippets: the best-matching passage of a hit's title or excerpt, with the query's words marked.

A word is marked when it analyses (tokenises, folds, stems) to a term the query matched, so
`prices` is marked for a query on `price`, and `café` for `cafe`. Only the few hits of a page are
analysed, and only their stored title and excerpt, so highlighting costs little next to the search.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

from search.schema import matched_spans

DEFAULT_SNIPPET_CHARS = 200
_ELLIPSIS = "…"


@dataclass(frozen=True, slots=True)
class Snippet:
    """A short passage and the spans (start, end) of its marked words."""

    text: str
    marks: tuple[tuple[int, int], ...] = ()
    source: str = "excerpt"
    """"title" or "excerpt": where the passage comes from."""

    def marked(self, before: str = "<mark>", after: str = "</mark>", *, escape: bool = True) -> str:
        """The passage with marked words wrapped; HTML-escaped by default (safe to embed)."""
        quote = html.escape if escape else (lambda text: text)
        parts: list[str] = []
        position = 0
        for start, end in self.marks:
            parts.append(quote(self.text[position:start]))
            parts.append(before + quote(self.text[start:end]) + after)
            position = end
        parts.append(quote(self.text[position:]))
        return "".join(parts)


def make_snippet(
    terms: frozenset[str], title: str, excerpt: str, max_chars: int = DEFAULT_SNIPPET_CHARS
) -> Snippet:
    """The passage of `title` or `excerpt` matching the most distinct `terms` (analysed forms)."""
    candidates = []
    for source, text in (("excerpt", excerpt), ("title", title)):
        if text:
            spans = matched_spans(text, terms)
            start, end = _best_window(text, spans, max_chars)
            inside = [(s, e, term) for s, e, term in spans if s >= start and e <= end]
            distinct = len({term for _, _, term in inside})
            # Ties go to the excerpt: the title is shown next to the snippet anyway.
            rank = (distinct, len(inside), source == "excerpt")
            candidates.append((rank, source, text, start, end, inside))
    if not candidates:
        return Snippet("")
    _, source, text, start, end, inside = max(candidates, key=lambda candidate: candidate[0])
    return _cut(text, start, end, inside, source)


def _best_window(text: str, spans: Sequence[tuple[int, int, str]], size: int) -> tuple[int, int]:
    """The window of at most `size` characters holding the most distinct terms (earliest wins)."""
    if len(text) <= size:
        return 0, len(text)
    if not spans:
        return 0, size
    best = (0, 0, 0)
    best_start = best_end = spans[0][0]
    for first, (start, _, _) in enumerate(spans):
        inside = [span for span in spans[first:] if span[1] <= start + size]
        score = (len({term for _, _, term in inside}), len(inside), -start)
        if score > best:
            best, best_start, best_end = score, start, inside[-1][1]
    # Start a little before the first match, at a word boundary, so the passage reads naturally,
    # without pushing the last chosen match out of the window.
    lead = min(size // 4, (size - (best_end - best_start)) // 2)
    start = max(0, best_start - lead)
    space = text.rfind(" ", 0, start + 1)
    if start and space >= 0 and space + 1 + size >= best_end:
        start = space + 1
    return start, min(len(text), start + size)


def _cut(
    text: str, start: int, end: int, spans: Sequence[tuple[int, int, str]], source: str
) -> Snippet:
    if end < len(text):
        space = text.rfind(" ", start, end)
        last_mark = max((e for _, e, _ in spans), default=start)
        if space > last_mark:
            end = space
    prefix = _ELLIPSIS if start > 0 else ""
    suffix = _ELLIPSIS if end < len(text) else ""
    body = text[start:end]
    shift = len(prefix) - start
    marks = tuple((s + shift, e + shift) for s, e, _ in spans if e <= end)
    return Snippet(prefix + body + suffix, marks, source)
