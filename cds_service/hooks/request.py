"""Turn a raw request body into a validated request model, or one 400 naming every problem."""

from __future__ import annotations

import json
from typing import Any
from typing import TypeVar

import msgspec
from pydantic import BaseModel
from pydantic import ValidationError

from cds_service.fhir.sieve import Sieve
from cds_service.fhir.sieve import sift_searchset
from cds_service.hooks.errors import BadRequest
from cds_service.hooks.errors import Issue
from cds_service.hooks.models import REQUEST_MODELS
from cds_service.hooks.models import FeedbackRequest
from cds_service.hooks.models import Hook
from cds_service.hooks.models import HookRequest

ModelT = TypeVar("ModelT", bound=BaseModel)


def parse_json(body: bytes, *, sieve: Sieve | None = None) -> Any:
    """Parse a request body as JSON, whatever its Content-Type (contract.md).

    Args:
        body: the request body.
        sieve: given, each prefetched searchset holds only the entries it keeps, judged before
            they are decoded (``fhir.sieve``); everything else is what ``json`` reads.

    Raises:
        BadRequest: the body is empty or not valid UTF-8 JSON.
    """
    if not body.strip():
        raise BadRequest(Issue("required", "the request body is empty; a JSON object is required"))
    if sieve is not None:
        call = _sifted_call(body, sieve)
        if call is not None:
            return call
    try:
        # json, not orjson: as fast at these sizes after gc.freeze(), and orjson's parse tree
        # peaks at ~3x the decoded objects (bench/FINDINGS.md, memory).
        return json.loads(body)
    except UnicodeDecodeError:
        raise BadRequest("the request body is not UTF-8 encoded JSON") from None
    except json.JSONDecodeError as exc:
        raise BadRequest(
            f"the request body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise BadRequest("the request body is nested too deeply") from None


_MEMBERS = msgspec.json.Decoder(dict[str, msgspec.Raw])


def _sifted_call(body: bytes, sieve: Sieve) -> dict[str, Any] | None:
    # None for a body that is not an object with a prefetch object, or that msgspec does not read:
    # json then reads it whole, with its values and its error messages. UTF-8 is checked where
    # each part is decoded (member names by msgspec, values by json or ``sift_searchset``), not
    # over the whole body first: a second pass over every non-ASCII body.
    try:
        members = _MEMBERS.decode(body)
        prefetch = _MEMBERS.decode(members["prefetch"]) if "prefetch" in members else None
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError, UnicodeDecodeError):
        return None
    if prefetch is None:
        return None
    try:
        return {name: _sifted_prefetch(prefetch, sieve) if name == "prefetch"
                else json.loads(bytes(raw)) for name, raw in members.items()}
    except (ValueError, RecursionError):
        return None


def _sifted_prefetch(prefetch: dict[str, msgspec.Raw], sieve: Sieve) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, raw in prefetch.items():
        value = bytes(raw)
        sifted = sift_searchset(value, sieve, json.loads)
        values[key] = sifted if sifted is not None else json.loads(value)
    return values


def json_path(loc: tuple[int | str, ...]) -> str:
    """Render a pydantic error location as a JSON path (``context.draftOrders.entry[0]``)."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif not str(part).startswith(("function-", "literal[")):  # pydantic's internal steps
            path += f".{part}" if path else str(part)
    return path


def validation_issues(exc: ValidationError, *, prefix: str = "") -> list[Issue]:
    """Return one issue per pydantic error, with the field's JSON path (input never echoed)."""
    issues = []
    for err in exc.errors(include_input=False, include_url=False):
        path = json_path(tuple(err["loc"]))
        if prefix:
            path = f"{prefix}.{path}" if path else prefix
        code = "required" if err["type"] == "missing" else "invalid"
        message = err["msg"].removeprefix("Value error, ")
        where = path or "request"
        issues.append(Issue(code, f"{where}: {message}", path or None))
    return issues


def validate_model(model: type[ModelT], payload: Any) -> ModelT:
    """Validate ``payload`` against ``model``.

    Raises:
        BadRequest: with one issue per invalid field.
    """
    if not isinstance(payload, dict):
        raise BadRequest("the request body must be a JSON object")
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise BadRequest(validation_issues(exc)) from None
    except RecursionError:
        raise BadRequest("the request body is nested too deeply") from None


def draft_order_refs(draft_orders: dict[str, Any]) -> set[str]:
    """Return ``Type/id`` of every draft order that has an id."""
    refs = set()
    for entry in draft_orders.get("entry") or []:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and resource.get("id"):
            refs.add(f"{resource.get('resourceType')}/{resource['id']}")
    return refs


def _selection_issues(selections: list[str], draft_orders: dict[str, Any]) -> list[Issue]:
    known = draft_order_refs(draft_orders)
    return [
        Issue("invalid", f"context.selections[{i}]: {ref!r} is not an order in draftOrders",
              f"context.selections[{i}]")
        for i, ref in enumerate(selections)
        if ref not in known
    ]


def parse_hook_request(hook: Hook, payload: Any) -> HookRequest:
    """Validate a service call for ``hook``: fields, context and selections.

    Raises:
        BadRequest: with every problem found, each naming its JSON path.
    """
    if isinstance(payload, dict) and payload.get("hook") not in (None, hook.value):
        # Report the mismatch plainly instead of as a failed literal among context errors.
        raise BadRequest(Issue("invalid", f"hook: this service answers {hook.value!r}, "
                               f"not {payload.get('hook')!r}", "hook"))
    request = validate_model(REQUEST_MODELS[hook], payload)
    # Only the envelope makes a 400 (contract.md): the drafts themselves are read leniently,
    # an unreadable one named in the response (``case.drafts``).
    draft_orders = request.draft_orders
    if draft_orders is not None and request.selections is not None:
        issues = _selection_issues(request.selections, draft_orders)
        if issues:
            raise BadRequest(issues)
    return request


def parse_feedback(payload: Any) -> FeedbackRequest:
    """Validate a feedback body.

    Raises:
        BadRequest: naming every invalid item and field.
    """
    return validate_model(FeedbackRequest, payload)
