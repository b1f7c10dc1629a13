"""Prefetch resolution: which template keys the client satisfied, and fetching the rest.

``render_template`` and ``missing_keys`` are pure; ``resolve`` does the I/O through ``fhir/``.
Spec: CDS Hooks 2.0 §Prefetch Template (cds-hooks.md F1-F9, P1-P5).
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from collections.abc import Mapping
from concurrent.futures import Future
from concurrent.futures import wait
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from urllib.parse import urlsplit

from cds_service.fhir.client import Deadline
from cds_service.fhir.client import FhirClient
from cds_service.fhir.client import FhirError
from cds_service.fhir.client import FhirLimits
from cds_service.fhir.client import bundle_resources
from cds_service.fhir.client import is_operation_outcome
from cds_service.fhir.client import next_link
from cds_service.fhir.client import shared_executor
from cds_service.fhir.client import shared_session
from cds_service.fhir.egress import explicitly_listed
from cds_service.fhir.egress import is_forbidden_host
from cds_service.fhir.shape import bundle_shape_problems
from cds_service.fhir.shape import is_bundle
from cds_service.fhir.sieve import Sieve
from cds_service.hooks.errors import BadRequest
from cds_service.hooks.errors import Forbidden
from cds_service.hooks.errors import Issue
from cds_service.hooks.errors import PreconditionFailed
from cds_service.hooks.models import HookRequest
from cds_service.operations.metrics import Stage
from cds_service.operations.metrics import fhir_fetched
from cds_service.operations.metrics import timed
from cds_service.settings import Settings

log = logging.getLogger(__name__)

JsonObject = dict[str, Any]

_TOKEN = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")
_USER_TOKENS = {
    "userPractitionerId": "Practitioner",
    "userPractitionerRoleId": "PractitionerRole",
    "userPatientId": "Patient",
    "userRelatedPersonId": "RelatedPerson",
}


class TemplateError(ValueError):
    """A prefetch template uses a token this request cannot fill."""


def render_template(template: str, request: HookRequest) -> str:
    """Fill ``{{context.x}}`` and user tokens (P2-P5) from ``request``.

    Raises:
        TemplateError: a token names no primitive context field, or a user token does not match
            the request's ``userId``.
    """
    context = request.context.model_dump(by_alias=True, exclude_none=True)

    def fill(match: re.Match[str]) -> str:
        token = match.group(1)
        if token.startswith("context."):
            value = context.get(token.removeprefix("context."))
            if isinstance(value, str | int | float) and not isinstance(value, bool):
                return str(value)
            raise TemplateError(f"{token} is not a primitive field of this hook's context")
        resource_type = _USER_TOKENS.get(token)
        user_id = context.get("userId", "")
        if resource_type and user_id.startswith(f"{resource_type}/"):
            return str(user_id.removeprefix(f"{resource_type}/"))
        raise TemplateError(f"the token {{{{{token}}}}} cannot be filled for this user")

    return _TOKEN.sub(fill, template)


def missing_keys(templates: Mapping[str, str], prefetch: Mapping[str, Any] | None) -> list[str]:
    """Template keys the client did not satisfy.

    A key that is absent, or holds an OperationOutcome (or a Bundle of only OperationOutcomes), is
    missing; a key holding ``null`` is satisfied and means "no data" (F2-F4).
    """
    prefetch = prefetch or {}
    return [
        key
        for key in templates
        if key not in prefetch or is_operation_outcome(prefetch[key])
    ]


@dataclass(frozen=True)
class PatientRecord:
    """The patient's FHIR resources, by prefetch key, once every key is resolved.

    Attributes:
        resources: prefetch key -> resources (a read key holds zero or one).
        fetched: the keys that came from ``fhirServer`` rather than prefetch.
    """

    resources: Mapping[str, tuple[JsonObject, ...]]
    fetched: tuple[str, ...] = field(default=())

    def all_resources(self) -> list[JsonObject]:
        """Every resource of the record, in key order."""
        return [resource for group in self.resources.values() for resource in group]


def check_fhir_server(
    url: str | None, settings: Settings, *, issuer_servers: tuple[str, ...] | None = None
) -> None:
    """Refuse a ``fhirServer`` this service may not call (SSRF guard, contract.md Settings).

    Args:
        url: the request's ``fhirServer``.
        settings: holds ``CDS_FHIR_SERVER_ALLOWLIST``.
        issuer_servers: None when the service runs open; else the verified issuer's
            ``fhir_servers`` (empty = no issuer restriction). With trust on, the URL must also
            be https unless a listed prefix names it explicitly.

    Raises:
        Forbidden: the URL matches none of the configured prefixes, none of the issuer's, or is
            not https under trust (400 ``forbidden``).
    """
    prefixes = settings.fhir_server_prefixes
    if url is None:
        return
    host = urlsplit(url).hostname or ""
    if is_forbidden_host(host) and host not in _exempt_hosts(prefixes):
        # A literal address or name, refused before any lookup; names are checked again on
        # the address they resolve to, when connecting (fhir.egress).
        raise Forbidden(_link_local_issue())
    if prefixes and not any(_starts_with(url, prefix) for prefix in prefixes):
        raise Forbidden(
            Issue("forbidden", "fhirServer: this FHIR server is not on the service's allowlist "
                  "(CDS_FHIR_SERVER_ALLOWLIST)", "fhirServer")
        )
    if issuer_servers is None:
        return
    if issuer_servers and not any(_starts_with(url, prefix) for prefix in issuer_servers):
        raise Forbidden(
            Issue("forbidden", "fhirServer: this FHIR server is not among those registered for "
                  "the calling issuer (fhir_servers)", "fhirServer")
        )
    listed = any(_starts_with(url, prefix) for prefix in prefixes + issuer_servers)
    if urlsplit(url).scheme != "https" and not listed:
        raise Forbidden(
            Issue("forbidden", "fhirServer: must be https (an http server must be listed "
                  "explicitly)", "fhirServer")
        )


def _link_local_issue(detail: str = "") -> Issue:
    return Issue("forbidden", "fhirServer: a link-local or cloud-metadata address is never "
                 "called unless CDS_FHIR_SERVER_ALLOWLIST names it explicitly"
                 + (f" ({detail})" if detail else ""), "fhirServer")


@functools.cache
def _exempt_hosts(prefixes: tuple[str, ...]) -> frozenset[str]:
    return explicitly_listed(prefixes)


def _starts_with(url: str, prefix: str) -> bool:
    # The prefix must end at a URL boundary: "https://ehr.example" must not admit
    # "https://ehr.example.evil.test" or "https://ehr.example@evil.test".
    rest = url.removeprefix(prefix)
    return url.startswith(prefix) and (prefix.endswith("/") or rest[:1] in ("", "/", "?", "#"))


def resolve(
    templates: Mapping[str, str], request: HookRequest, settings: Settings, *,
    keep: Sieve | None = None,
) -> PatientRecord:
    """Gather every template key from prefetch, fetching what is missing or paginated.

    Args:
        templates: prefetch key -> template.
        request: the validated hook request.
        settings: FHIR limits and deadline.
        keep: applied in each fetch thread as its pages are read (fetched pages are sifted
            before they are decoded whole; a paged prefetched searchset's first page is judged
            as it is); resources it refuses are dropped there, so it must refuse only what the
            case model would skip anyway. Keys answered wholly by prefetch are not filtered
            here (``parse_json`` sifts them as the body is decoded).

    Raises:
        BadRequest: a prefetched Bundle's shape is broken (``entry`` not a list of entries
            holding resource objects), naming each broken part by its JSON path.
        PreconditionFailed: a key could not be had (no fhirServer, FHIR error, timeout), naming
            each such key (F8).
    """
    prefetch = request.prefetch or {}
    check_bundle_shapes(templates, prefetch)
    missing = missing_keys(templates, prefetch)
    paged = [k for k in templates if k not in missing and next_link(prefetch.get(k) or {})]
    resources: dict[str, tuple[JsonObject, ...]] = {
        key: _prefetched_resources(prefetch[key])
        for key in templates
        if key not in missing and key not in paged
    }
    if missing or paged:
        if request.fhir_server is None:
            raise PreconditionFailed([_no_server_issue(key, templates[key], key in paged)
                                      for key in missing + paged])
        with timed(Stage.PREFETCH_FETCH):
            resources.update(_fetch(templates, missing, paged, request, settings, keep))
    ordered = {key: resources[key] for key in templates}
    return PatientRecord(resources=ordered, fetched=tuple(missing + paged))


def check_bundle_shapes(templates: Mapping[str, str], prefetch: Mapping[str, Any]) -> None:
    """Refuse a prefetched Bundle whose shape is broken, rather than read it as empty.

    Only the keys of ``templates`` are checked: a key the service did not ask for is never read.

    Raises:
        BadRequest: 400 ``invalid`` with one issue per broken part (``prefetch.<key>.entry[3]``).
    """
    issues = [
        Issue("invalid", f"prefetch.{key}.{problem.path}: {problem.message}; a prefetched "
              "Bundle is never read as empty", f"prefetch.{key}.{problem.path}")
        for key in templates if is_bundle(prefetch.get(key))
        for problem in bundle_shape_problems(prefetch[key])
    ]
    if issues:
        raise BadRequest(issues)


def _prefetched_resources(value: JsonObject | None) -> tuple[JsonObject, ...]:
    if value is None:
        return ()
    if value.get("resourceType") == "Bundle":
        return tuple(bundle_resources(value))
    return (value,)


def _no_server_issue(key: str, template: str, paged: bool) -> Issue:
    why = "has more pages" if paged else "was not provided"
    return Issue("incomplete", f"prefetch key {key!r} ({template}) {why} and the request has no "
                 "fhirServer to fetch it from", f"prefetch.{key}")


_SENT_FIRST = ("Observation?",)
"""Searches sent before the others: their answers (labs, vital signs) are usually by far the
largest, so reading and decoding them overlaps with waiting for the rest."""


def _fetch(
    templates: Mapping[str, str],
    missing: list[str],
    paged: list[str],
    request: HookRequest,
    settings: Settings,
    keep: Sieve | None = None,
) -> dict[str, tuple[JsonObject, ...]]:
    """Fetch the missing keys and the further pages of the paged ones, all at once, within the
    request deadline (see :func:`_refuse_unavailable` for what is raised)."""
    deadline = Deadline(settings.request_deadline_s)
    client = _client(request, settings, deadline, keep)
    queries, issues = _render_queries(templates, missing, request)
    futures = _submit(client, queries, paged, request.prefetch or {}, keep)
    wait(futures.values(), timeout=deadline.remaining() + 0.05)
    client.abort()  # anything still reading is past the deadline
    results, failures = _results(futures, templates, deadline)
    _refuse_unavailable(issues + failures, request)
    return results


def _client(request: HookRequest, settings: Settings, deadline: Deadline,
            keep: Sieve | None) -> FhirClient:
    """A client of the request's fhirServer, with its token, the limits and the deadline."""
    assert request.fhir_server is not None
    token = request.fhir_authorization.access_token if request.fhir_authorization else None
    return FhirClient(
        request.fhir_server,
        access_token=token,
        limits=FhirLimits(settings.fhir_timeout_s, settings.fhir_max_pages,
                          settings.fhir_max_response_bytes),
        deadline=deadline,
        session=shared_session(_exempt_hosts(settings.fhir_server_prefixes)),
        sieve=keep,
    )


def _render_queries(templates: Mapping[str, str], missing: list[str],
                    request: HookRequest) -> tuple[dict[str, str], list[Issue]]:
    """The query of each missing key, in the order to send them (``_SENT_FIRST`` first), and an
    issue for each template this request cannot fill."""
    issues: list[Issue] = []
    queries: dict[str, str] = {}
    for key in sorted(missing, key=lambda k: not templates[k].startswith(_SENT_FIRST)):
        try:
            queries[key] = render_template(templates[key], request)
        except TemplateError as exc:
            issues.append(Issue("incomplete", f"prefetch key {key!r}: {exc}", f"prefetch.{key}"))
    return queries, issues


def _submit(client: FhirClient, queries: Mapping[str, str], paged: list[str],
            prefetch: Mapping[str, Any], keep: Sieve | None,
            ) -> dict[str, Future[list[JsonObject]]]:
    """Start every fetch at once: each query, then the further pages of each paged key."""
    executor = shared_executor()
    futures: dict[str, Future[list[JsonObject]]] = {
        key: executor.submit(client.read_query, query) for key, query in queries.items()
    }
    futures |= {key: executor.submit(_kept, keep, client.follow_pages, prefetch[key] or {})
                for key in paged}
    return futures


def _results(futures: Mapping[str, Future[list[JsonObject]]], templates: Mapping[str, str],
             deadline: Deadline) -> tuple[dict[str, tuple[JsonObject, ...]], list[Issue]]:
    """The resources of each fetch that succeeded, and an issue for each that did not (each
    counted in the fetch metric)."""
    results: dict[str, tuple[JsonObject, ...]] = {}
    issues: list[Issue] = []
    for key, future in futures.items():
        issue = _outcome(key, templates[key], future, deadline)
        fhir_fetched("ok" if issue is None else "timeout" if issue.code == "timeout" else "failed")
        if issue is None:
            results[key] = tuple(future.result())
        else:
            issues.append(issue)
    return results, issues


def _refuse_unavailable(issues: list[Issue], request: HookRequest) -> None:
    """Refuse the call when a key could not be had, logging which.

    Raises:
        Forbidden: a fetch was refused at connect time (400): not data that could not be had,
            but a destination never to be called.
        PreconditionFailed: any other issue (412), naming each key.
    """
    forbidden = [issue for issue in issues if issue.code == "forbidden"]
    if forbidden:
        log.warning("fhirServer refused at connect time hookInstance=%s keys=%s",
                    request.hook_instance, [i.expression for i in forbidden])
        raise Forbidden(_link_local_issue(forbidden[0].diagnostics))
    if issues:
        log.warning("prefetch unavailable hookInstance=%s keys=%s reasons=%s",
                    request.hook_instance, [i.expression for i in issues],
                    [i.diagnostics for i in issues])
        raise PreconditionFailed(issues)


def _kept(keep: Sieve | None, read: Callable[[Any], list[JsonObject]],
          what: Any) -> list[JsonObject]:
    # The client sifts the pages it fetches; a prefetched first page is judged here.
    resources = read(what)
    return resources if keep is None else [r for r in resources if keep.keeps(r)]


def _outcome(
    key: str, template: str, future: Future[list[JsonObject]], deadline: Deadline
) -> Issue | None:
    where = f"prefetch key {key!r} ({template})"
    if not future.done():
        future.cancel()
        return Issue("timeout", f"{where}: no complete answer from fhirServer within "
                     f"{deadline.seconds:g} s (CDS_REQUEST_DEADLINE_S)", f"prefetch.{key}")
    exc = future.exception()
    if exc is None:
        return None
    if isinstance(exc, FhirError) and exc.forbidden:
        return Issue("forbidden", exc.reason, f"prefetch.{key}")
    if isinstance(exc, FhirError):
        return Issue("timeout" if exc.timeout else "incomplete", f"{where}: {exc.reason}",
                     f"prefetch.{key}")
    log.error("unexpected error fetching %s", key, exc_info=exc)
    return Issue("exception", f"{where}: unexpected error while fetching", f"prefetch.{key}")


def prefetch_from_bundle(templates: Mapping[str, str], bundle: JsonObject) -> dict[str, Any]:
    """Build the prefetch an EHR would send for ``templates`` from a Bundle of the patient's data.

    Search keys become searchset Bundles of the resources of their type; a read key becomes the
    single resource of its type, or ``null`` when the Bundle has none. Used by ``evaluate`` and by
    tests that replay fixtures.
    """
    resources = bundle_resources(bundle)
    prefetch: dict[str, Any] = {}
    for key, template in templates.items():
        resource_type = re.split(r"[/?]", template, maxsplit=1)[0]
        matches = [r for r in resources if r.get("resourceType") == resource_type]
        if "?" in template:
            prefetch[key] = {
                "resourceType": "Bundle",
                "type": "searchset",
                "total": len(matches),
                "entry": [{"resource": r, "search": {"mode": "match"}} for r in matches],
            }
        else:
            prefetch[key] = matches[0] if matches else None
    return prefetch
