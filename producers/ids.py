"""Time-ordered request IDs in the ULID layout: 48-bit milliseconds + 80 random bits.

The random part comes from ``random`` (reseeded in forked workers), not ``os.urandom``: a
request ID must be unique, not unguessable, and a syscall per request is not free.

The 128-bit number ``ms_since_epoch << 80 | random`` is written as 26 characters of
Crockford's base32, most significant first; the alphabet sorts in the order of its values,
so IDs sort by creation time (to the millisecond) as plain strings, which keeps one
period's documents together in an index.  ``request_id_time`` reads the time back.
"""

from __future__ import annotations

import random
import time

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# Two characters per 10 bits: 13 table lookups make the 26 characters.
_PAIRS = [CROCKFORD[i >> 5] + CROCKFORD[i & 31] for i in range(1024)]
_SHIFTS = tuple(range(120, -10, -10))
_VALUES = {c: i for i, c in enumerate(CROCKFORD)}
REQUEST_ID_LENGTH = 26
MAX_INCOMING_ID_LENGTH = 256


def new_request_id(now_ms: int | None = None) -> str:
    """A new 26-character, time-ordered, random request ID (ULID layout)."""
    ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    n = (ms << 80) | random.getrandbits(80)
    return "".join([_PAIRS[(n >> shift) & 1023] for shift in _SHIFTS])


def request_id_time(request_id: str) -> int:
    """The millisecond timestamp inside an ID made by ``new_request_id``."""
    n = 0
    for char in request_id.upper():
        n = (n << 5) | _VALUES[char]
    return n >> 80


def usable_id(incoming: str | None) -> str | None:
    """An ID sent by a client, stripped, when it is non-blank, printable and short; else None."""
    if incoming:
        incoming = incoming.strip()
        if 0 < len(incoming) <= MAX_INCOMING_ID_LENGTH and incoming.isprintable():
            return incoming
    return None


def accept_request_id(incoming: str | None) -> str:
    """The client's X-Request-ID when it is usable (non-blank, printable, short), else a new one."""
    return usable_id(incoming) or new_request_id()
