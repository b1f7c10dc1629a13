"""Responses encoded by orjson, giving the JSON values the standard library would.

Request bodies are decoded by :mod:`json`: after ``gc.freeze()`` it is about as fast at the sizes
the service sees, and orjson's intermediate parse tree peaks at about three times the decoded
objects (70 MiB for a 4 MiB body; bench/FINDINGS.md).
"""

from __future__ import annotations

from typing import Any

import orjson
from flask.json.provider import DefaultJSONProvider
from werkzeug.sansio.response import Response

_ENCODE_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
"""Dates and dataclasses go to Flask's own ``default``, which formats them as before."""


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
