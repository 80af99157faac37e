"""The one-loop analyser agrees with Whoosh's analyser chain, and `text` postings are BM25F's."""

from __future__ import annotations

import pickle
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from search import querying
from search.documents import read_article
from search.schema import (
    FIELD_WEIGHTS,
    POSITIONS_PER_FIELD,
    analyse_document,
    field_at,
    field_range,
    field_tokens,
    matched_spans,
    text_analyzer,
)
from tests.conftest import SEEDS

ANALYZER = text_analyzer()


def whoosh_tokens(text: str) -> list[tuple[str, int]]:
    return [(token.text, token.pos) for token in ANALYZER(text, positions=True)]


def test_same_tokens_on_the_seed_articles() -> None:
    texts = []
    for path in sorted(SEEDS.glob("*.md"))[:400]:
        article = read_article(path).article
        texts += [article.title, article.excerpt, " ; ".join(article.topics)]
    assert texts
    for text in texts:
        assert list(field_tokens(text)) == whoosh_tokens(text), text


@settings(max_examples=400, deadline=None)
@given(
    st.text(alphabet=st.sampled_from("aAbé É1.*- ,xyzthe andÜüßø'\n"), max_size=80)
    | st.text(max_size=60)
)
def test_same_tokens_on_random_text(text: str) -> None:
    assert list(field_tokens(text)) == whoosh_tokens(text)


def whoosh_spans(text: str, terms: set[str]) -> list[tuple[int, int, str]]:
    return [
        (token.startchar, token.endchar, token.text)
        for token in ANALYZER(text, chars=True)
        if token.text in terms
    ]


@settings(max_examples=400, deadline=None)
@given(
    st.text(alphabet=st.sampled_from("aAbé É1.*- ,xyzthe andÜüßø'\n"), max_size=80)
    | st.text(max_size=60),
    st.integers(min_value=0, max_value=2**16),
)
def test_marked_words_are_where_whoosh_finds_them(text: str, choice: int) -> None:
    """Snippets mark the words that analyse to a query's terms: at the characters where Whoosh's
    analyser finds those terms, whichever of the text's terms the query has."""
    every = sorted({token.text for token in ANALYZER(text)})
    terms = {term for number, term in enumerate(every) if choice >> (number % 16) & 1}
    terms.add("absent")
    assert matched_spans(text, terms) == whoosh_spans(text, terms)


def test_marked_words_in_the_seed_articles() -> None:
    for path in sorted(SEEDS.glob("*.md"))[:200]:
        article = read_article(path).article
        for text in (article.title, article.excerpt):
            terms = {token.text for token in ANALYZER(text)}
            assert matched_spans(text, terms) == whoosh_spans(text, terms), text


def decode(value: bytes) -> list[int]:
    deltas = pickle.loads(value[4:])  # after the packed count
    positions, current = [], 0
    for delta in deltas:
        current += delta
        positions.append(current)
    return positions


def test_text_postings_weigh_each_part_and_keep_it_in_its_range() -> None:
    postings = {
        term.decode(): (freq, weight, decode(value))
        for term, freq, weight, value in analyse_document(
            {"title": "Oil prices", "excerpt": "Oil rose; oil fell.", "topic": "Oil", "body": "oil"}
        )
    }
    freq, weight, positions = postings["oil"]
    expected = 2 * FIELD_WEIGHTS["excerpt"] + FIELD_WEIGHTS["title"] + FIELD_WEIGHTS["topic"]
    expected += FIELD_WEIGHTS["body"]
    assert weight == expected and freq == 2 * expected
    assert [field_at(position) for position in positions] == [
        "excerpt",
        "excerpt",
        "title",
        "topic",
        "body",
    ]
    low, high = field_range("title")
    assert high - low == POSITIONS_PER_FIELD and low <= positions[2] < high
    assert postings["price"][1] == FIELD_WEIGHTS["title"]


def leaves(node: Any) -> list[tuple[str, Any, Any]]:
    if node.is_leaf():
        return [(repr(node), getattr(node, "startchar", None), getattr(node, "endchar", None))]
    return [leaf for child in node.children() for leaf in leaves(child)]


_TYPED_WORD = (
    st.sampled_from(["oil", "Oil", "THE", "and", "AND", "or", "OR", "x2", "2004", "café", "a"])
    | st.sampled_from(["Zürich", "İstanbul", "日本", "ß", "U", "running", "to", "TO", "NOT"])
    | st.text(alphabet=st.characters(categories=["L", "Nd"]), min_size=1, max_size=8)
)
"""A word as typed in a query: stop words, operators, accents, other scripts, digits."""
_SPACE = st.sampled_from([" ", "  ", "\t", " \n"])


@settings(max_examples=400, deadline=None)
@given(st.lists(_TYPED_WORD, min_size=1, max_size=6), _SPACE)
def test_plain_words_parse_as_whoosh_parses_them(words: list[str], space: str) -> None:
    # Words side by side skip Whoosh's parser, and must come out as it makes them: the same
    # terms, in the same order, with the same spans of the typed text (they label the words).
    text = space.join(words)
    direct = querying._plain_words(text)
    if direct is not None:
        parsed = querying._Parser().parser.parse(text)
        assert repr(direct) == repr(parsed)
        assert leaves(direct) == leaves(parsed)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(_TYPED_WORD, min_size=1, max_size=5), _SPACE, st.sampled_from(["", " ", "\t", "\n"])
)
def test_a_plain_phrase_parses_as_whoosh_parses_it(
    words: list[str], space: str, around: str
) -> None:
    # A phrase of plain words skips Whoosh's parser too: the same words, and the same spans of
    # each (they label the phrase).
    text = f'{around}"{around.strip(chr(10))}{space.join(words)}"{around}'
    direct = querying._plain_phrase(text)
    if direct is not None:
        parsed = querying._Parser().parser.parse(text)
        assert repr(direct) == repr(parsed)
        assert leaves(direct) == leaves(parsed)
        assert getattr(direct, "char_ranges", None) == getattr(parsed, "char_ranges", None)


def reference_postings(parts: dict[str, str]) -> dict[bytes, tuple[int, float, list[int]]]:
    """The text postings worked out the plain way, from `field_tokens` one token at a time."""
    found: dict[bytes, tuple[int, float, list[int]]] = {}
    for field, text in parts.items():
        low, high = field_range(field)
        for term, position in field_tokens(text):
            _, weight, positions = found.get(term.encode(), (0, 0.0, []))
            weight += FIELD_WEIGHTS[field]
            found[term.encode()] = (round(2 * weight), weight, positions)
            positions.append(min(low + position, high - 1))
    return {term: (freq, weight, sorted(places)) for term, (freq, weight, places) in found.items()}


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["title", "topic", "excerpt", "provider", "body"]),
        st.text(alphabet=st.sampled_from("ab cd the of Oil oil. é1"), max_size=60),
    )
)
def test_text_postings_match_the_tokens_one_by_one(parts: dict[str, str]) -> None:
    postings = {
        term: (freq, weight, decode(value)) for term, freq, weight, value in analyse_document(parts)
    }
    assert postings == reference_postings(parts)


def test_words_beyond_a_parts_range_share_its_last_position() -> None:
    parts = {"title": "Oil", "body": "the " + " ".join(["crude"] * (POSITIONS_PER_FIELD + 5))}
    postings = {term: decode(value) for term, _, _, value in analyse_document(parts)}
    low, high = field_range("body")
    assert postings[b"crude"][:2] == [low + 1, low + 2]  # after the dropped stop word
    assert postings[b"crude"][-6:] == [high - 1] * 6
    assert postings == {term: places for term, (_, _, places) in reference_postings(parts).items()}
