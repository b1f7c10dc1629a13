"""orjson-encoded responses give the JSON the standard library would."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from flask import Flask

from cds_service import jsonio


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
