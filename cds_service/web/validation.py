"""The validation report as a page: rendered for ``cds-service validate`` and for the service.

The service builds it once per knowledge version, on the first request for it (running every
scenario takes about a second, which start-up and every test that builds the app would otherwise
pay), and serves the cached page after that.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from flask import Flask
from flask import render_template

from cds_service.guidelines.catalogue import Catalogue
from cds_service.validation import ValidationReport
from cds_service.web.markdown import render_markdown


def render_report(report: ValidationReport, catalogue: Catalogue, *, external: bool) -> str:
    """The report as a page (inside a Flask request context).

    Args:
        report: the validation.
        catalogue: the catalogue (titles, triggers).
        external: absolute links (a file read away from the service) rather than relative ones.
    """
    from cds_service.web.pages import hook_names

    return render_template(
        "web/validation.html", report=report, kb_name=catalogue.name, kb=report.version,
        fires_when={spec.id: render_markdown(spec.fires_when) for spec in catalogue},
        hook_names=hook_names, external=external)


def render_standalone(report: ValidationReport, catalogue: Catalogue, base_url: str) -> str:
    """The report as a self-contained file whose links point to the service at ``base_url``."""
    from cds_service.web import pages

    app = Flask("cds_service")
    app.register_blueprint(pages.bp)
    with app.test_request_context(base_url=base_url):
        return render_report(report, catalogue, external=True)


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
