"""The card-ledger spool: each answered card is on local disk before its response is sent.

contract.md ("Accounted for"): before a response is sent, each of its cards is committed to the
ledger or written to a local spool that the next worker start replays into it. The ledger writer
commits in the background (``ledger.py``), so a hook call appends its entry here, one JSON line,
before it answers. A ``write`` that returned is in the kernel's page cache: a worker killed with
SIGKILL loses nothing (a power cut may, as it may lose the ledger's last SQLite commits; see
``engine.py``). The line costs microseconds, no ``fsync`` and no database.

Each process appends to a segment file of its own, named after its pid, and holds an exclusive
``flock`` on it while it lives: the kernel drops the lock when the process dies, however it
dies. A segment whose every entry is committed is emptied (or, once rotated, deleted). Any other
process that can take the lock of a segment knows its owner is gone, and replays it: every entry
is written to the ledger (a card uuid already there is left alone, so an entry committed just
before its owner died counts once) and the file is deleted.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import logging
import os
import secrets
from collections.abc import Iterable
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger(__name__)

SEGMENT_BYTES = 1 << 20
"""A segment this large is closed and a new one started (the old one goes once committed)."""

_PATTERN = "ledger-*.jsonl"


@dataclass(frozen=True)
class LedgerEntry:
    """What one hook call leaves in the ledger.

    Attributes:
        service_id: the service called.
        hook_instance: the call's ``hookInstance``.
        patient_id: the patient's id; only its salted hash is written.
        at: when the call was answered (timezone-aware).
        cards: ``(card uuid, recommendation id)`` of every card returned.
        unreadable: ``Type/id`` of resources skipped as invalid.
        rule_failures: recommendation ids whose rule raised.
        knowledge_version: the knowledge-base version that produced the cards.
        knowledge_hash: the content hash of that knowledge base.
    """

    service_id: str
    hook_instance: str
    patient_id: str
    at: dt.datetime
    cards: tuple[tuple[str, str], ...]
    unreadable: tuple[str, ...] = ()
    rule_failures: tuple[str, ...] = ()
    knowledge_version: str | None = None
    knowledge_hash: str | None = None

    @property
    def has_gaps(self) -> bool:
        """True when the call skipped resources or a rule failed (a call record is kept)."""
        return bool(self.unreadable or self.rule_failures)


class Segment:
    """One spool file of this process and how many of its entries await their commit."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self.fd = fd
        self.size = 0
        self.outstanding = 0
        self.retired = False


class LedgerSpool:
    """Appends ledger entries to this process's segment; finds dead processes' segments.

    Not thread-safe: the ledger writer calls it under its own lock.

    Args:
        directory: where the segments live (created on first use); local to this machine.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._current: Segment | None = None
        self._segments: dict[str, Segment] = {}

    def append(self, entry: LedgerEntry) -> Segment:
        """Write ``entry`` to the current segment; returns it, to be :meth:`committed` later.

        Raises:
            OSError: the entry could not be written (the caller logs and counts its cards).
        """
        segment = self._current
        if segment is None:
            segment = self._current = self._open_segment()
        line = orjson.dumps(_encode(entry)) + b"\n"
        try:
            written = os.write(segment.fd, line)
        except OSError:
            self._retire(segment)
            raise
        segment.size += written
        if written != len(line):  # disk full: the next line must not continue this one
            self._retire(segment)
            raise OSError("short write to the ledger spool")
        segment.outstanding += 1
        if segment.size >= SEGMENT_BYTES:
            self._retire(segment)
        return segment

    def _retire(self, segment: Segment) -> None:
        segment.retired = True
        if self._current is segment:
            self._current = None

    def committed(self, segments: Iterable[Segment]) -> None:
        """Note that one entry of each segment given (repeats count) is now in the ledger."""
        for segment in segments:
            segment.outstanding -= 1
            if segment.outstanding or segment.fd < 0:  # closed: its file is no longer ours
                continue
            try:
                if segment.retired:
                    self._drop(segment)
                else:  # O_APPEND: the next entry goes to the start again
                    os.ftruncate(segment.fd, 0)
                    segment.size = 0
            except OSError:
                log.warning("could not empty a ledger spool segment; it will be replayed",
                            exc_info=True)

    def close(self) -> None:
        """Release this process's segments: empty ones are deleted, others left for replay."""
        for segment in list(self._segments.values()):
            if segment.outstanding == 0:
                self._drop(segment)
            else:
                self._release(segment)
                self._segments.pop(segment.path.name, None)
                log.warning("ledger spool %s keeps %d uncommitted calls for the next start",
                            segment.path.name, segment.outstanding)
        self._current = None

    def forget_parent(self) -> None:
        """In a child just forked: the parent's segments (and their locks) stay the parent's."""
        for segment in self._segments.values():
            self._release(segment)  # the parent's descriptor keeps the lock
        self._segments = {}
        self._current = None

    def orphans(self) -> Iterator[tuple[Path, list[LedgerEntry]]]:
        """Each segment whose process is gone, locked while the caller replays it.

        The caller deletes the path once its entries are in the ledger; otherwise the file stays
        for a later start. Undecodable lines (none are expected: a line is one ``write``) are
        logged and skipped.
        """
        try:
            paths = sorted(self.directory.glob(_PATTERN))
        except OSError:
            return
        for path in paths:
            if path.name in self._segments:
                continue
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                continue  # replayed and deleted by another process meanwhile
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # its process is alive, or another one replays it
                if os.fstat(fd).st_nlink == 0:
                    continue  # replayed and deleted between our listing and our lock
                with os.fdopen(os.dup(fd), "rb") as lines:
                    entries = list(_decode_lines(path.name, lines))
                yield path, entries
            finally:
                os.close(fd)

    def _open_segment(self) -> Segment:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        name = f"ledger-{os.getpid()}-{secrets.token_hex(4)}.jsonl"
        path = self.directory / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC,
                     0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        segment = Segment(path, fd)
        self._segments[name] = segment
        return segment

    def _drop(self, segment: Segment) -> None:
        self._segments.pop(segment.path.name, None)
        try:
            segment.path.unlink(missing_ok=True)
        finally:
            self._release(segment)

    @staticmethod
    def _release(segment: Segment) -> None:
        # Marked closed: a commit noted later (a writer that outlived close()) must never act
        # on a descriptor number the process may have reused for another file.
        fd, segment.fd = segment.fd, -1
        if fd >= 0:
            try:
                os.close(fd)
            except OSError:
                pass


def _encode(entry: LedgerEntry) -> dict[str, Any]:
    # The patient id is an opaque FHIR id (the ledger stores its salted hash); the file is 0600.
    return {"service": entry.service_id, "hookInstance": entry.hook_instance,
            "patient": entry.patient_id, "at": entry.at, "cards": entry.cards,
            "unreadable": entry.unreadable, "ruleFailures": entry.rule_failures,
            "knowledgeVersion": entry.knowledge_version, "knowledgeHash": entry.knowledge_hash}


def _decode_lines(name: str, lines: Iterable[bytes]) -> Iterator[LedgerEntry]:

    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = orjson.loads(line)
            yield LedgerEntry(
                service_id=row["service"], hook_instance=row["hookInstance"],
                patient_id=row["patient"], at=dt.datetime.fromisoformat(row["at"]),
                cards=tuple((str(uuid), str(rec)) for uuid, rec in row["cards"]),
                unreadable=tuple(row["unreadable"]), rule_failures=tuple(row["ruleFailures"]),
                knowledge_version=row.get("knowledgeVersion"),
                knowledge_hash=row.get("knowledgeHash"))
        except (ValueError, KeyError, TypeError):
            log.error("ledger spool %s line %d is unreadable; skipped", name, number)
