"""Reading a segment file in place from its memory map, without copying it.

Whoosh's `BufferFile` wraps every part of a memory-mapped segment in a `BytesIO`, which copies it:
opening a searcher read the whole index into memory (76 ms and 150 MB for 100,000 articles; the
first query on 1,000,000 articles copied its 1 GB posting file). `InPlaceCompoundStorage` hands out
`InPlaceBufferFile`s instead, whose reads, random or sequential, go straight to the memory map.
Only segments of our own codec open their files through it (`search.whoosh_ext.codec`).
"""

from __future__ import annotations

import io
from typing import Any

from whoosh.filedb.compound import CompoundStorage
from whoosh.filedb.filestore import StorageError
from whoosh.filedb.structfile import BufferFile, StructFile

_LINE_SCAN = 4_096


class MemoryStream(io.RawIOBase):
    """A read-only file over a buffer (a slice of a memory map), without copying it."""

    def __init__(self, buf: Any) -> None:
        super().__init__()
        self._view = memoryview(buf)
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: len(self._view)}
        self._position = max(0, base[whence] + offset)
        return self._position

    def tell(self) -> int:
        return self._position

    def read(self, size: int | None = -1) -> bytes:
        start = self._position
        end = len(self._view) if size is None or size < 0 else min(start + size, len(self._view))
        self._position = max(start, end)
        return bytes(self._view[start:end])

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, target: Any) -> int:
        data = self.read(len(target))
        target[: len(data)] = data
        return len(data)

    def readline(self, size: int | None = -1) -> bytes:
        start = self._position
        end = len(self._view)
        if size is not None and size >= 0:
            end = min(end, start + size)
        stop = end
        for chunk_start in range(start, end, _LINE_SCAN):
            found = bytes(self._view[chunk_start : min(chunk_start + _LINE_SCAN, end)]).find(b"\n")
            if found >= 0:
                stop = chunk_start + found + 1
                break
        return self.read(stop - start)


class InPlaceBufferFile(BufferFile):  # type: ignore[misc]
    """A `BufferFile` whose sequential reads go to the buffer itself, not to a copy of it."""

    def __init__(self, buf: Any, name: str | None = None, onclose: Any = None) -> None:
        # Not BufferFile.__init__: it makes the copy this class exists to avoid.
        StructFile.__init__(self, None, name=name, onclose=onclose)
        self._buf = buf
        self._sequential: MemoryStream | None = None

    @property
    def file(self) -> Any:
        if self._sequential is None:
            self._sequential = MemoryStream(self._buf)
        return self._sequential

    @file.setter
    def file(self, stream: Any) -> None:
        self._sequential = stream

    def subset(self, position: int, length: int, name: str | None = None) -> InPlaceBufferFile:
        return InPlaceBufferFile(
            memoryview(self._buf)[position : position + length], name=name or self._name
        )


class InPlaceCompoundStorage(CompoundStorage):  # type: ignore[misc]
    """A compound segment file whose parts are read in place from its memory map."""

    def open_file(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if self.is_closed:
            raise StorageError("Storage was closed")
        if not self._source:  # not memory-mapped: Whoosh's sub-files read the file itself
            return super().open_file(name, *args, **kwargs)
        offset, length = self.range(name)
        return InPlaceBufferFile(memoryview(self._source)[offset : offset + length], name=name)
