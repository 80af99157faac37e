"""Reading one article file: bytes -> text -> frontmatter -> a validated `Article`.

Everything a file can get wrong ends here, either as a warning carried by the result (the article
still indexes) or as a `DocumentError` naming the reason (the file is skipped). The reader never
walks more of the metadata than the fields it uses, so hostile YAML (alias bombs, huge or deeply
nested values) costs nothing beyond parsing.
"""

from __future__ import annotations

import codecs
import html
import os
import re
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from frontmatter.default_handlers import BaseHandler, YAMLHandler

from search.dates import DateParseError, coerce_datetime
from search.errors import DocumentError
from search.frontmatter_yaml import TolerantLoader
from search.limits import (
    DEFAULT_MAX_FRONTMATTER_BYTES,
    MAX_BODY_BYTES,
    MAX_INDEXED_CHARS,
    MAX_RELATED,
    MAX_SHORT_FIELD_CHARS,
    MAX_STORED_EXCERPT_CHARS,
    MAX_STORED_TITLE_CHARS,
    MAX_TOPIC_CHARS,
    MAX_TOPICS,
)
from search.urls import canonical_url, file_identity

DOCUMENT_SUFFIXES = frozenset({".md", ".markdown", ".txt"})
_WIDE_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16-LE, whose mark begins the same way
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
"""Byte-order marks of the encodings that Windows editors save as "Unicode"."""
_LINK_SCHEMES = ("http", "https")
"""The only addresses shown as links: others (`javascript:`, relative paths) could run code."""

_YAML_HANDLER = YAMLHandler()
# python-frontmatter's TOML handler needs the third-party `toml`; we split with its machinery and
# parse with the standard library's tomllib instead.
_TOML_HANDLER = BaseHandler(fm_boundary=re.compile(r"^\+{3,}\s*$", re.MULTILINE))
_YAML_FENCE = re.compile(r"\A-{3,}[ \t]*$", re.MULTILINE)
_TOML_FENCE = re.compile(r"\A\+{3,}[ \t]*$", re.MULTILINE)
_HTML_TAG = re.compile(
    r"</?(?:a|abbr|b|big|blockquote|br|center|cite|code|del|div|em|font|h[1-6]|hr|i|img|ins|li|nobr"
    r"|ol|p|pre|q|s|small|span|strike|strong|sub|sup|table|tbody|td|th|thead|tr|tt|u|ul)\b[^<>]*>",
    re.IGNORECASE,
)
_WHITESPACE = re.compile(r"\s+")
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class RelatedArticle:
    """Another article a record points to; stored and shown with the article, not searched."""

    title: str
    url: str
    excerpt: str = ""
    provider: str | None = None
    quality: int | None = None
    published_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Article:
    """One article as the index sees it, after validation and cleaning."""

    url: str
    """Canonical URL: the article's identity in the index."""
    web_url: str
    """The address as the file wrote it (or the file path when it has none)."""
    path: str
    title: str
    excerpt: str = ""
    body: str = ""
    topics: tuple[str, ...] = ()
    provider: str | None = None
    provider_domain: str | None = None
    doc_type: str | None = None
    category: str | None = None
    published: bool | None = None
    heat: int | None = None
    image_url: str | None = None
    quality: int | None = None
    published_at: datetime | None = None
    related: tuple[RelatedArticle, ...] = ()


@dataclass(frozen=True, slots=True)
class RawFile:
    """The bytes read from a file (at most the read limit) and what `fstat` said while reading."""

    data: bytes
    size: int
    mtime_ns: int

    @property
    def truncated(self) -> bool:
        return self.size > len(self.data)


@dataclass(frozen=True, slots=True)
class ReadResult:
    """An article and what was wrong with its file, if anything, short of skipping it."""

    article: Article
    warnings: tuple[str, ...] = field(default=())


def is_document_name(name: str) -> bool:
    """Whether a file name has one of the suffixes the indexer reads."""
    return os.path.splitext(name)[1].lower() in DOCUMENT_SUFFIXES


def read_article(
    path: Path | str, *, max_frontmatter_bytes: int = DEFAULT_MAX_FRONTMATTER_BYTES
) -> ReadResult:
    """Read and validate one article file.

    Raises `DocumentError` (with the path and a one-line reason) when the file cannot be indexed.
    """
    raw = read_file(path, max_bytes=read_limit(max_frontmatter_bytes))
    return parse_article(
        raw.data, path, max_frontmatter_bytes=max_frontmatter_bytes, truncated=raw.truncated
    )


def read_limit(max_frontmatter_bytes: int) -> int:
    """How many bytes of a file are read: the frontmatter limit plus room for a body."""
    return max_frontmatter_bytes + MAX_BODY_BYTES


def parse_article(
    raw: bytes,
    path: Path | str,
    *,
    max_frontmatter_bytes: int = DEFAULT_MAX_FRONTMATTER_BYTES,
    truncated: bool = False,
) -> ReadResult:
    """Validate the bytes of an article file read from `path`; see `read_article`.

    `truncated` says that `raw` is only the beginning of the file.
    """
    path = Path(path)
    warnings: list[str] = []
    text = _decode(raw, path, warnings, truncated)
    metadata, body = _split_and_load(text, path, max_frontmatter_bytes, truncated)
    article = _build_article(metadata, body, path, warnings, truncated)
    return ReadResult(article, tuple(warnings))


def read_file(path: Path | str, *, max_bytes: int) -> RawFile:
    """Read at most `max_bytes` of a regular file; raises `DocumentError` for anything else.

    Named pipes and devices are refused without blocking: the file is opened non-blocking and
    checked with `fstat` before anything is read.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise DocumentError(path, f"cannot open: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise DocumentError(path, "not a regular file")
        chunks: list[bytes] = []
        remaining = max_bytes
        # The size fstat gave, and a byte more to see the end: a read allocates what it asks
        # for. A file that grows meanwhile is read on in small steps.
        wanted = info.st_size + 1
        while remaining > 0:
            chunk = os.read(fd, min(remaining, wanted))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
            wanted = 1 << 16
        data = b"".join(chunks)
        return RawFile(data, max(info.st_size, len(data)), info.st_mtime_ns)
    except OSError as exc:
        raise DocumentError(path, f"cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def _decode(raw: bytes, path: Path, warnings: list[str], truncated: bool) -> str:
    if not raw.strip():
        raise DocumentError(path, "empty file")
    for bom, encoding in _WIDE_BOMS:
        if raw.startswith(bom):
            try:
                text = raw[len(bom) :].decode(encoding, errors="replace" if truncated else "strict")
            except UnicodeDecodeError as exc:
                raise DocumentError(
                    path, f"not valid {encoding.upper()} (byte {exc.start})"
                ) from None
            return text.replace("\r\n", "\n").replace("\r", "\n")
    if b"\x00" in raw:
        raise DocumentError(path, "binary file (contains NUL bytes)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if truncated and exc.start >= len(raw) - 3:
            # The read limit cut a multi-byte character in half: drop the fragment.
            text = raw[: exc.start].decode("utf-8-sig")
        else:
            try:
                text = raw.decode("cp1252")
            except UnicodeDecodeError:
                text = raw.decode("latin-1")
            warnings.append(f"not valid UTF-8 (byte {exc.start}); read as Windows-1252")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _split_and_load(
    text: str, path: Path, max_frontmatter_bytes: int, truncated: bool
) -> tuple[Mapping[str, object], str]:
    text = text.lstrip()
    handler: BaseHandler
    if _YAML_FENCE.match(text):
        handler, kind = _YAML_HANDLER, "YAML"
    elif _TOML_FENCE.match(text):
        handler, kind = _TOML_HANDLER, "TOML"
    else:
        raise DocumentError(path, "no frontmatter (the file must start with a '---' line)")
    try:
        frontmatter_text, body = handler.split(text)
    except ValueError:
        if truncated:  # no closing line within the part that was read
            raise DocumentError(path, _too_large(max_frontmatter_bytes)) from None
        raise DocumentError(
            path, f"frontmatter is not closed (no closing '{text[:3]}' line)"
        ) from None
    if len(frontmatter_text) > max_frontmatter_bytes or (
        len(frontmatter_text) * 4 > max_frontmatter_bytes
        and len(frontmatter_text.encode("utf-8", "surrogatepass")) > max_frontmatter_bytes
    ):
        raise DocumentError(path, _too_large(max_frontmatter_bytes))
    try:
        if kind == "YAML":
            metadata = _YAML_HANDLER.load(frontmatter_text, Loader=TolerantLoader)
        else:
            metadata = tomllib.loads(frontmatter_text)
    except yaml.MarkedYAMLError as exc:
        where = f" (line {exc.problem_mark.line + 1})" if exc.problem_mark is not None else ""
        reason = exc.problem or exc.context or "syntax error"
        raise DocumentError(path, f"invalid YAML: {_one_line(reason)}{where}") from None
    except yaml.YAMLError as exc:
        raise DocumentError(path, f"invalid YAML: {_one_line(str(exc))}") from None
    except tomllib.TOMLDecodeError as exc:
        raise DocumentError(path, f"invalid TOML: {_one_line(str(exc))}") from None
    except RecursionError:
        raise DocumentError(path, "frontmatter is nested too deeply") from None
    except (ValueError, TypeError, OverflowError) as exc:
        # Constructors of timestamps and numbers raise these for values like 2020-13-45.
        raise DocumentError(path, f"invalid {kind}: {_one_line(str(exc))}") from None
    if metadata is None:
        raise DocumentError(path, "frontmatter is empty")
    if not isinstance(metadata, Mapping):
        raise DocumentError(
            path, f"frontmatter is a {_type_name(metadata)}, not a mapping of fields"
        )
    return metadata, body


def _build_article(
    metadata: Mapping[str, object], body: str, path: Path, warnings: list[str], truncated: bool
) -> Article:
    title = _text_field(metadata, "title", path, warnings, required=True)
    excerpt = _text_field(metadata, "excerpt", path, warnings)
    web_url, url = _identity(metadata, path, warnings)
    provider, provider_domain = _provider(metadata.get("provider"), warnings)
    return Article(
        url=url,
        web_url=web_url,
        path=str(path),
        title=title,
        excerpt=excerpt,
        body=_body(body, truncated, warnings),
        topics=_topics(metadata.get("topics"), warnings),
        provider=provider,
        provider_domain=provider_domain,
        doc_type=_short_text(metadata.get("type"), "type", warnings),
        category=_short_text(metadata.get("category"), "category", warnings),
        published=_boolean(metadata.get("published"), "published", warnings),
        heat=_integer(metadata.get("heat"), "heat", warnings),
        image_url=_first_image(metadata.get("images")),
        quality=_quality(metadata, warnings),
        published_at=_published_at(metadata, warnings),
        related=_related(metadata.get("related"), url, warnings),
    )


def is_link(url: str) -> bool:
    """Whether `url` is an absolute http(s) address: the only kind shown or followed as a link."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in _LINK_SCHEMES and bool(parts.netloc) and url.isprintable()


def _body(body: str, truncated: bool, warnings: list[str]) -> str:
    if truncated or len(body) > MAX_INDEXED_CHARS:
        warnings.append(
            f"the body is longer than {MAX_INDEXED_CHARS:,} characters or "
            f"{MAX_BODY_BYTES >> 20} MiB; only its beginning is searchable"
        )
    return clean_text(body[:MAX_INDEXED_CHARS])


def clean_text(value: str) -> str:
    """Strip the HTML fragments feeds leave in text, decode entities and collapse whitespace.

    Only real HTML tag names are removed, so `<TXN.N>` (a stock ticker in Reuters copy) survives.
    """
    if "<" in value:
        value = _HTML_TAG.sub(" ", value)
    if "&" in value:
        value = html.unescape(value)
    if value.isprintable() and "  " not in value and value[:1] != " " and value[-1:] != " ":
        # Printable text holds no control character, and no white space but the plain space.
        return value
    value = _CONTROL_CHARS.sub(" ", value)
    return _WHITESPACE.sub(" ", value).strip()


def _text_field(
    metadata: Mapping[str, object],
    name: str,
    path: Path,
    warnings: list[str],
    *,
    required: bool = False,
) -> str:
    value = metadata.get(name)
    if isinstance(value, bool) or not isinstance(value, str | int | float | type(None)):
        message = f"field '{name}' must be text, not a {_type_name(value)}"
        if required:
            raise DocumentError(path, message)
        warnings.append(message + "; ignored")
        return ""
    text = "" if value is None else clean_text(str(value)[:MAX_INDEXED_CHARS])
    if required and not text:
        raise DocumentError(
            path, f"no '{name}' field" if value is None else f"field '{name}' is empty"
        )
    return text


def _identity(metadata: Mapping[str, object], path: Path, warnings: list[str]) -> tuple[str, str]:
    for name in ("webUrl", "originalUrl"):
        value = metadata.get(name)
        if value is None:
            continue
        if isinstance(value, str) and value.strip() and len(value) <= MAX_SHORT_FIELD_CHARS:
            if is_link(value.strip()):
                return value.strip(), canonical_url(value)
            warnings.append(f"field '{name}' is not an http(s) URL ({_describe(value)}); ignored")
            continue
        warnings.append(f"field '{name}' is not a usable URL; ignored")
    identity = file_identity(path)
    return identity, identity


def _provider(value: object, warnings: list[str]) -> tuple[str | None, str | None]:
    if value is None:
        return None, None
    if isinstance(value, str):
        return _short_text(value, "provider", warnings), None
    if isinstance(value, Mapping):
        return (
            _short_text(value.get("name"), "provider.name", warnings),
            _short_text(value.get("domain"), "provider.domain", warnings),
        )
    warnings.append(f"field 'provider' must be a mapping, not a {_type_name(value)}; ignored")
    return None, None


def _short_text(value: object, name: str, warnings: list[str]) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        warnings.append(f"field '{name}' must be text, not a {_type_name(value)}; ignored")
        return None
    text = clean_text(str(value)[:MAX_SHORT_FIELD_CHARS])
    return text or None


def _topics(value: object, warnings: list[str]) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        items: list[object] = list(value.split(","))
    elif isinstance(value, list | tuple):
        items = list(value[:MAX_TOPICS])
        if len(value) > MAX_TOPICS:
            warnings.append(f"more than {MAX_TOPICS} topics; kept the first {MAX_TOPICS}")
    else:
        warnings.append(f"field 'topics' must be a list, not a {_type_name(value)}; ignored")
        return ()
    topics: list[str] = []
    seen: set[str] = set()
    dropped = 0
    for item in items:
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            dropped += 1
            continue
        topic = clean_text(str(item)[:MAX_TOPIC_CHARS])
        if topic and topic.casefold() not in seen:
            seen.add(topic.casefold())
            topics.append(topic)
    if dropped:
        warnings.append(f"{dropped} topic(s) that are not text were ignored")
    return tuple(topics)


def _quality(metadata: Mapping[str, object], warnings: list[str]) -> int | None:
    value = metadata.get("quality")
    if value is None:
        warnings.append(
            "no 'quality' field; ranked as neutral"
            if "quality" not in metadata
            else "field 'quality' is empty; ranked as neutral"
        )
        return None
    number = _number(value)
    if number is None:
        warnings.append(f"field 'quality' is not a number ({_describe(value)}); ranked as neutral")
        return None
    quality = round(number)
    if not 0 <= quality <= 100:
        warnings.append(
            f"quality {quality} is outside 0-100; ranked as {min(max(quality, 0), 100)}"
        )
    return quality


def _published_at(metadata: Mapping[str, object], warnings: list[str]) -> datetime | None:
    value = metadata.get("publishedDateTime")
    if value is None:
        return None
    try:
        # Whole seconds: the ranking column stores seconds, and stored and ranked times must agree.
        return coerce_datetime(value).replace(microsecond=0)
    except DateParseError as exc:
        warnings.append(f"field 'publishedDateTime' is unreadable ({exc}); the article has no date")
        return None


def _optional_datetime(value: object) -> datetime | None:
    if value is None:
        return None
    try:
        return coerce_datetime(value)
    except DateParseError:
        return None


def _integer(value: object, name: str, warnings: list[str]) -> int | None:
    if value is None:
        return None
    number = _number(value)
    if number is None:
        warnings.append(f"field '{name}' is not a number ({_describe(value)}); ignored")
        return None
    return round(number)


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:  # an integer beyond any float
            return None
    elif isinstance(value, str) and len(value) < 40:
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    if number != number or number in (float("inf"), float("-inf")) or abs(number) > 1e15:
        return None
    return number


def _boolean(value: object, name: str, warnings: list[str]) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "yes", "false", "no"}:
        return value.strip().lower() in {"true", "yes"}
    warnings.append(f"field '{name}' is not true or false ({_describe(value)}); ignored")
    return None


def _first_image(value: object) -> str | None:
    if not isinstance(value, list) or not value:
        return None
    first = value[0]
    if isinstance(first, Mapping):
        first = first.get("url")
    if isinstance(first, str) and len(first) <= MAX_SHORT_FIELD_CHARS and is_link(first.strip()):
        return first.strip()
    return None


def _related(value: object, own_url: str, warnings: list[str]) -> tuple[RelatedArticle, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        warnings.append(f"field 'related' must be a list, not a {_type_name(value)}; ignored")
        return ()
    related: list[RelatedArticle] = []
    seen = {own_url}
    for entry in value[: MAX_RELATED * 2]:
        if not isinstance(entry, Mapping):
            continue
        raw_url = entry.get("webUrl") or entry.get("originalUrl")
        title = _short_text(entry.get("title"), "related.title", warnings)
        if not isinstance(raw_url, str) or not is_link(raw_url.strip()) or not title:
            continue
        url = canonical_url(raw_url)
        if url in seen:  # the article itself, or an entry listed twice
            continue
        seen.add(url)
        quality = _number(entry.get("quality"))
        excerpt = _short_text(entry.get("excerpt"), "related.excerpt", warnings) or ""
        related.append(
            RelatedArticle(
                title=title[:MAX_STORED_TITLE_CHARS],
                url=raw_url.strip()[:MAX_SHORT_FIELD_CHARS],
                excerpt=excerpt[:MAX_STORED_EXCERPT_CHARS],
                provider=_provider(entry.get("provider"), warnings)[0],
                quality=None if quality is None else round(quality),
                published_at=_optional_datetime(entry.get("publishedDateTime")),
            )
        )
        if len(related) == MAX_RELATED:
            break
    return tuple(related)


def _type_name(value: object) -> str:
    if isinstance(value, Mapping):
        return "mapping"
    if isinstance(value, list | tuple):
        return "list"
    if value is None:
        return "null"
    return type(value).__name__


def _describe(value: object) -> str:
    """A short, safe description of a value: never the whole of a (possibly huge) structure."""
    if isinstance(value, str):
        return repr(value if len(value) <= 30 else value[:29] + "…")
    if isinstance(value, bool | int | float):
        return repr(value)
    return f"a {_type_name(value)}"


def _one_line(text: str, limit: int = 160) -> str:
    line = _WHITESPACE.sub(" ", text).strip()
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _too_large(limit: int) -> str:
    return f"frontmatter is larger than the limit of {_format_bytes(limit)}"


def _format_bytes(size: int) -> str:
    if size >= 1 << 20 and size % (1 << 20) == 0:
        return f"{size >> 20} MiB"
    if size >= 1 << 10 and size % (1 << 10) == 0:
        return f"{size >> 10} KiB"
    return f"{size} bytes"
