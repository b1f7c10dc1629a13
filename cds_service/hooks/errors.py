"""Errors that end a request, each carrying its HTTP status and FHIR issue type.

Every non-2xx body is a FHIR OperationOutcome (contract.md, "Errors"); the status comes from the
exception type, never from message text.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from typing import ClassVar


@dataclass(frozen=True)
class Issue:
    """One OperationOutcome issue.

    Attributes:
        code: FHIR issue-type code (``invalid``, ``required``, ``incomplete``...).
        diagnostics: human-readable text naming the field or prefetch key.
        expression: JSON path of the offending element, where there is one.
        severity: FHIR issue severity.
    """

    code: str
    diagnostics: str
    expression: str | None = None
    severity: str = "error"

    def to_dict(self) -> dict[str, Any]:
        """Return the issue as FHIR JSON."""
        issue: dict[str, Any] = {
            "severity": self.severity,
            "code": self.code,
            "diagnostics": self.diagnostics,
        }
        if self.expression:
            issue["expression"] = [self.expression]
        return issue


def operation_outcome(issues: Iterable[Issue]) -> dict[str, Any]:
    """Return a FHIR OperationOutcome holding ``issues``."""
    return {"resourceType": "OperationOutcome", "issue": [i.to_dict() for i in issues]}


class CdsError(Exception):
    """An error that ends the request with ``status`` and an OperationOutcome body."""

    status: ClassVar[int] = 500
    default_code: ClassVar[str] = "exception"

    def __init__(self, issues: Issue | Iterable[Issue] | str) -> None:
        if isinstance(issues, str):
            issues = [Issue(self.default_code, issues)]
        elif isinstance(issues, Issue):
            issues = [issues]
        self.issues: tuple[Issue, ...] = tuple(issues)
        super().__init__("; ".join(i.diagnostics for i in self.issues))

    def to_dict(self) -> dict[str, Any]:
        """Return the response body."""
        return operation_outcome(self.issues)


class BadRequest(CdsError):
    """400: malformed JSON, a missing or ill-typed field, an inconsistent request."""

    status = 400
    default_code = "invalid"


class Forbidden(BadRequest):
    """400 ``forbidden``: a ``fhirServer`` this service may not call (SSRF guard)."""

    default_code = "forbidden"


class NotFound(CdsError):
    """404: unknown service id or route."""

    status = 404
    default_code = "not-found"


class MethodNotAllowed(CdsError):
    """405: the route exists but not for this HTTP method."""

    status = 405
    default_code = "not-supported"


class PayloadTooLarge(CdsError):
    """413: the body is over ``CDS_MAX_BODY_MB``."""

    status = 413
    default_code = "too-long"


class RequestTimeout(CdsError):
    """408: the body was not fully received within ``CDS_BODY_TIMEOUT_S``."""

    status = 408
    default_code = "timeout"


class PreconditionFailed(CdsError):
    """412: data the service needs cannot be obtained (cds-hooks.md F8)."""

    status = 412
    default_code = "incomplete"


class ServiceUnavailable(CdsError):
    """503: a dependency (the database) is unreachable; the client should retry."""

    status = 503
    default_code = "transient"
