"""Models of the bodies that have no wire model elsewhere, for the OpenAPI document only."""

from __future__ import annotations

from typing import Any
from typing import Literal

from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field

JsonObject = dict[str, Any]


class OperationOutcomeIssue(BaseModel):
    """One problem, naming the field or prefetch key it concerns (contract.md "Errors")."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    severity: Literal["fatal", "error", "warning", "information"]
    """FHIR issue severity."""
    code: str = Field(min_length=1)
    """FHIR issue type: ``invalid``, ``required``, ``forbidden``, ``not-found``, ``too-long``,
    ``incomplete``, ``timeout``, ``transient``, ``exception``..."""
    diagnostics: str = Field(min_length=1)
    """What is wrong, naming the field or prefetch key."""
    expression: list[str] | None = Field(default=None, min_length=1)
    """The JSON path of the offending element, where there is one."""


class OperationOutcome(BaseModel):
    """The body of every error answer: a FHIR R4 OperationOutcome."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    resource_type: Literal["OperationOutcome"] = Field(alias="resourceType")
    """Always ``OperationOutcome``."""
    issue: list[OperationOutcomeIssue] = Field(min_length=1)
    """Every problem found."""


class FeedbackAccepted(BaseModel):
    """The answer to a feedback call: an empty JSON object (contract.md)."""

    model_config = ConfigDict(extra="forbid")


class Health(BaseModel):
    """Liveness."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["ok"]


class Readiness(BaseModel):
    """Readiness: what is loaded and reachable; 503 names what is not ready."""

    model_config = ConfigDict(extra="allow", use_attribute_docstrings=True)

    status: Literal["ready", "not ready"]
    """``not ready`` (503) when trust is configured and the database is unreachable."""
    auth: Literal["on", "off"] | None = None
    """Whether hook calls must carry a JWT (``CDS_TRUSTED_ISSUERS`` set)."""
    database: Literal["ok", "unreachable"] | None = None
    """Whether the feedback store, ledger and replay store answer."""
    knowledge: str | None = None
    """``loaded`` once the catalogue, value sets and wording are validated."""
    recommendations: int | None = Field(default=None, ge=0)
    """How many recommendations the catalogue holds."""


class OpenApiDocument(BaseModel):
    """This document."""

    model_config = ConfigDict(extra="allow")

    openapi: str
    info: JsonObject
    paths: JsonObject
    components: JsonObject
