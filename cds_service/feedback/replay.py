"""The JWT replay store: each token id is accepted once until it expires, across every worker."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete
from sqlalchemy.orm import Session

from cds_service.feedback.engine import insert_ignoring_duplicates
from cds_service.feedback.engine import unavailable_on_failure
from cds_service.feedback.schema import SeenToken
from cds_service.feedback.schema import utc_now


class ReplayStore:
    """Remembers accepted ``(iss, jti)`` pairs in the database; handed a session by the caller."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def first_use(self, issuer: str, jti: str, expires_at: dt.datetime) -> bool:
        """Record ``jti`` of ``issuer``; False when it was already seen (a replay).

        A unique insert decides, so two workers racing on the same token cannot both win.

        Raises:
            StoreUnavailable: the database cannot be reached (callers fail closed).
        """
        insert = insert_ignoring_duplicates(self._session, SeenToken)
        row = {"issuer": issuer, "jti": jti, "expires_at": expires_at}
        with unavailable_on_failure(self._session):
            self._session.execute(delete(SeenToken).where(SeenToken.expires_at < utc_now()))
            stored = self._session.execute(insert.returning(SeenToken.jti), [row]).all()
            self._session.commit()
        return bool(stored)
