"""The recommendation pages: the knowledge base index and one page per recommendation, as HTML."""

from __future__ import annotations

import logging
import string
from collections.abc import Mapping
from dataclasses import dataclass

from flask import Blueprint
from flask import Flask
from flask import Response
from flask import abort
from flask import current_app
from flask import render_template
from flask import request
from markupsafe import Markup
from werkzeug.exceptions import NotFound

from cds_service.guidelines.catalogue import Catalogue
from cds_service.guidelines.catalogue import RecommendationSpec
from cds_service.guidelines.provenance import Figure
from cds_service.guidelines.provenance import Provenance
from cds_service.guidelines.provenance import Review
from cds_service.guidelines.provenance import ReviewStatus
from cds_service.guidelines.provenance import SourceCitation
from cds_service.guidelines.versioning import KnowledgeVersion
from cds_service.guidelines.wording import Wording
from cds_service.identifiers import EXTENSION_KEY
from cds_service.identifiers import OVERRIDE_REASON_SYSTEM
from cds_service.identifiers import RECOMMENDATION_SYSTEM
from cds_service.state import service_state
from cds_service.validation import ValidationReport
from cds_service.vocabulary import Hook
from cds_service.web.markdown import render_markdown

log = logging.getLogger(__name__)

VALIDATION_CACHE = "cds_service.validation"
"""``app.extensions`` key of the validation report's cache (``web.validation.ReportCache``)."""

bp = Blueprint("pages", __name__, url_prefix="/recommendations", template_folder="templates")

HOOK_NAMES = {
    Hook.PATIENT_VIEW: "chart opened",
    Hook.ORDER_SELECT: "order selected",
    Hook.ORDER_SIGN: "order about to be signed",
}
"""What each hook means to a clinician."""

CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'"
"""The pages are static HTML with inline CSS: nothing else may load or run."""


@dataclass(frozen=True)
class CitedSource:
    """One source of a recommendation as its page cites it.

    Attributes:
        key: the catalogue's source key.
        citation: the full citation, from what the document gives.
        evidence: the kind of evidence it gives this recommendation, in plain words.
        primary: whether it is the recommendation's primary (first-listed) source.
    """

    key: str
    citation: SourceCitation
    evidence: str | None
    primary: bool


@dataclass(frozen=True)
class RecommendationPage:
    """What one recommendation page shows.

    Attributes:
        spec: the catalogue entry.
        hooks: "clinician name (hook id)" per hook.
        fires_when: the trigger, as HTML.
        recommends: the advice, as HTML.
        evidence: the wording's evidence as HTML, or None while it has no wording.
        sources: the source documents cited in full, primary first.
        figures: each figure the cards quote, with the source that gives it.
        note: a note on the recommendation's evidence, if any.
        review: the review block.
        changes: ``(version, change)`` of the changelog entries concerning it, newest first.
    """

    spec: RecommendationSpec
    hooks: tuple[str, ...]
    fires_when: Markup
    recommends: Markup
    evidence: Markup | None
    sources: tuple[CitedSource, ...]
    figures: tuple[Figure, ...]
    note: str | None
    review: Review
    changes: tuple[tuple[str, str], ...]


def _catalogue() -> Catalogue:
    catalogue: Catalogue = service_state().catalogue
    return catalogue


def _wording() -> Mapping[str, Wording]:
    wording: Mapping[str, Wording] = \
        service_state().guidance.renderer.knowledge.wording
    return wording


def _provenance() -> Provenance:
    provenance: Provenance | None = \
        service_state().guidance.renderer.provenance
    if provenance is None:
        raise RuntimeError("the service was built without provenance")
    return provenance


def _version() -> KnowledgeVersion:
    version: KnowledgeVersion | None = \
        service_state().guidance.renderer.version
    if version is None:
        raise RuntimeError("the service was built without a knowledge-base version")
    return version


def hook_names(hooks: tuple[Hook, ...]) -> tuple[str, ...]:
    """Label each hook for a clinician, keeping its CDS Hooks id in brackets."""
    return tuple(f"{HOOK_NAMES[hook].capitalize()} ({hook.value})" for hook in hooks)


def get_recommendation(rec_id: str) -> RecommendationSpec:
    """The catalogue entry with ``rec_id``.

    Raises:
        NotFound: 404, the catalogue has no such id (answered by this blueprint's HTML handler).
    """
    spec = _catalogue().get(rec_id)
    if spec is None:
        abort(404)
    return spec


def literal_text(template: str) -> str:
    """A wording template as plain text: ``{{`` becomes ``{``; a ``{name}`` placeholder stays."""
    parts = []
    for literal, name, _, _ in string.Formatter().parse(template):
        parts.append(literal)
        if name is not None:
            parts.append(f"{{{name}}}")
    return "".join(parts)


def build_page(spec: RecommendationSpec) -> RecommendationPage:
    """Gather and render what the page of ``spec`` shows."""
    wording = _wording().get(spec.id)
    provenance = _provenance()
    rec = provenance.of(spec.id)
    kinds = {item.source: item.kind for item in rec.evidence}
    return RecommendationPage(
        spec=spec,
        hooks=hook_names(spec.hooks),
        fires_when=render_markdown(spec.fires_when),
        recommends=render_markdown(spec.recommends),
        evidence=render_markdown(literal_text(wording.evidence)) if wording else None,
        sources=tuple(CitedSource(key, provenance.sources[key], kinds.get(key), index == 0)
                      for index, key in enumerate(spec.sources)),
        figures=rec.figures,
        note=rec.note,
        review=rec.review,
        changes=tuple(_version().changelog.for_recommendation(spec.id)),
    )


def sections(catalogue: Catalogue) -> dict[str, list[RecommendationSpec]]:
    """The recommendations grouped by section, sections and entries in catalogue order."""
    grouped: dict[str, list[RecommendationSpec]] = {}
    for spec in catalogue:
        grouped.setdefault(spec.section, []).append(spec)
    return grouped


@bp.get("", strict_slashes=False)
def index() -> str:
    """Every recommendation by section, the sources and the identifiers cards use."""
    catalogue = _catalogue()
    identifiers = {"recommendation": RECOMMENDATION_SYSTEM,
                   "override_reason": OVERRIDE_REASON_SYSTEM, "extension": EXTENSION_KEY}
    provenance = _provenance()
    drafts = sum(1 for spec in catalogue
                 if provenance.of(spec.id).review.status is ReviewStatus.DRAFT)
    return render_template("web/index.html", kb_name=catalogue.name, catalogue=catalogue,
                           sections=sections(catalogue), hook_names=hook_names,
                           identifiers=identifiers, kb=_version(), citations=provenance.sources,
                           reviews={spec.id: provenance.of(spec.id).review for spec in catalogue},
                           drafts=drafts)


@bp.get("/validation")
def validation() -> str | tuple[str, int]:
    """The validation report: every scenario run through the pipeline, built once per knowledge
    version. 404 when this install has no scenarios (installed from a wheel)."""
    from cds_service.scenarios import ScenarioError
    from cds_service.scenarios import fixtures_dir
    from cds_service.scenarios import load_scenarios
    from cds_service.validation import Validator
    from cds_service.web.validation import ReportCache

    name = _catalogue().name
    folder = fixtures_dir()
    if folder is None:
        return render_template("web/validation_unavailable.html", kb_name=name, kb=_version(),
                               missing=True), 404
    state = service_state()
    cache: ReportCache = current_app.extensions.setdefault(VALIDATION_CACHE, ReportCache())

    def build() -> str:
        report = Validator(state.guidance, state.settings).run(load_scenarios(folder))
        return render_report(report, state.catalogue, external=False)

    try:
        return cache.get(_version().content_hash, build)
    except ScenarioError as exc:
        log.error("validation report unavailable: %s", exc)
        return render_template("web/validation_unavailable.html", kb_name=name, kb=_version(),
                               missing=False), 500


def render_report(report: ValidationReport, catalogue: Catalogue, *, external: bool) -> str:
    """The validation report as a page (inside a request context of an app serving ``bp``).

    Args:
        report: the validation.
        catalogue: the catalogue (titles, triggers).
        external: absolute links (a file read away from the service) rather than relative ones.
    """
    return render_template(
        "web/validation.html", report=report, kb_name=catalogue.name, kb=report.version,
        fires_when={spec.id: render_markdown(spec.fires_when) for spec in catalogue},
        hook_names=hook_names, external=external)


def render_report_file(report: ValidationReport, catalogue: Catalogue, base_url: str) -> str:
    """The validation report as a self-contained file (``cds-service validate``) whose links point
    to the service at ``base_url``."""
    app = Flask("cds_service")
    app.register_blueprint(bp)
    with app.test_request_context(base_url=base_url):
        return render_report(report, catalogue, external=True)


@bp.get("/<path:rec_id>")
def recommendation(rec_id: str) -> str:
    """One recommendation: trigger, advice, evidence and sources."""
    page = build_page(get_recommendation(rec_id))
    return render_template("web/recommendation.html", kb_name=_catalogue().name, page=page,
                           kb=_version())


@bp.errorhandler(NotFound)
def not_found(error: NotFound) -> tuple[str, int]:
    """A browser page, not the API's OperationOutcome, for an unknown recommendation id."""
    rec_id = (request.view_args or {}).get("rec_id", "")
    return render_template("web/not_found.html", kb_name=_catalogue().name, rec_id=rec_id), 404


@bp.after_request
def secure_headers(response: Response) -> Response:
    """Forbid scripts and any other content the pages do not need."""
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response
