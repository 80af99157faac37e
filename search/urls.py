"""The canonical form of an article URL: the identity under which the index keeps one entry."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

_DEFAULT_PORTS = {"http": "80", "https": "443"}


def canonical_url(url: str) -> str:
    """Normalise `url` so that spellings of the same address compare equal.

    Lower-cases the scheme and host, drops a default port, the ``#fragment`` and a trailing
    slash of the path; keeps the query string, which often identifies the article.
    Strings that are not absolute URLs (a file path, for instance) are returned stripped.
    """
    text = url.strip()
    try:
        parts = urlsplit(text)
    except ValueError:
        return text
    if not parts.scheme or not parts.netloc:
        return text
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:  # a port that is not a number: leave the address as written
        return text
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = (userinfo + "@" if userinfo else "") + host
    if port is not None and str(port) != _DEFAULT_PORTS.get(scheme):
        netloc += f":{port}"
    path = parts.path.rstrip("/")
    return urlunsplit((scheme, netloc, path, parts.query, ""))


def file_identity(path: str | Path) -> str:
    """The identity of an article that names no URL: its file's absolute path, resolved.

    A path whose name is not valid UTF-8 cannot be an index term; such a file is known by its
    `file:` URI, which spells the undecodable bytes with percent escapes.
    """
    resolved = Path(path).resolve()
    text = str(resolved)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return resolved.as_uri()
    return text
