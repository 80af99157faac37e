"""Everything the engine takes from Whoosh and replaces, in one place.

Whoosh is extended only by handing it objects of our own classes; no attribute of Whoosh is ever
assigned, so a program that embeds this engine keeps Whoosh exactly as it was (its own indexes,
queries and worker processes behave as without us).

* `writing`: `create_in` / `open_dir` give a `NewsIndex` in a `NewsStorage`, whose writers write
  segments with our codec and buffer postings grouped by term (`TermPostingPool`).
* `codec`: `NewsCodec` (Whoosh's W3 format, read with less Python per posting) and `NewsSegment`,
  whose class paths are pickled into every table of contents: an on-disk format.
* `files`: reading a segment's parts in place from its memory map (`InPlaceBufferFile`).
* `columns`: the columns of stored records (compressed against a dictionary per segment) and of
  facet values (each distinct value stored once), named in every schema: an on-disk format.
* `matchers`: three fixes to Whoosh's boolean matchers, and a faster `UnionMatcher.all_ids`.
* `queries`: query classes that build those matchers, and `with_fixed_matchers`, which rewrites a
  parsed query into them.
* `caches`: values kept per segment reader (columns, per-document arrays) beside the reader, not
  on it.
"""

from search.whoosh_ext.codec import ON_DISK_CLASSES, NewsCodec, NewsSegment, length_codes
from search.whoosh_ext.queries import with_fixed_matchers
from search.whoosh_ext.writing import NewsIndex, NewsSegmentWriter, create_in, open_dir

__all__ = [
    "ON_DISK_CLASSES",
    "NewsCodec",
    "NewsIndex",
    "NewsSegment",
    "NewsSegmentWriter",
    "create_in",
    "length_codes",
    "open_dir",
    "with_fixed_matchers",
]
