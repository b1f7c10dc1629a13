"""Card and suggestion UUIDs: random version 4, never repeated, not even across a fork."""

from __future__ import annotations

import os
import uuid

import pytest

from cds_service.uuids import new_uuid


def test_uuids_are_random_version_4_and_distinct() -> None:
    drawn = [new_uuid() for _ in range(1000)]
    assert len(set(drawn)) == 1000
    assert all(uuid.UUID(text).version == 4 and str(uuid.UUID(text)) == text for text in drawn)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_worker_never_repeats_its_parents_uuids() -> None:
    new_uuid()  # the parent now holds a pool of UUIDs not yet handed out
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        try:
            os.write(write, "\n".join(new_uuid() for _ in range(20)).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = set(pipe.read().split("\n"))
    os.waitpid(pid, 0)
    parent = {new_uuid() for _ in range(20)}
    assert len(child) == 20 and child.isdisjoint(parent)
