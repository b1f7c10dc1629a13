"""Pydantic models of the CDS Hooks 2.0 objects: one class per spec object.

Inbound models tolerate unknown fields (clients add extensions); outbound ones forbid them, so
a typo in our own code cannot reach an EHR. JSON names are camelCase through ``to_camel``.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from enum import StrEnum
from typing import Annotated
from typing import Any
from typing import Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator
from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import StrictBool
from pydantic import StrictInt
from pydantic import StrictStr
from pydantic import WithJsonSchema
from pydantic import field_validator
from pydantic import model_validator
from pydantic.alias_generators import to_camel

from cds_service.vocabulary import Hook as Hook
from cds_service.vocabulary import Indicator as Indicator

NonEmptyStr = Annotated[StrictStr, Field(min_length=1)]
JsonObject = dict[str, Any]


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ValueError("must be an absolute http(s) URL")
    return value


def _bare_patient_id(value: str) -> str:
    # contract.md: patientId may be a bare id or Patient/<id>.
    bare = value.removeprefix("Patient/")
    if not bare or "/" in bare:
        raise ValueError("must be a Patient id or Patient/<id>")
    return bare


_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)


def _rfc3339(value: str) -> dt.datetime:
    if not _RFC3339.match(value):
        raise ValueError("must be an RFC 3339 date-time with an offset, e.g. 2021-12-11T10:05:31Z")
    try:
        return dt.datetime.fromisoformat(value.upper().replace("Z", "+00:00")).astimezone(dt.UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is before datetime.min in UTC
        raise ValueError("is outside the range of representable dates") from None


# The JSON Schema of each (in /openapi.json) states what its validator checks.
HttpUrl = Annotated[StrictStr, AfterValidator(_http_url), WithJsonSchema(
    {"type": "string", "format": "uri", "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://[^/?#]"})]
PatientId = Annotated[StrictStr, AfterValidator(_bare_patient_id),
                      WithJsonSchema({"type": "string", "pattern": "^(Patient/)?[^/]+$"})]
Rfc3339 = Annotated[StrictStr, AfterValidator(_rfc3339),
                    WithJsonSchema({"type": "string", "format": "date-time"})]


class SelectionBehavior(StrEnum):
    """How many of a card's suggestions a user may accept."""

    AT_MOST_ONE = "at-most-one"
    ANY = "any"


class ActionType(StrEnum):
    """What a suggestion's action does to a resource."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


class LinkType(StrEnum):
    """Whether a link is a plain page or a SMART app launch."""

    ABSOLUTE = "absolute"
    SMART = "smart"


class _Inbound(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        extra="ignore",
        frozen=True,
    )


class _Outbound(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        serialize_by_alias=True,
        extra="forbid",
        frozen=True,
    )

    @model_validator(mode="after")
    def _no_empty_optional_members(self) -> _Outbound:
        # J2: no optional member may be "", [] or {}; it is omitted instead (J3).
        for name in _optional_members(type(self)):
            value = getattr(self, name)
            if isinstance(value, (str, list, dict)) and not value:
                raise ValueError(f"{name} must be omitted rather than empty")
        return self

    def to_json_dict(self) -> JsonObject:
        """Dump as spec JSON: camelCase names, optional members omitted (cds-hooks.md J3)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


@functools.cache
def _optional_members(model: type[BaseModel]) -> tuple[str, ...]:
    """The optional fields of an outbound model (read once per class: cards are built often)."""
    return tuple(name for name, info in model.model_fields.items() if not info.is_required())


# --- Requests -----------------------------------------------------------------------------------


class FhirAuthorization(BaseModel):
    """OAuth 2.0 access token for ``fhirServer``; transient, never logged or stored (F11)."""

    model_config = ConfigDict(extra="ignore", frozen=True, hide_input_in_errors=True)

    access_token: NonEmptyStr
    token_type: Literal["Bearer"]
    expires_in: StrictInt
    scope: NonEmptyStr
    subject: NonEmptyStr
    patient: NonEmptyStr | None = None


class PatientViewContext(_Inbound):
    """Context of patient-view (CDS Hooks Library 1.0.1)."""

    user_id: NonEmptyStr
    patient_id: PatientId
    encounter_id: NonEmptyStr | None = None


class OrderSignContext(PatientViewContext):
    """Context of order-sign: every draft order about to be signed."""

    draft_orders: JsonObject

    @field_validator("draft_orders")
    @classmethod
    def _is_bundle(cls, value: JsonObject) -> JsonObject:
        if value.get("resourceType") != "Bundle":
            raise ValueError("must be a FHIR Bundle of draft orders")
        entries = value.get("entry", [])
        if not isinstance(entries, list):
            raise ValueError("entry must be an array")
        return value


class OrderSelectContext(OrderSignContext):
    """Context of order-select: the draft orders and which of them were just selected."""

    selections: Annotated[list[NonEmptyStr], Field(min_length=1)]


class HookRequest(_Inbound):
    """A service call, whatever the hook; ``context`` is validated per hook by the subclasses."""

    hook: NonEmptyStr
    hook_instance: NonEmptyStr
    fhir_server: HttpUrl | None = None
    fhir_authorization: FhirAuthorization | None = None
    context: PatientViewContext
    prefetch: dict[str, JsonObject | None] | None = None
    extension: JsonObject | None = None

    @model_validator(mode="after")
    def _token_needs_server(self) -> HookRequest:
        if self.fhir_authorization is not None and self.fhir_server is None:
            raise ValueError("fhirServer is required when fhirAuthorization is present")
        return self

    @property
    def draft_orders(self) -> JsonObject | None:
        """The draftOrders Bundle of an order hook, else None."""
        return getattr(self.context, "draft_orders", None)

    @property
    def selections(self) -> list[str] | None:
        """The order-select selections, else None."""
        return getattr(self.context, "selections", None)


class PatientViewRequest(HookRequest):
    """A patient-view call."""

    hook: Literal["patient-view"]
    context: PatientViewContext


class OrderSelectRequest(HookRequest):
    """An order-select call."""

    hook: Literal["order-select"]
    context: OrderSelectContext


class OrderSignRequest(HookRequest):
    """An order-sign call."""

    hook: Literal["order-sign"]
    context: OrderSignContext


REQUEST_MODELS: dict[Hook, type[HookRequest]] = {
    Hook.PATIENT_VIEW: PatientViewRequest,
    Hook.ORDER_SELECT: OrderSelectRequest,
    Hook.ORDER_SIGN: OrderSignRequest,
}
"""The request model of each hook."""


# --- Feedback -----------------------------------------------------------------------------------


class Coding(_Outbound):
    """A FHIR-like Coding as CDS Hooks uses it (system and code required)."""

    model_config = ConfigDict(extra="ignore")

    system: NonEmptyStr
    code: NonEmptyStr
    display: NonEmptyStr | None = None


class AcceptedSuggestion(_Inbound):
    """A suggestion the user accepted, by its uuid."""

    id: NonEmptyStr


class OverrideReason(_Inbound):
    """Why the user overrode a card: one of its reasons, a comment, or both."""

    model_config = ConfigDict(json_schema_extra={"anyOf": [  # _not_empty, for /openapi.json
        {"required": ["reason"], "properties": {"reason": {"type": "object"}}},
        {"required": ["userComment"], "properties": {"userComment": {"minLength": 1}}},
    ]})

    reason: Coding | None = None
    user_comment: StrictStr | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> OverrideReason:
        if self.reason is None and not self.user_comment:
            raise ValueError("overrideReason needs a reason or a userComment")
        return self


class FeedbackItem(_Inbound):
    """What the user did with one card."""

    model_config = ConfigDict(json_schema_extra={  # _accepted_names_suggestions, for /openapi.json
        "if": {"required": ["outcome"], "properties": {"outcome": {"const": "accepted"}}},
        "then": {"required": ["acceptedSuggestions"],
                 "properties": {"acceptedSuggestions": {"type": "array"}}},
    })

    card: NonEmptyStr
    outcome: Literal["accepted", "overridden"]
    accepted_suggestions: Annotated[list[AcceptedSuggestion], Field(min_length=1)] | None = None
    override_reason: OverrideReason | None = None
    outcome_timestamp: Rfc3339

    @model_validator(mode="after")
    def _accepted_names_suggestions(self) -> FeedbackItem:
        if self.outcome == "accepted" and not self.accepted_suggestions:
            raise ValueError("acceptedSuggestions is required when outcome is accepted")
        return self


class FeedbackRequest(_Inbound):
    """The body of a feedback call."""

    feedback: Annotated[list[FeedbackItem], Field(min_length=1)]


# --- Responses ----------------------------------------------------------------------------------


class Source(_Outbound):
    """Where a card's guidance comes from."""

    label: NonEmptyStr
    url: str | None = None
    icon: str | None = None
    topic: Coding | None = None


class Action(_Outbound):
    """One change a suggestion makes to the EHR's data."""

    type: ActionType
    description: NonEmptyStr
    resource: JsonObject | None = None
    resource_id: str | None = None

    @model_validator(mode="after")
    def _carries_its_target(self) -> Action:
        if self.type in (ActionType.CREATE, ActionType.UPDATE) and self.resource is None:
            raise ValueError(f"a {self.type} action needs its resource (C13b)")
        if self.type == ActionType.DELETE and not self.resource_id:
            raise ValueError("a delete action names its target in resourceId (C13c)")
        return self


class Suggestion(_Outbound):
    """A button on a card: a set of actions taken together."""

    label: NonEmptyStr
    uuid: str | None = None
    is_recommended: StrictBool | None = None
    actions: list[Action] | None = None


class Link(_Outbound):
    """A link to a page or a SMART app."""

    label: NonEmptyStr
    url: NonEmptyStr
    type: LinkType
    app_context: str | None = None

    @model_validator(mode="after")
    def _app_context_only_for_smart(self) -> Link:
        if self.app_context is not None and self.type != LinkType.SMART:
            raise ValueError("appContext is only for smart links (cds-resp-3)")
        return self


class Card(_Outbound):
    """One piece of guidance (cds-hooks.md C4-C12)."""

    uuid: str | None = None
    summary: Annotated[StrictStr, Field(min_length=1, max_length=139)]
    detail: str | None = None
    indicator: Indicator
    source: Source
    suggestions: list[Suggestion] | None = None
    selection_behavior: SelectionBehavior | None = None
    override_reasons: list[Coding] | None = None
    links: list[Link] | None = None
    extension: JsonObject | None = None

    @model_validator(mode="after")
    def _suggestions_need_behavior(self) -> Card:
        if self.suggestions and self.selection_behavior is None:
            raise ValueError("selectionBehavior is required with suggestions (C9)")
        for reason in self.override_reasons or []:
            if not reason.display:
                raise ValueError("every overrideReason needs a display (C11)")
        return self


class CdsResponse(_Outbound):
    """The answer to a service call."""

    cards: list[Card]
    system_actions: list[Action] | None = None
    extension: JsonObject | None = None


class ServiceDefinition(_Outbound):
    """One entry of the discovery response."""

    hook: Hook
    title: str | None = None
    description: NonEmptyStr
    id: NonEmptyStr
    prefetch: dict[str, str] | None = None
    usage_requirements: str | None = None
    extension: JsonObject | None = None


class Discovery(_Outbound):
    """The discovery response."""

    services: list[ServiceDefinition]
