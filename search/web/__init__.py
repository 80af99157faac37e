"""`search serve`: the web API, the search page and the folder watcher.

Imported only by the `serve` command (and by programs that embed the application), so that
`import search` and `search query` never load the web stack.
"""
