"""Size limits and defaults shared by the reader, the schema, the indexer and the command line.

Kept apart (and free of imports) so that what only searches loads none of the indexing machinery.
"""

DEFAULT_MAX_FRONTMATTER_BYTES = 1 << 20
"""Files whose frontmatter is larger are skipped (configurable per index run)."""
MAX_BODY_BYTES = 4 << 20
"""How much of a body is read after the frontmatter."""
MAX_INDEXED_CHARS = 1 << 20
"""How much of one text value is indexed."""
MAX_STORED_TITLE_CHARS = 1_000
MAX_STORED_EXCERPT_CHARS = 5_000
"""Stored text is capped harder than indexed text: it is read back for every hit."""
MAX_TOPICS = 50
MAX_TOPIC_CHARS = 200
MAX_RELATED = 20
MAX_SHORT_FIELD_CHARS = 2_000
DEFAULT_WAIT_SECONDS = 5.0
"""How long an indexing run waits for another one to release the index."""
DEFAULT_SEARCH_THREADS = 2
"""Searches a server process runs at once. A second lets searches go on beside a slow one (a
wildcard over most of the vocabulary); each one more costs latency under load, as the searches
take turns on the process's one core for Python."""
