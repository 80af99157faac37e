"""Measuring relevance: judged queries, and how well a ranking finds what the judges marked.

A judgment says how useful one article is for one query: 0 (not relevant), 1 (relevant) or 2
(highly relevant); articles nobody judged count as 0. The metrics, at a cut-off `k`:

* nDCG@k: the discounted cumulative gain of the first k hits (each hit's grade divided by
  log2(rank + 1), the linear gain trec_eval uses) over that of the best possible order of every
  judged article for the query.
* precision@k: the share of the first k positions taken by relevant articles (grade >= 1).
* MRR: the reciprocal rank of the first relevant article among the first k hits (0 without one).
* recall@k: the share of the query's relevant articles that are among the first k hits.

Queries whose judgments mark nothing relevant cannot be measured; `evaluate` lists them apart and
leaves them out of the means.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from search.errors import JudgmentFileError
from search.urls import canonical_url

MAX_GRADE = 2
Judgments = dict[str, dict[str, int]]
"""Query id -> canonical URL -> grade."""


@dataclass(frozen=True, slots=True)
class QueryScores:
    """The metrics of one query."""

    qid: str
    query: str
    ndcg: float
    precision: float
    mrr: float
    recall: float
    relevant: int
    """Judged relevant articles (grade >= 1) for the query."""
    urls: tuple[str, ...] = ()
    """The first k hits, best first."""


@dataclass(frozen=True, slots=True)
class EvalReport:
    """Means over the measured queries, and every query's own scores."""

    k: int
    ndcg: float
    precision: float
    mrr: float
    recall: float
    queries: tuple[QueryScores, ...]
    unjudged: tuple[str, ...] = ()
    """Ids of queries with no relevant judgment, left out of the means."""


# -- metrics ---------------------------------------------------------------------------------------


def dcg(grades: Sequence[int], k: int) -> float:
    """Discounted cumulative gain of the first `k` grades (linear gain, log2(rank + 1) discount)."""
    return sum(grade / math.log2(rank + 1) for rank, grade in enumerate(grades[:k], start=1))


def ndcg_at(ranked: Sequence[str], judged: Mapping[str, int], k: int) -> float:
    """nDCG@k of the URLs `ranked` (best first) against `judged` (URL -> grade)."""
    ideal = dcg(sorted(judged.values(), reverse=True), k)
    if ideal == 0:
        return 0.0
    return dcg([judged.get(url, 0) for url in ranked], k) / ideal


def precision_at(ranked: Sequence[str], judged: Mapping[str, int], k: int) -> float:
    """Relevant articles among the first `k` positions, over `k` (an empty position counts 0)."""
    if k <= 0:
        return 0.0
    return sum(1 for url in ranked[:k] if judged.get(url, 0) > 0) / k


def reciprocal_rank(ranked: Sequence[str], judged: Mapping[str, int], k: int) -> float:
    """1 / the rank of the first relevant article within the first `k`, or 0."""
    for rank, url in enumerate(ranked[:k], start=1):
        if judged.get(url, 0) > 0:
            return 1.0 / rank
    return 0.0


def recall_at(ranked: Sequence[str], judged: Mapping[str, int], k: int) -> float:
    """The share of the relevant articles found among the first `k`, or 0 when none is judged."""
    relevant = {url for url, grade in judged.items() if grade > 0}
    if not relevant:
        return 0.0
    return len(relevant.intersection(ranked[:k])) / len(relevant)


def score_query(
    qid: str, text: str, ranked: Sequence[str], judged: Mapping[str, int], k: int
) -> QueryScores:
    """Every metric of one query's ranking (URLs already canonical)."""
    return QueryScores(
        qid=qid,
        query=text,
        ndcg=ndcg_at(ranked, judged, k),
        precision=precision_at(ranked, judged, k),
        mrr=reciprocal_rank(ranked, judged, k),
        recall=recall_at(ranked, judged, k),
        relevant=sum(1 for grade in judged.values() if grade > 0),
        urls=tuple(ranked[:k]),
    )


def evaluate(
    queries: Mapping[str, str],
    judgments: Judgments,
    rank: Callable[[str], Sequence[str]],
    k: int = 10,
) -> EvalReport:
    """Run every query through `rank` (query text -> URLs, best first) and score the first `k`."""
    if k < 1:
        raise ValueError("k must be at least 1")
    measured: list[QueryScores] = []
    unjudged: list[str] = []
    for qid, text in queries.items():
        judged = judgments.get(qid, {})
        if not any(grade > 0 for grade in judged.values()):
            unjudged.append(qid)
            continue
        ranked = [canonical_url(url) for url in rank(text)]
        measured.append(score_query(qid, text, ranked, judged, k))

    def mean(values: Iterable[float]) -> float:
        numbers = list(values)
        return sum(numbers) / len(numbers) if numbers else 0.0

    return EvalReport(
        k=k,
        ndcg=mean(q.ndcg for q in measured),
        precision=mean(q.precision for q in measured),
        mrr=mean(q.mrr for q in measured),
        recall=mean(q.recall for q in measured),
        queries=tuple(measured),
        unjudged=tuple(unjudged),
    )


# -- files -----------------------------------------------------------------------------------------


def read_judgments(path: str | Path) -> Judgments:
    """Judgments from a TREC qrels file (`qid 0 url grade` per line) or a JSON file.

    JSON is either `{qid: {url: grade}}` or a list of `{"qid", "url", "grade"}` objects. Grades
    are whole numbers from 0 to 2; URLs are compared in canonical form.
    """
    text = _read(path)
    judgments: Judgments = {}
    if _looks_like_json(text):
        data = _parse_json(path, text)
        if isinstance(data, dict):
            entries = [
                (qid, url, grade, None)
                for qid, graded in data.items()
                for url, grade in _object(path, graded, f"the judgments of query {qid!r}").items()
            ]
        elif isinstance(data, list):
            entries = []
            for number, item in enumerate(data, start=1):
                item = _object(path, item, f"entry {number}")
                missing = [key for key in ("qid", "url", "grade") if key not in item]
                if missing:
                    raise JudgmentFileError(path, f"entry {number} has no {', '.join(missing)}")
                entries.append((item["qid"], item["url"], item["grade"], None))
        else:
            raise JudgmentFileError(path, "expected a JSON object or list of judgments")
        for qid, url, grade, _ in entries:
            _add(judgments, path, None, qid, url, grade)
        return judgments
    for number, line in _lines(text):
        fields = line.split()
        if len(fields) != 4:
            raise JudgmentFileError(
                path, f"expected 4 fields (qid 0 url grade), found {len(fields)}", line=number
            )
        qid, _, url, grade = fields
        _add(judgments, path, number, qid, url, grade)
    return judgments


def read_queries(path: str | Path) -> dict[str, str]:
    """Queries from `qid<TAB>query` lines or a JSON file (`{qid: query}` or a list of
    `{"qid", "query"}` objects), in file order."""
    text = _read(path)
    queries: dict[str, str] = {}
    if _looks_like_json(text):
        data = _parse_json(path, text)
        if isinstance(data, dict):
            pairs = list(data.items())
        elif isinstance(data, list):
            pairs = []
            for number, item in enumerate(data, start=1):
                item = _object(path, item, f"entry {number}")
                if "qid" not in item or "query" not in item:
                    raise JudgmentFileError(path, f"entry {number} needs both qid and query")
                pairs.append((item["qid"], item["query"]))
        else:
            raise JudgmentFileError(path, "expected a JSON object or list of queries")
        for qid, query in pairs:
            _add_query(queries, path, None, qid, query)
        return queries
    for number, line in _lines(text):
        if "\t" not in line:
            raise JudgmentFileError(path, "expected a query id, a tab and the query", line=number)
        qid, query = line.split("\t", 1)
        _add_query(queries, path, number, qid.strip(), query.strip())
    if not queries:
        raise JudgmentFileError(path, "no queries in the file")
    return queries


def _add(
    judgments: Judgments, path: str | Path, line: int | None, qid: Any, url: Any, grade: Any
) -> None:
    if not isinstance(qid, str | int) or isinstance(qid, bool) or not str(qid).strip():
        raise JudgmentFileError(path, f"query id {qid!r} is not a word or number", line=line)
    if not isinstance(url, str) or not url.strip():
        raise JudgmentFileError(path, f"document {url!r} is not a URL", line=line)
    value = _grade(grade)
    if value is None:
        raise JudgmentFileError(
            path, f"grade {grade!r} is not a whole number from 0 to {MAX_GRADE}", line=line
        )
    judgments.setdefault(str(qid), {})[canonical_url(url)] = value


def _grade(grade: Any) -> int | None:
    if isinstance(grade, bool):
        return None
    if isinstance(grade, str):
        try:
            grade = int(grade.strip())
        except ValueError:
            return None
    if isinstance(grade, float) and grade.is_integer():
        grade = int(grade)
    if isinstance(grade, int) and 0 <= grade <= MAX_GRADE:
        return grade
    return None


def _add_query(
    queries: dict[str, str], path: str | Path, line: int | None, qid: Any, query: Any
) -> None:
    if not isinstance(qid, str | int) or isinstance(qid, bool) or not str(qid).strip():
        raise JudgmentFileError(path, f"query id {qid!r} is not a word or number", line=line)
    if not isinstance(query, str) or not query.strip():
        raise JudgmentFileError(path, f"query {qid!r} has no text", line=line)
    if str(qid) in queries:
        raise JudgmentFileError(path, f"query id {qid!r} appears twice", line=line)
    queries[str(qid)] = query.strip()


def _read(path: str | Path) -> str:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise JudgmentFileError(path, exc.strerror or str(exc)) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise JudgmentFileError(path, "not UTF-8 text", line=line) from None


def _lines(text: str) -> Iterable[tuple[int, str]]:
    """Numbered lines that are not blank or `#` comments."""
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip() and not line.lstrip().startswith("#"):
            yield number, line.rstrip("\r\n")


def _looks_like_json(text: str) -> bool:
    return text.lstrip()[:1] in ("{", "[")


def _parse_json(path: str | Path, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise JudgmentFileError(path, f"invalid JSON: {exc.msg}", line=exc.lineno) from None


def _object(path: str | Path, value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise JudgmentFileError(path, f"{what} is not a JSON object")
    return value
