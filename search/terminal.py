"""Text from documents and file names, made safe to print on a terminal.

Anything in an article or a path can be hostile: an escape sequence in a URL can clear the screen
or retitle the window, a newline in a file name can forge an extra `skipped:` line, a
right-to-left override can reverse what a line seems to say. `printable` shows such characters as
visible escapes instead; the command line passes every value that comes from a document, a path or
an error message through it before styling and printing it. JSON output is escaped by the JSON
encoder; `json_text` only makes file names that are not valid UTF-8 encodable.
"""

from __future__ import annotations

import re

_UNPRINTABLE = re.compile(
    "[\x00-\x1f\x7f-\x9f"  # C0 and C1 controls, DEL (ESC, CSI, newline, carriage return, ...)
    "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"  # bidirectional formatting
    "\u2028\u2029"  # line and paragraph separators
    "\ud800-\udfff]"  # lone surrogates: bytes of a file name that are not UTF-8
)
_SURROGATE = re.compile("[\ud800-\udfff]")
_ESCAPED_BYTES = range(0xDC80, 0xDD00)
"""Where Python's `surrogateescape` puts the undecodable bytes 0x80-0xFF of a file name."""


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code in _ESCAPED_BYTES:
        return f"\\x{code - 0xDC00:02x}"  # the byte as it is on disk
    if code == 0x0A:
        return "\\n"
    if code == 0x09:
        return "\\t"
    if code == 0x0D:
        return "\\r"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: object) -> str:
    """`text` with control, bidirectional-formatting and undecodable characters escaped."""
    return _UNPRINTABLE.sub(_escape, str(text))


def json_text(encoded: str) -> str:
    """JSON text (from `json.dumps(..., ensure_ascii=False)`) that can be written as UTF-8.

    Lone surrogates only occur inside JSON strings, where `\\udcXX` is their escape.
    """
    return _SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", encoded)
