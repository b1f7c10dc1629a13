"""The JWT replay store: each token id is accepted once until it expires, across every worker."""

from __future__ import annotations

import datetime as dt
import time
from weakref import WeakKeyDictionary

from sqlalchemy import Engine
from sqlalchemy import delete
from sqlalchemy.orm import Session

from cds_service.feedback.engine import durable_commit
from cds_service.feedback.engine import insert_ignoring_duplicates
from cds_service.feedback.engine import unavailable_on_failure
from cds_service.feedback.schema import SeenToken
from cds_service.feedback.schema import utc_now

PURGE_INTERVAL_S = 60.0
"""Each process deletes the expired entries of a database at most this often."""

_last_purge: WeakKeyDictionary[Engine, float] = WeakKeyDictionary()
"""When this process last purged each engine's database (``time.monotonic()``)."""


class ReplayStore:
    """Remembers accepted ``(iss, jti)`` pairs in the database; handed a session by the caller."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def first_use(self, issuer: str, jti: str, expires_at: dt.datetime) -> bool:
        """Record ``jti`` of ``issuer``; False when it was already seen (a replay).

        A unique insert decides, so two workers racing on the same token cannot both win. An
        expired entry never counts as seen: it is deleted and the insert retried, so purging the
        rest only once a minute changes no answer.

        Raises:
            StoreUnavailable: the database cannot be reached (callers fail closed).
        """
        insert = insert_ignoring_duplicates(self._session, SeenToken).returning(SeenToken.jti)
        row = {"issuer": issuer, "jti": jti, "expires_at": expires_at}
        with unavailable_on_failure(self._session):
            durable_commit(self._session)  # a token id lost in a power cut could be replayed
            now = utc_now()
            self._purge_expired(now)
            stored = self._session.execute(insert, [row]).all()
            if not stored:
                expired = delete(SeenToken).where(
                    SeenToken.issuer == issuer, SeenToken.jti == jti, SeenToken.expires_at < now
                )
                if self._session.execute(expired).rowcount:  # type: ignore[attr-defined]
                    stored = self._session.execute(insert, [row]).all()
            self._session.commit()
        return bool(stored)

    def _purge_expired(self, now: dt.datetime) -> None:
        engine = self._session.get_bind().engine
        last = _last_purge.get(engine)
        if last is not None and time.monotonic() - last < PURGE_INTERVAL_S:
            return
        self._session.execute(delete(SeenToken).where(SeenToken.expires_at < now))
        _last_purge[engine] = time.monotonic()
