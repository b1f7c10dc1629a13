"""The card-ledger writer: hook calls queue their rows, a thread per process writes them in batches.

Why off the request path: a transaction per hook call costs about a millisecond on an idle SQLite
file, and under concurrent load the workers queue on SQLite's single write lock, whose busy
handler sleeps in steps of milliseconds (bench/FINDINGS.md). A call only queues its rows; the
thread commits whatever has queued in one transaction. contract.md asks that a ledger that cannot be
written never costs the cards and that the failure is logged and counted: a failed batch, and a
call that finds the queue full (the database too slow for too long), are both logged per hook call
and counted in ``cds_ledger_write_failures_total``; the cards were answered regardless.

The thread is started on the first write of each process (never in a gunicorn master, which only
warms up), and again after a fork. Pending rows are written when the process exits (``atexit``
and gunicorn's ``worker_exit``), and :meth:`LedgerWriter.flush` waits for them (the summary, tests).

A process may still die before its rows are committed (SIGKILL, the out-of-memory killer): so,
with a spool (``spool.py``), each call's entry is first appended to a local file before the call
answers, and a process starting its writer replays the files of dead processes into the ledger
(contract.md, "Accounted for"). A card that could be neither spooled nor committed is logged by
uuid and counted in ``cds_ledger_cards_not_spooled_total``.
"""

from __future__ import annotations

import atexit
import collections
import logging
import os
import threading
import weakref
from collections.abc import Callable
from collections.abc import Sequence

from sqlalchemy.orm import Session

from cds_service.feedback.engine import wait_limit
from cds_service.feedback.spool import LedgerEntry as LedgerEntry
from cds_service.feedback.spool import LedgerSpool
from cds_service.feedback.spool import Segment
from cds_service.feedback.store import FeedbackStore
from cds_service.feedback.store import IssuedCard
from cds_service.feedback.store import StoreUnavailable
from cds_service.feedback.store import hash_patient_id
from cds_service.operations.metrics import ledger_cards_not_spooled
from cds_service.operations.metrics import ledger_write_failed

log = logging.getLogger(__name__)

SessionFactory = Callable[[], Session]

MAX_PENDING_CALLS = 10_000
"""Hook calls that may wait for the writer; a call beyond that is logged and counted, not kept."""

MAX_BATCH_CALLS = 500
"""Hook calls written in one transaction at most."""

LINGER_S = 0.05
"""How long the first call queued waits for others to share its transaction.

The writer shares the worker's interpreter lock with the request threads: writing at once, it
would delay the very response whose rows it writes, and one transaction per call costs more than
one per 50 ms. Nobody waits for these rows (a flush skips the wait)."""

EXIT_FLUSH_S = 5.0
"""How long a stopping process waits for its pending rows."""

WRITER_WAIT_S = 15.0
"""How long the writer may hold one PostgreSQL connection (nobody waits for it; a hung database
must still not keep it forever): see ``engine.REQUEST_WAIT_S``."""


class LedgerWriter:
    """Queues ledger entries and writes them from a background thread, in batches.

    Args:
        sessions: opens a database session.
        configured_salt: ``CDS_LEDGER_SALT``, or None for the install's stored salt.
        max_pending: entries that may wait; more are logged and counted as failed writes.
        max_batch: entries per transaction at most.
        linger_s: how long the first entry queued waits for others to join its batch.
        spool: where each entry is written before :meth:`submit` returns, and whence dead
            processes' entries are replayed; None = no spool (a killed process loses its
            pending rows).
    """

    def __init__(self, sessions: SessionFactory, configured_salt: str | None, *,
                 max_pending: int = MAX_PENDING_CALLS, max_batch: int = MAX_BATCH_CALLS,
                 linger_s: float = LINGER_S, spool: LedgerSpool | None = None) -> None:
        self._sessions = sessions
        self._spool = spool
        self._replayed = False
        self._configured_salt = configured_salt
        self._max_pending = max_pending
        self._max_batch = max_batch
        self._linger_s = linger_s
        self._flushing = 0
        self._changed = threading.Condition()
        self._pending: collections.deque[tuple[LedgerEntry, Segment | None]] = \
            collections.deque()
        self._in_flight = 0
        self._thread: threading.Thread | None = None
        self._closed = False
        _writers.add(self)

    def start(self) -> None:
        """Start the writer thread (and the replay of dead processes' spools) now."""
        with self._changed:
            self._ensure_thread()

    def submit(self, entry: LedgerEntry) -> None:
        """Spool and queue ``entry``; never blocks on the database."""
        with self._changed:
            self._ensure_thread()
            segment = self._spooled(entry)
            if len(self._pending) >= self._max_pending:
                _lost([entry], "the writer is behind (queue full)", spooled=segment is not None)
                return
            self._pending.append((entry, segment))
            self._changed.notify_all()

    def _spooled(self, entry: LedgerEntry) -> Segment | None:
        # Called with the lock held: the spool's appends and truncations never interleave.
        if self._spool is None or not entry.cards and not entry.has_gaps:
            return None
        try:
            return self._spool.append(entry)
        except OSError as exc:
            _not_spooled(entry, exc)
            return None

    def flush(self, timeout_s: float = EXIT_FLUSH_S) -> bool:
        """Wait until every entry queued so far in this process is written (or failed).

        Returns:
            False when ``timeout_s`` passed first.
        """
        with self._changed:
            self._flushing += 1
            self._changed.notify_all()
            try:
                return self._changed.wait_for(
                    lambda: not self._pending and not self._in_flight, timeout=timeout_s)
            finally:
                self._flushing -= 1

    def close(self, timeout_s: float = EXIT_FLUSH_S) -> None:
        """Write what is pending (waiting at most ``timeout_s``) and stop the thread.

        Entries still pending stay in the spool, for the next start to replay.
        """
        if not self.flush(timeout_s):
            with self._changed:
                waiting = list(self._pending)
                self._pending.clear()
            _lost_queued(waiting, "the process stopped before they were written")
        with self._changed:
            self._closed = True
            self._changed.notify_all()
            if self._spool is not None:
                self._spool.close()

    def _ensure_thread(self) -> None:
        # Called with the lock held.
        if self._thread is not None and self._thread.is_alive():
            return
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="card-ledger-writer", daemon=True)
        self._thread.start()
        if self._spool is not None and not self._replayed:
            self._replayed = True
            threading.Thread(target=self._replay, name="card-ledger-replay", daemon=True).start()

    def _forget_parent(self) -> None:
        # In a child just forked, where only one thread runs: the lock may have been copied
        # held, the thread was not copied at all, and the parent's entries are the parent's.
        self._changed = threading.Condition()
        self._pending = collections.deque()
        self._in_flight = 0
        self._flushing = 0
        self._thread = None
        self._replayed = False
        if self._spool is not None:
            self._spool.forget_parent()

    def _replay(self) -> None:
        """Write the spools of dead processes into the ledger, then delete them."""
        assert self._spool is not None
        with wait_limit(WRITER_WAIT_S):
            for path, entries in self._spool.orphans():
                try:
                    for start in range(0, len(entries), self._max_batch):
                        self._write(entries[start:start + self._max_batch], replaying=True)
                except StoreUnavailable:
                    log.warning("ledger spool %s not replayed: database unreachable; it is kept "
                                "for the next start", path.name)
                    return
                except Exception:  # a bug must not stop the worker; the file stays
                    log.exception("ledger spool %s not replayed; it is kept", path.name)
                    continue
                path.unlink(missing_ok=True)
                log.info("ledger spool %s replayed: %d calls, %d cards", path.name,
                         len(entries), sum(len(entry.cards) for entry in entries))

    def _run(self) -> None:
        with wait_limit(WRITER_WAIT_S):
            self._serve()

    def _serve(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._pending or self._closed)
                self._changed.wait_for(
                    lambda: (len(self._pending) >= self._max_batch or self._closed
                             or self._flushing > 0),
                    timeout=self._linger_s)
                if not self._pending:
                    return
                count = min(len(self._pending), self._max_batch)
                queued = [self._pending.popleft() for _ in range(count)]
                self._in_flight = len(queued)
            try:
                self._write([entry for entry, _ in queued])
            except StoreUnavailable:
                _lost_queued(queued, "database unreachable")
            except Exception:  # a bug must cost this batch only, never the writer
                log.exception("card ledger writer failed on a batch of %d calls", len(queued))
                _lost_queued(queued, "the write raised")
            else:
                if self._spool is not None:
                    with self._changed:
                        self._spool.committed(
                            segment for _, segment in queued if segment is not None)
            finally:
                with self._changed:
                    self._in_flight = 0
                    self._changed.notify_all()

    def _write(self, batch: Sequence[LedgerEntry], *, replaying: bool = False) -> None:
        with self._sessions() as session:
            store = FeedbackStore(session)
            salt = store.ledger_salt(self._configured_salt)
            hashes = {entry.patient_id: hash_patient_id(salt, entry.patient_id)
                      for entry in batch}
            store.record_cards([
                IssuedCard(card_uuid=card_uuid, service_id=entry.service_id,
                           recommendation_id=recommendation_id,
                           hook_instance=entry.hook_instance, issued_at=entry.at,
                           patient_hash=hashes[entry.patient_id],
                           knowledge_version=entry.knowledge_version,
                           knowledge_hash=entry.knowledge_hash)
                for entry in batch for card_uuid, recommendation_id in entry.cards
            ])
            for entry in batch:
                if entry.has_gaps and not (replaying and store.has_call(
                        hook_instance=entry.hook_instance, service_id=entry.service_id,
                        called_at=entry.at)):
                    store.record_call(hook_instance=entry.hook_instance,
                                      service_id=entry.service_id, called_at=entry.at,
                                      patient_hash=hashes[entry.patient_id],
                                      unreadable_resources=entry.unreadable,
                                      rule_errors=entry.rule_failures)


_writers: weakref.WeakSet[LedgerWriter] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for writer in list(_writers):
        writer._forget_parent()


def _close_all() -> None:
    for writer in list(_writers):
        writer.close()


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_close_all)


def _lost(entries: Sequence[LedgerEntry], reason: str, *, spooled: bool = False) -> None:
    kept = " (kept in the spool for the next start)" if spooled else ""
    for entry in entries:
        ledger_write_failed()
        log.error("card ledger not written: %s hookInstance=%s cards=%d%s", reason,
                  entry.hook_instance, len(entry.cards), kept)


def _lost_queued(queued: Sequence[tuple[LedgerEntry, Segment | None]], reason: str) -> None:
    for entry, segment in queued:
        _lost([entry], reason, spooled=segment is not None)


def _not_spooled(entry: LedgerEntry, exc: OSError) -> None:
    """Log by uuid and count the cards of a call that could not be spooled (contract.md)."""
    ledger_cards_not_spooled(len(entry.cards))
    log.error("card ledger spool not written (%s): the cards of hookInstance=%s are at risk "
              "until committed: %s", exc.strerror or exc, entry.hook_instance,
              " ".join(f"{uuid}:{recommendation}" for uuid, recommendation in entry.cards))
