"""The one error type of ``reqtrail.services``: a one-line message a user can act on."""

from __future__ import annotations


class ServiceError(RuntimeError):
    """A local service cannot be installed, started, checked or stopped.

    The message is one line saying what failed and what to do; ``details`` optionally
    holds more (e.g. the tail of a log) for the CLI to print below it.
    """

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        self.details = details

    def __str__(self) -> str:
        base = super().__str__()
        return f"{base}\n{self.details}" if self.details else base
