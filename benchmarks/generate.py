"""Generate N articles in the project's format, recombining real AG News text.

Titles and excerpts are spliced from two source articles at a random word boundary, so that the
vocabulary and the term frequencies stay those of real news (Zipf-like) while the documents are new.
Dates spread over two years, qualities around 50, and the feeds' usual imperfections (quoted dates,
offsets, missing qualities, syndicated copies sharing a URL) appear at realistic rates. The same
seed always gives the same corpus.

    python -m benchmarks.generate --docs 100000 --out benchmarks/corpora/100k
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import yaml

DEFAULT_SOURCE = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus" / "agnews"
FILES_PER_FOLDER = 1_000
START = datetime(2023, 1, 1, tzinfo=UTC)
SPAN_SECONDS = 2 * 365 * 86_400
_PACIFIC = timezone(timedelta(hours=-7))


@dataclass(frozen=True, slots=True)
class Source:
    title: str
    excerpt: str
    topics: tuple[str, ...]
    provider: str | None


def load_sources(folder: Path) -> list[Source]:
    """The titles, excerpts, topics and providers of the source corpus."""
    sources = []
    for path in sorted(folder.glob("*.md")):
        text = path.read_text(encoding="utf-8")
        _, frontmatter, _ = text.split("---\n", 2)
        data = yaml.load(frontmatter, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        provider = data.get("provider") or {}
        sources.append(
            Source(
                title=str(data["title"]),
                excerpt=str(data.get("excerpt") or ""),
                topics=tuple(data.get("topics") or ()),
                provider=provider.get("name") if isinstance(provider, dict) else None,
            )
        )
    if not sources:
        raise SystemExit(f"no source articles in {folder}")
    return sources


def splice(first: str, second: str, rng: random.Random) -> str:
    a, b = first.split(), second.split()
    if len(a) < 2 or len(b) < 2:
        return first
    cut_a = rng.randint(1, len(a) - 1)
    cut_b = rng.randint(1, len(b) - 1)
    return " ".join(a[:cut_a] + b[cut_b:])


def articles(sources: list[Source], count: int, seed: int) -> Iterator[tuple[str, str]]:
    """(relative path, file text) for `count` generated articles."""
    rng = random.Random(seed)
    recent_urls: list[str] = []
    for number in range(count):
        first, second = rng.choice(sources), rng.choice(sources)
        title = splice(first.title, second.title, rng)
        excerpt = splice(first.excerpt, second.excerpt, rng)
        published = START + timedelta(seconds=rng.randrange(SPAN_SECONDS))
        slug = "-".join(
            "".join(c for c in word.lower() if c.isalnum()) for word in title.split()[:6]
        )
        url = f"https://news.example/{published:%Y/%m/%d}/{slug}-{number}"
        if recent_urls and rng.random() < 0.005:
            url = rng.choice(recent_urls)  # a syndicated copy
        recent_urls = [*recent_urls, url][-50:]
        fields: dict[str, object] = {
            "category": "news",
            "title": title,
            "excerpt": excerpt,
            "publishedDateTime": _date_text(published, rng),
            "webUrl": url,
            "type": "video" if rng.random() < 0.05 else "article",
            "heat": rng.randint(-1, 100),
            "published": rng.random() < 0.9,
            "provider": {"name": first.provider or "Wire", "domain": "news.example"},
            "topics": list(first.topics),
        }
        if rng.random() > 0.02:
            fields["quality"] = max(0, min(100, round(rng.gauss(50, 15))))
        if rng.random() < 0.25:
            other = rng.choice(sources)
            fields["related"] = [
                {
                    "title": other.title,
                    "excerpt": other.excerpt,
                    "webUrl": f"https://news.example/r/{number}",
                }
            ]
        fields["secured"] = "x" * 200
        text = "---\n" + _dump(fields) + "---\n"
        yield f"{number // FILES_PER_FOLDER:04d}/{number:07d}.md", text


def _dump(fields: dict[str, object]) -> str:
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml when available: 10x faster
    text: str = yaml.dump(fields, Dumper=dumper, sort_keys=False, allow_unicode=True)
    return text


def _date_text(moment: datetime, rng: random.Random) -> object:
    roll = rng.random()
    if roll < 0.1:
        return moment.astimezone(_PACIFIC).replace(microsecond=0).isoformat()
    if roll < 0.15:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")  # a quoted string once dumped
    return moment.replace(microsecond=0)


def generate(out: Path, count: int, seed: int, source: Path) -> None:
    """Write the corpus into `out`, with a manifest describing how it was made."""
    sources = load_sources(source)
    out.mkdir(parents=True, exist_ok=True)
    for relative, text in articles(sources, count, seed):
        path = out / relative
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    (out / "CORPUS.json").write_text(
        json.dumps({"docs": count, "seed": seed, "source": str(source)}, indent=2) + "\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--docs", type=int, default=100_000, help="number of articles")
    parser.add_argument("--out", type=Path, required=True, help="folder to write into")
    parser.add_argument("--seed", type=int, default=20201113)
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="AG News corpus folder")
    args = parser.parse_args(argv)
    if not args.source.is_dir():
        print(f"error: no source corpus in {args.source}", file=sys.stderr)
        return 2
    generate(args.out, args.docs, args.seed, args.source)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
