"""The one-loop analyser gives exactly the postings Whoosh's analyser chain would."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from whoosh import fields

from search.documents import read_article
from search.schema import analyse_text, build_schema
from tests.conftest import SEEDS

FIELD = build_schema()["excerpt"]


def whoosh_postings(text: str) -> list[tuple[bytes, int, float, bytes]]:
    return list(fields.TEXT.index(FIELD, text))  # Whoosh's own path, not the fast one


def test_same_postings_on_the_seed_articles() -> None:
    texts = []
    for path in sorted(SEEDS.glob("*.md"))[:400]:
        article = read_article(path).article
        texts += [article.title, article.excerpt, " ; ".join(article.topics)]
    assert texts
    for text in texts:
        assert analyse_text(text) == whoosh_postings(text), text


@settings(max_examples=400, deadline=None)
@given(
    st.text(alphabet=st.sampled_from("aAbé É1.*- ,xyzthe andÜüßø'\n"), max_size=80)
    | st.text(max_size=60)
)
def test_same_postings_on_random_text(text: str) -> None:
    assert analyse_text(text) == whoosh_postings(text)


def test_repeated_words_keep_every_position() -> None:
    postings = dict(
        (term, (freq, value)) for term, freq, _, value in analyse_text("oil and oil, then OIL")
    )
    assert postings[b"oil"][0] == 3
    assert postings == {
        term: (freq, value) for term, freq, _, value in whoosh_postings("oil and oil, then OIL")
    }
