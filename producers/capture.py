"""Keeping the head of a body that streams past, without buffering the rest.

A ``BodyCapture`` is fed every chunk that goes through (request body as the app reads it,
response body as it is sent) and keeps only the first ``limit`` bytes, while counting all of
them; the middleware passes every chunk on untouched.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Protocol


class BodyCapture:
    """The first ``limit`` bytes of a body (``head``) plus the size of all of it (``size``).

    ``head`` is the first chunk itself while there is one (most bodies come in one), and a
    ``bytearray`` grown in place once a second chunk is kept: no list, no join, no property
    on every request.
    """

    __slots__ = ("head", "limit", "size")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self.head: bytes | bytearray = b""

    def feed(self, chunk: bytes | bytearray | memoryview) -> None:
        """Count ``chunk`` and keep as much of it as still fits under the limit."""
        # Everything is kept until the limit is reached, so what is kept is min(size, limit).
        before = self.size
        n = len(chunk)
        self.size = before + n
        room = self.limit - before
        if room > 0 and n:
            part = chunk if n <= room else chunk[:room]
            if not before:
                self.head = part if type(part) is bytes else bytes(part)
                return
            head = self.head
            if type(head) is bytes:
                head = self.head = bytearray(head)
            head += part

    def add_to(self, event: dict[str, Any], prefix: str) -> None:
        """Put ``<prefix>_body`` and ``<prefix>_body_size`` into the event when seen."""
        if self.size:
            event[prefix + "_body"] = self.head
            event[prefix + "_body_size"] = self.size


class Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...

    def readline(self, size: int = ..., /) -> bytes: ...


class CapturingReader:
    """A file-like request stream (WSGI ``wsgi.input``, Django's stream) that feeds a capture.

    The app reads exactly what it would read from the original stream; the capture sees each
    chunk on the way.
    """

    def __init__(self, stream: Readable, capture: BodyCapture) -> None:
        self._stream = stream
        self._capture = capture

    def read(self, *args: Any) -> bytes:
        data = self._stream.read(*args)
        self._capture.feed(data)
        return data

    def readline(self, *args: Any) -> bytes:
        data = self._stream.readline(*args)
        self._capture.feed(data)
        return data

    def readinto(self, buffer: Any) -> int | None:
        count: int | None = self._stream.readinto(buffer)  # type: ignore[attr-defined]
        if count:
            self._capture.feed(memoryview(buffer)[:count])
        return count

    def readlines(self, hint: int = -1) -> list[bytes]:
        lines: list[bytes] = []
        total = 0
        while hint <= 0 or total < hint:
            line = self.readline()
            if not line:
                break
            lines.append(line)
            total += len(line)
        return lines

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.readline, b"")

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def iter_capturing(chunks: Iterable[bytes], capture: BodyCapture) -> Iterator[bytes]:
    """Yield ``chunks`` unchanged while feeding them to ``capture``."""
    for chunk in chunks:
        capture.feed(chunk)
        yield chunk
