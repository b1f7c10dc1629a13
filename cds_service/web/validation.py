"""The cache of the validation report page (``/recommendations/validation``).

The service builds the page once per knowledge version, on the first request for it (running every
scenario takes about a second, which start-up and every test that builds the app would otherwise
pay), and serves the cached page after that.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class ReportCache:
    """The rendered report per knowledge content hash, built once even under concurrent
    requests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pages: dict[str, str] = {}

    def get(self, content_hash: str, build: Callable[[], str]) -> str:
        """The page for ``content_hash``, built by ``build`` the first time."""
        with self._lock:
            page = self._pages.get(content_hash)
            if page is None:
                page = self._pages[content_hash] = build()
            return page
