"""Random (version 4) UUIDs for cards and suggestions, drawn from the OS 64 at a time.

``uuid.uuid4()`` asks the OS for 16 random bytes each time, and CPython lets go of the interpreter
lock around that call: with a dozen UUIDs per answer and four request threads per worker, every
one was a chance for another thread to take the lock for up to the switch interval (5 ms). One
request for 64 UUIDs' worth of bytes keeps the same randomness at a sixty-fourth of the cost.
"""

from __future__ import annotations

import os
import threading
import uuid

BATCH = 64
"""UUIDs drawn from one read of the OS random source."""

_local = threading.local()


def new_uuid() -> str:
    """A random UUID (version 4, RFC 9562) as a string, like ``str(uuid.uuid4())``."""
    pool: list[bytes] | None = getattr(_local, "pool", None)
    if not pool:
        raw = os.urandom(16 * BATCH)
        pool = _local.pool = [raw[start:start + 16] for start in range(0, len(raw), 16)]
    return str(uuid.UUID(bytes=pool.pop(), version=4))


def _forget_parent_pool() -> None:
    # A forked worker must never hand out the UUIDs its parent (or a sibling) still holds.
    global _local
    _local = threading.local()


os.register_at_fork(after_in_child=_forget_parent_pool)
