"""Decode a searchset keeping only the resources a reader wants, without building the rest.

Used on every searchset page fetched from a FHIR server and on every prefetched searchset of a
request body. A large record is mostly resources no rule reads (labs, vital signs). Decoding all
of them into Python objects cost more than anything else (790 Observations: 4-5 ms, and as much
again to judge them in freshly allocated memory). Here msgspec scans the page
once, keeping each entry's resource as raw bytes; each resource is then judged on a skeleton that
holds only the top-level elements the judge reads, and only the resources it keeps are decoded
whole. The answer is the one decoding everything and then judging would give: a page msgspec
refuses, or shaped in any way other than the usual, is left to the caller's full decoding.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import TypedDict

import msgspec

JsonObject = dict[str, Any]


@dataclass(frozen=True)
class Sieve:
    """Which resources of a searchset to keep, and which of their elements that decision reads.

    Attributes:
        keeps: true for a resource worth keeping. Given a skeleton of the resource, it must
            decide as it would on the whole resource.
        fields: the top-level element names ``keeps`` reads; a skeleton holds only these (and
            ``resourceType``).
    """

    keeps: Callable[[JsonObject], bool]
    fields: frozenset[str]
    _skeleton: msgspec.json.Decoder[Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # A TypedDict decodes to a plain dict of the listed keys; other keys are skipped unread.
        fields = dict.fromkeys(self.fields | {"resourceType"}, Any)
        shape = TypedDict("Skeleton", fields, total=False)  # type: ignore[misc]
        object.__setattr__(self, "_skeleton", msgspec.json.Decoder(shape))

    def skeleton(self, resource_json: bytes | memoryview) -> JsonObject:
        """The resource's top-level ``fields`` only, decoded (raises msgspec errors)."""
        skeleton: JsonObject = self._skeleton.decode(resource_json)
        return skeleton


class _Entry(msgspec.Struct):
    resource: msgspec.Raw = msgspec.Raw()
    search: Any = None


class _Page(msgspec.Struct):
    resourceType: Any = None  # noqa: N815 (the FHIR element name)
    link: Any = msgspec.UNSET
    entry: list[_Entry] | msgspec.UnsetType = msgspec.UNSET  # null is a broken shape too


_PAGE = msgspec.json.Decoder(_Page)
_OPEN_BRACE = ord("{")


def sift_searchset(
    body: bytes, sieve: Sieve, decode: Callable[[bytes], Any]
) -> JsonObject | None:
    """A Bundle holding ``resourceType``, ``link`` and the kept entries of ``body``.

    Args:
        body: a FHIR response body.
        sieve: which resources to keep.
        decode: decodes one kept resource's JSON whole (the client's decoder, so the values are
            those a full decoding gives).

    Returns:
        None when ``body`` is not a Bundle whose every entry is an object holding a resource
        object (a broken shape, which ``fhir.shape`` names), is a Bundle of only
        OperationOutcomes (which stands for missing data in prefetch), or is not JSON
        msgspec reads (NaN, a lone surrogate, deeper nesting than it allows...), or is not UTF-8
        (msgspec does not check the strings it skips): the caller then decodes it whole, and
        judges each resource as before.
    """
    if not is_utf8(body):
        return None
    try:
        page = _PAGE.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return None
    if page.resourceType != "Bundle":
        return None
    kept = []
    outcomes = 0
    try:
        for entry in page.entry or ():  # UNSET is falsy
            raw = memoryview(entry.resource)
            if not raw or raw[0] != _OPEN_BRACE:
                return None  # no resource, or not an object: a broken shape (fhir.shape)
            skeleton = sieve.skeleton(raw)
            outcomes += skeleton.get("resourceType") == "OperationOutcome"
            if sieve.keeps(skeleton):
                kept.append({"resource": decode(bytes(raw)), "search": entry.search})
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return None
    if outcomes and outcomes == len(page.entry or ()):
        return None  # an error in the place of data (cds-hooks.md F4): seen only whole
    sifted: JsonObject = {"resourceType": "Bundle", "entry": kept}
    if page.link is not msgspec.UNSET:
        sifted["link"] = page.link
    return sifted


def is_utf8(body: bytes) -> bool:
    """Whether ``body`` is valid UTF-8 (msgspec does not check the strings it skips)."""
    if body.isascii():
        return True
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
