"""Response bodies that stream past the middleware: each chunk is captured as it is sent,
a failure while streaming is recorded, and the record goes out when the server closes
the body (WSGI iterables, Django's sync and async streaming responses)."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator
from typing import Generic, TypeVar

from reqtrail.producers.cycle import RequestCycle
from reqtrail.producers.guard import capture_internal_exceptions

Body = TypeVar("Body")


class _RecordOnClose(Generic[Body]):
    def __init__(self, body: Body, cycle: RequestCycle, on_close: Callable[[], None]) -> None:
        self._body = body
        self._cycle = cycle
        self._on_close: Callable[[], None] | None = on_close

    def _failed(self, exc: Exception) -> None:
        with capture_internal_exceptions():
            self._cycle.fail(exc)

    def _closed(self) -> None:
        """Send the record, once, whatever closing the body did."""
        on_close, self._on_close = self._on_close, None
        if on_close is not None:
            with capture_internal_exceptions():
                on_close()


class ClosingResponse(_RecordOnClose[Iterable[bytes]]):
    """The app's response iterable, counted as it is sent; the record goes out on close()."""

    def __iter__(self) -> Iterator[bytes]:
        capture = self._cycle.response_body
        try:
            for chunk in self._body:
                capture.feed(chunk)
                yield chunk
        except Exception as exc:
            self._failed(exc)
            raise

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._closed()


class AsyncClosingResponse(_RecordOnClose[AsyncIterable[bytes]]):
    """An async streaming body, counted as sent; the record goes out on close()."""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        capture = self._cycle.response_body
        try:
            async for chunk in self._body:
                capture.feed(chunk)
                yield chunk
        except Exception as exc:
            self._failed(exc)
            raise

    def close(self) -> None:
        self._closed()
