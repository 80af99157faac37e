"""Values computed once per segment reader, kept beside the reader rather than on it.

A segment's columns and per-document arrays never change, so each search need not read them
again; they are remembered for as long as the reader lives, without adding attributes to
Whoosh's objects.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

_caches: weakref.WeakKeyDictionary[Any, dict[Any, Any]] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def reader_cache(reader: Any) -> dict[Any, Any]:
    """The cache of `reader`: a dictionary that lives as long as the reader."""
    with _lock:
        cache = _caches.get(reader)
        if cache is None:
            cache = _caches[reader] = {}
        return cache
