"""orjson decoding and encoding give what the standard library gave (contract.md "Errors")."""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

import pytest
from flask import Flask
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from cds_service import jsonio


def _typed(value: Any) -> Any:
    """``value`` with each scalar tagged by its type (else 1 == 1.0 == True); NaN equals NaN."""
    if isinstance(value, dict):
        return ("dict", [(key, _typed(item)) for key, item in value.items()])
    if isinstance(value, list):
        return ("list", [_typed(item) for item in value])
    if isinstance(value, float):
        return ("float", "nan" if math.isnan(value) else repr(value))
    return (type(value).__name__, value)


def _outcome(parse: Any, body: bytes) -> Any:
    try:
        return ("value", _typed(parse(body)))
    except json.JSONDecodeError as exc:
        return ("JSONDecodeError", exc.msg, exc.lineno, exc.colno)
    except (UnicodeDecodeError, RecursionError) as exc:
        return (type(exc).__name__, str(exc))


SAME_AS_JSON = [
    pytest.param(b'{"hook": "patient-view", "n": [1, -2.5, 1e16, 5e-324, -0.0, true, null]}',
                 id="ordinary"),
    pytest.param(b'{"a": NaN, "b": Infinity, "c": -Infinity}', id="nan-and-infinity-accepted"),
    pytest.param(b"[1e400, -1e400]", id="overflowing-floats-are-infinite"),
    pytest.param(b"[18446744073709551616, -9223372036854775809, 123456789012345678901234567890]",
                 id="integers-beyond-64-bits-stay-integers"),
    pytest.param(b'["id-1234567890123456789012"]', id="long-digit-run-in-a-string"),
    pytest.param(b'{"a": 1, "a": 2}', id="duplicate-key-last-wins"),
    pytest.param(b'["\\ud800", "\\udc00x"]', id="lone-surrogate-escapes"),
    pytest.param(b'["\xed\xa0\x80"]', id="encoded-surrogate"),
    pytest.param(b"\xef\xbb\xbf{}", id="utf-8-byte-order-mark"),
    pytest.param('{"a": "é"}'.encode("utf-16"), id="utf-16"),
    pytest.param(b"\xff{}", id="not-utf-8"),
    pytest.param(b'{"hook": "patient-view",', id="truncated"),
    pytest.param(b'{"a": 1,}', id="trailing-comma"),
    pytest.param(b'{"a":\n [1 2]}', id="missing-delimiter-second-line"),
    pytest.param(b"[1]x", id="extra-data"),
    pytest.param(b'{"a": "\x01"}', id="control-character"),
    pytest.param(b'{"a": 01}', id="leading-zero"),
    pytest.param(b'{"a": nan}', id="lower-case-nan"),
    pytest.param(b"1],[2", id="closes-the-added-brackets"),
    pytest.param(b"1]]" + b",[" * 3 + b"2", id="closes-and-reopens"),
    pytest.param(b"[" * 600 + b"]" * 600, id="nested-600-deep"),
    # json stops short of 1,020 levels (Python's recursion limit, 1,000); orjson would read 1,024.
    pytest.param(b"[" * 1020 + b"]" * 1020, id="nested-1020-deep"),
    pytest.param(b"[" * 100_000 + b"]" * 100_000, id="nested-past-the-recursion-limit"),
    pytest.param(b"  42  ", id="scalar-with-whitespace"),
]


@pytest.mark.parametrize("body", SAME_AS_JSON)
def test_loads_gives_json_loads_value_or_error(body: bytes) -> None:
    assert _outcome(jsonio.loads, body) == _outcome(json.loads, body)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(value=_json_values, ascii_only=st.booleans(), indent=st.sampled_from([None, 1]))
def test_loads_agrees_with_json_on_any_document(value: Any, ascii_only: bool,
                                                 indent: int | None) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only, indent=indent)
    body = text.encode("utf-8", "surrogatepass")
    assert _outcome(jsonio.loads, body) == _outcome(json.loads, body)


@pytest.fixture
def provider_app() -> Flask:
    app = Flask(__name__)
    app.json = jsonio.OrjsonProvider(app)
    return app


def test_responses_are_compact_ordered_utf8_json(provider_app: Flask) -> None:
    response = provider_app.json.response({"z": "Sarkom der Hand – Ø 2,3 cm", "a": [1, 2.5, None]})
    assert response.mimetype == "application/json"
    assert response.get_data() == ('{"z":"Sarkom der Hand – Ø 2,3 cm","a":[1,2.5,null]}\n'
                                   .encode())


@pytest.mark.parametrize(
    "value",
    [
        pytest.param({"big": 2**64}, id="integer-beyond-64-bits"),
        pytest.param({1: "non-string key"}, id="non-string-key"),
        pytest.param({"text": "\ud800"}, id="lone-surrogate"),
        pytest.param({"when": dt.date(2026, 11, 22)}, id="date-as-http-date"),
    ],
)
def test_what_orjson_cannot_encode_comes_out_as_flask_made_it(provider_app: Flask,
                                                              value: Any) -> None:
    flask_made = json.dumps(value, default=jsonio.OrjsonProvider.default, separators=(",", ":"))
    assert provider_app.json.response(value).get_data() == f"{flask_made}\n".encode()


def test_debug_responses_stay_indented(provider_app: Flask) -> None:
    provider_app.debug = True
    assert provider_app.json.response({"b": 1, "a": 2}).get_data() == b'{\n  "b": 1,\n  "a": 2\n}\n'
