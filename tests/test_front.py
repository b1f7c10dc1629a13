"""The buffering front (``cds_service/operations/front.py``) in process: ASGI messages in,
answers out.

tests/robustness/test_hostile_uploads.py runs the same faults through the real server.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from typing import Any

import pytest
from flask import Flask

from cds_service.operations.front import SPOOL_BYTES
from cds_service.operations.front import BufferingFront
from cds_service.state import service_state
from tests.common import issue_codes
from tests.common import scenario_request

LIMIT = 4 * SPOOL_BYTES


class Recorder:
    """A WSGI app that records what it was given and answers its body's length."""

    def __init__(self) -> None:
        self.environs: list[dict[str, Any]] = []
        self.bodies: list[bytes] = []
        self.closed = 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        self.environs.append(environ)
        body = environ["wsgi.input"].read()
        self.bodies.append(body)
        start_response("200 OK", [("Content-Type", "text/plain")])
        recorder = self

        class Answer(list[bytes]):
            def close(self) -> None:
                recorder.closed += 1

        return Answer([str(len(body)).encode()])


def _scope(headers: list[tuple[bytes, bytes]] = ()) -> dict[str, Any]:  # type: ignore[assignment]
    return {"type": "http", "http_version": "1.1", "method": "POST", "scheme": "http",
            "path": "/cds-services/sts-patient-view", "root_path": "", "query_string": b"",
            "headers": [(b"host", b"127.0.0.1"), *headers], "server": ("127.0.0.1", 8080),
            "client": ("127.0.0.1", 50000)}


def _chunked() -> list[tuple[bytes, bytes]]:
    return [(b"transfer-encoding", b"chunked")]


async def _call(front: BufferingFront, scope: dict[str, Any],
                messages: list[dict[str, Any]], *, then_wait: bool = False) -> list[dict[str, Any]]:
    """Feed ``messages`` to the front; if ``then_wait``, its next receive never returns."""
    queue = list(messages)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if queue:
            return queue.pop(0)
        if then_wait:
            await asyncio.Event().wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await asyncio.wait_for(front(scope, receive, send), timeout=30)
    return sent


def _answer(sent: list[dict[str, Any]]) -> tuple[int, bytes]:
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


def _front(app: Any, **limits: Any) -> BufferingFront:
    options: dict[str, Any] = {"threads": 2, "max_body_bytes": LIMIT, "body_timeout_s": 30}
    return BufferingFront(app, **(options | limits))


def _parts(body: bytes, size: int = 64 * 1024) -> list[dict[str, Any]]:
    parts = [body[i:i + size] for i in range(0, len(body), size)] or [b""]
    return [{"type": "http.request", "body": part, "more_body": i < len(parts) - 1}
            for i, part in enumerate(parts)]


@pytest.mark.parametrize("size", [0, 10, SPOOL_BYTES + 1, LIMIT])
def test_a_chunked_body_reaches_the_app_whole_with_its_length(size: int) -> None:
    app = Recorder()
    body = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    sent = asyncio.run(_call(_front(app), _scope(_chunked()), _parts(body)))
    assert _answer(sent) == (200, str(size).encode())
    assert app.bodies == [body]
    assert app.environs[0]["CONTENT_LENGTH"] == str(size)
    assert "HTTP_TRANSFER_ENCODING" not in app.environs[0]
    assert app.closed == 1  # the WSGI iterable is closed (Flask's call_on_close runs)


@pytest.mark.parametrize("headers", [_chunked(), [(b"content-length", str(LIMIT + 1).encode())]],
                         ids=["chunked", "content-length"])
def test_one_byte_over_the_limit_is_413_too_long_and_the_app_never_runs(
    headers: list[tuple[bytes, bytes]],
) -> None:
    app = Recorder()
    sent = asyncio.run(_call(_front(app), _scope(headers), _parts(b" " * (LIMIT + 1)),
                             then_wait=True))
    status, body = _answer(sent)
    assert status == 413 and issue_codes(json.loads(body)) == ["too-long"]
    assert (b"connection", b"close") in sent[0]["headers"]
    assert app.bodies == []


def test_a_body_still_arriving_at_the_timeout_is_408_timeout() -> None:
    app = Recorder()
    sent = asyncio.run(_call(_front(app, body_timeout_s=0.2), _scope(_chunked()),
                             _parts(b"{" * 10)[:-1] + [{"type": "http.request", "body": b"{",
                                                        "more_body": True}], then_wait=True))
    status, body = _answer(sent)
    outcome = json.loads(body)
    assert status == 408 and issue_codes(outcome) == ["timeout"]
    assert "CDS_BODY_TIMEOUT_S" in outcome["issue"][0]["diagnostics"]
    assert app.bodies == []


def test_a_trickling_body_is_timed_out_even_when_the_wait_swallows_the_cancellation() -> None:
    # Python 3.11's asyncio.wait_for (inside gunicorn's receive) returns a byte that arrives as
    # it is cancelled, and drops the cancellation: a client trickling a byte a second then
    # outlived any single timeout around the whole read.
    app = Recorder()

    calls = [0]

    async def receive() -> dict[str, Any]:
        calls[0] += 1
        if calls[0] > 200:  # about 4 s: the client gives up (a front that never times out)
            return {"type": "http.disconnect"}
        try:
            await asyncio.sleep(0.02)
        except asyncio.CancelledError:
            pass  # swallowed
        return {"type": "http.request", "body": b" ", "more_body": True}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    front = _front(app, body_timeout_s=0.3)
    asyncio.run(asyncio.wait_for(front(_scope(_chunked()), receive, send), timeout=30))
    status, body = _answer(sent)
    assert status == 408 and issue_codes(json.loads(body)) == ["timeout"]
    assert app.bodies == []


def test_an_app_that_raises_is_a_500_operation_outcome(caplog: pytest.LogCaptureFixture) -> None:
    def broken(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        raise RuntimeError("boom")

    sent = asyncio.run(_call(_front(broken), _scope(_chunked()), _parts(b"{}")))
    status, body = _answer(sent)
    assert status == 500 and issue_codes(json.loads(body)) == ["exception"]
    assert b"boom" not in body and "boom" in caplog.text  # the log has it, the client not


def test_a_client_gone_before_its_body_ended_is_a_400_and_the_app_never_runs() -> None:
    # Nobody reads the answer; it makes the access log say 400 rather than gunicorn's 500.
    app = Recorder()
    sent = asyncio.run(_call(_front(app), _scope(_chunked()),
                             [{"type": "http.request", "body": b"{", "more_body": True}]))
    assert _answer(sent)[0] == 400 and app.bodies == []


def test_held_bytes_are_bounded_a_body_waits_for_room_then_is_served() -> None:
    # Two bodies of 3 MiB with room for 4: the second waits until the first is answered.
    app = Recorder()
    front = _front(app, held_bytes=4 * 1024 * 1024)
    body = b" " * (3 * 1024 * 1024)

    async def both() -> list[list[dict[str, Any]]]:
        return list(await asyncio.gather(_call(front, _scope(_chunked()), _parts(body)),
                                         _call(front, _scope(_chunked()), _parts(body))))

    for sent in asyncio.run(both()):
        assert _answer(sent) == (200, str(len(body)).encode())
    assert front._budget.used == 0  # everything held was given back


def test_a_body_waiting_for_room_past_the_timeout_is_408() -> None:
    app = Recorder()
    front = _front(app, held_bytes=SPOOL_BYTES, body_timeout_s=0.3)

    async def both() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        # The first holds all the room and never finishes; the second cannot get in.
        first = _call(front, _scope(_chunked()),
                      [{"type": "http.request", "body": b" " * SPOOL_BYTES, "more_body": True}],
                      then_wait=True)
        second = _call(front, _scope(_chunked()), _parts(b" " * 1024))
        return await asyncio.gather(first, second)

    for sent in asyncio.run(both()):
        assert _answer(sent)[0] == 408
    assert front._budget.used == 0


def test_the_service_answers_through_the_front_as_it_does_directly(app: Flask) -> None:
    call = json.dumps(scenario_request("two-tumours-pecoma-and-ascmn", "patient-view.json"))
    front = BufferingFront.for_app(app, threads=2)
    assert front.max_body_bytes == service_state(app).settings.max_body_bytes
    sent = asyncio.run(_call(front, _scope(_chunked()), _parts(call.encode(), 1000)))
    status, body = _answer(sent)
    direct = app.test_client().post("/cds-services/sts-patient-view", data=call)
    assert status == direct.status_code == 200
    ids = [card["source"]["topic"]["code"] for card in json.loads(body)["cards"]]
    assert ids == [card["source"]["topic"]["code"] for card in direct.get_json()["cards"]]
    assert "sts-wide-excision" in ids


# --- probes, the operator listener, the front's own answers as the service's ----------------------

OPERATOR_PORT = 9091


class Holding:
    """A WSGI app whose hook calls wait until released (a stalled FHIR server); others answer."""

    def __init__(self) -> None:
        import threading

        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ["PATH_INFO"].startswith("/cds-services/"):
            self.entered.set()
            self.release.wait(30)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [f"{environ['PATH_INFO']} on {environ['SERVER_PORT']}".encode()]


def _get(path: str, port: int = 8080) -> dict[str, Any]:
    return _scope() | {"method": "GET", "path": path, "server": ("127.0.0.1", port)}


def test_probes_and_the_operator_listener_answer_while_the_only_request_thread_is_held() -> None:
    app = Holding()
    front = _front(app, threads=1, operator_port=OPERATOR_PORT)

    async def scenario() -> list[tuple[int, bytes]]:
        hook = asyncio.ensure_future(_call(front, _scope(), _parts(b"{}")))
        queued = asyncio.ensure_future(_call(front, _scope(), _parts(b"{}")))
        while not app.entered.is_set():  # the one request thread is taken
            await asyncio.sleep(0.01)
        answers = [_answer(await _call(front, scope, _parts(b"")))
                   for scope in (_get("/healthz"), _get("/readyz"),
                                 _get("/healthz", OPERATOR_PORT), _get("/metrics", OPERATOR_PORT))]
        assert not hook.done() and not queued.done()  # answered while both calls wait
        app.release.set()
        for call in (hook, queued):
            assert _answer(await call)[0] == 200
        return answers

    assert asyncio.run(scenario()) == [
        (200, b"/healthz on 8080"), (200, b"/readyz on 8080"),
        (200, f"/healthz on {OPERATOR_PORT}".encode()),
        (200, f"/metrics on {OPERATOR_PORT}".encode())]


def test_the_services_listener_routing_holds_through_the_front(make_client: Any) -> None:
    app = make_client(admin_bind=f"127.0.0.1:{OPERATOR_PORT}").application
    front = BufferingFront.for_app(app, threads=2)
    assert front.operator_port == OPERATOR_PORT

    def status(scope: dict[str, Any]) -> int:
        return int(_answer(asyncio.run(_call(front, scope, _parts(b""))))[0])

    assert status(_get("/metrics")) == 404
    assert status(_get("/metrics", OPERATOR_PORT)) == 200
    assert status(_get("/healthz")) == status(_get("/healthz", OPERATOR_PORT)) == 200
    assert status(_get("/openapi.json", OPERATOR_PORT)) == 404
    # The Host header names no listener: only the socket's port counts.
    assert status(_get("/metrics") | {"headers": [(b"host", b"127.0.0.1:9091")]}) == 404


def _refused_calls(front: BufferingFront, origin: bytes) -> list[dict[str, Any]]:
    """The front's answers to one call over the limit (413) and one too slow (408)."""
    too_long = _scope([(b"content-length", str(front.max_body_bytes + 1).encode()),
                       (b"origin", origin)])
    too_slow = _scope([*_chunked(), (b"origin", origin)]) | {"path": "/cds-services/sts-order-sign"}
    front.body_timeout_s = 0.2
    trickle = [{"type": "http.request", "body": b"{", "more_body": True}]
    return [asyncio.run(_call(front, too_long, [], then_wait=True)),
            asyncio.run(_call(front, too_slow, trickle, then_wait=True))]


def _requests_counted(service: str, status: int) -> float:
    from prometheus_client import REGISTRY

    value = REGISTRY.get_sample_value(
        "cds_requests_total", {"service": service, "endpoint": "call", "status": str(status)})
    return value or 0.0


def test_refusals_carry_cors_headers_and_are_counted_as_the_apps_answers(app: Flask) -> None:
    front = BufferingFront.for_app(app, threads=2)
    before = (_requests_counted("sts-patient-view", 413), _requests_counted("sts-order-sign", 408))

    too_long, too_slow = _refused_calls(front, b"https://sandbox.cds-hooks.org")

    assert [sent[0]["status"] for sent in (too_long, too_slow)] == [413, 408]
    for sent in (too_long, too_slow):
        assert (b"access-control-allow-origin", b"*") in sent[0]["headers"]
        assert json.loads(_answer(sent)[1])["resourceType"] == "OperationOutcome"
    assert (_requests_counted("sts-patient-view", 413),
            _requests_counted("sts-order-sign", 408)) == (before[0] + 1, before[1] + 1)


def test_refusals_echo_only_a_configured_origin(make_client: Any) -> None:
    app = make_client(cors_origins="https://ehr.example.org").application
    front = BufferingFront.for_app(app, threads=2)
    allowed = _refused_calls(front, b"https://ehr.example.org")[0][0]["headers"]
    refused = _refused_calls(front, b"https://evil.example.com")[0][0]["headers"]
    assert (b"access-control-allow-origin", b"https://ehr.example.org") in allowed
    assert (b"vary", b"Origin") in allowed
    assert not any(name == b"access-control-allow-origin" for name, _ in refused)
