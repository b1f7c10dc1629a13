"""Fast JSON through orjson, giving exactly the standard library's values and error messages."""

from __future__ import annotations

import json
from typing import Any

import orjson
from flask.json.provider import DefaultJSONProvider
from werkzeug.sansio.response import Response

_DIGIT_MARKS = bytes(0x31 if 0x30 <= byte <= 0x39 else 0x30 for byte in range(256))
"""Maps every digit to ``1`` and every other byte to ``0``, to find long digit runs fast."""

_LONG_DIGIT_RUN = b"1" * 19
"""Every integer outside orjson's 64-bit range has at least this many digits."""

_SCAN_CHUNK = 1 << 16
"""Bytes marked at a time: a whole large body marked at once would be one more copy of it."""

_ORJSON_MAX_DEPTH = 1024
"""orjson refuses documents nested deeper than this."""

_CHECKED_DEPTH = 512
"""Bodies nested deeper than this are read by :mod:`json` alone (see :func:`loads`)."""

_PAD = _ORJSON_MAX_DEPTH - _CHECKED_DEPTH
_PROBE = b"[" * _CHECKED_DEPTH + b"]" * _CHECKED_DEPTH

_ENCODE_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
"""Dates and dataclasses go to Flask's own ``default``, which formats them as before."""


def loads(body: bytes) -> Any:
    """Parse ``body`` exactly as ``json.loads(body)`` does, with orjson where that is the same.

    orjson reads UTF-8 JSON faster, with fewer objects (it shares repeated keys), and refuses what
    :mod:`json` reads differently (``NaN``, a byte order mark, UTF-16, lone surrogates) or fails
    on: :mod:`json` then parses the body again, so its value, or its exception and message, is the
    answer. Two differences are ruled out first: orjson turns integers beyond 64 bits into floats
    (a body with a run of 19 digits goes to :mod:`json`), and it nests 1,024 levels where
    :mod:`json` stops at what is left of Python's recursion limit. For the second, the body is
    parsed inside 512 extra brackets, so orjson refuses anything nested more than 512 deep, after
    checking that :mod:`json` can still nest 512 deep at this point of the stack.

    Raises:
        json.JSONDecodeError: the body is not valid JSON.
        UnicodeDecodeError: the body is not UTF-8 (nor UTF-16 or UTF-32).
        RecursionError: the body is nested deeper than :mod:`json` can follow.
    """
    if _has_long_digit_run(body):
        return json.loads(body)
    try:
        json.loads(_PROBE)
        wrapped = orjson.loads(b"[" * _PAD + body + b"]" * _PAD)
    except (orjson.JSONDecodeError, RecursionError):
        return json.loads(body)
    for _ in range(_PAD):
        # A body that closes the added brackets and opens others leaves a list of two or more.
        if not isinstance(wrapped, list) or len(wrapped) != 1:
            return json.loads(body)
        wrapped = wrapped[0]
    return wrapped


def _has_long_digit_run(body: bytes) -> bool:
    overlap = len(_LONG_DIGIT_RUN) - 1  # a run across two chunks is seen whole in the first
    for start in range(0, len(body), _SCAN_CHUNK):
        chunk = body[start:start + _SCAN_CHUNK + overlap]
        if chunk.translate(_DIGIT_MARKS).find(_LONG_DIGIT_RUN) >= 0:
            return True
    return False


class OrjsonProvider(DefaultJSONProvider):
    """Flask's JSON provider with responses encoded by orjson.

    Responses are compact, keep the key order and carry non-ASCII characters as UTF-8. Whatever
    orjson cannot encode (integers beyond 64 bits, non-string keys, lone surrogates), debug mode's
    indented responses and :meth:`dumps` go through Flask's own :mod:`json` encoder, as before.
    """

    sort_keys = False

    def response(self, *args: Any, **kwargs: Any) -> Response:
        """A JSON response of the arguments, as :meth:`DefaultJSONProvider.response` builds it."""
        if (self.compact is None and self._app.debug) or self.compact is False:
            return super().response(*args, **kwargs)
        obj = self._prepare_response_obj(args, kwargs)
        body = self._encode(obj) + b"\n"
        return self._app.response_class(body, mimetype=self.mimetype)  # type: ignore[arg-type]

    def _encode(self, obj: Any) -> bytes:
        if self.sort_keys:
            return super().dumps(obj, separators=(",", ":")).encode()
        try:
            return orjson.dumps(obj, default=self.default, option=_ENCODE_OPTIONS)
        except orjson.JSONEncodeError:
            return super().dumps(obj, separators=(",", ":")).encode()
