"""A gunicorn worker killed with SIGKILL under load makes no answered card vanish (issue 16).

contract.md ("Accounted for"): before a response is sent, each of its cards is committed to the
ledger or written to a local spool that the next worker start replays into it; a card that could
be neither is logged by uuid and counted. The test runs ``cds-service serve`` (two workers) on a
SQLite store, sends patient-view calls from eight clients, kills one worker with SIGKILL in the
middle of the load (three times), lets gunicorn start the replacements, and then finds every card
uuid answered with a 200 in the card ledger, or named in a "spool not written" log line.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.common import free_port
from tests.common import scenario_request

SCENARIO = "pecoma-lung-metastases-doxorubicin"
TODAY = "2026-11-22"
SERVICE_URL = "/cds-services/sts-patient-view"
CLIENTS = 8
KILLS = 3

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc")]


def _workers(master: int) -> set[int]:
    """The live child processes of ``master`` (gunicorn's workers)."""
    workers = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # "pid (name) state ppid ...": the name may hold spaces, so split after it.
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # ended meanwhile
        if int(fields[1]) == master and fields[0] != "Z":
            workers.add(int(stat.parent.name))
    return workers


def _wait_until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


class Load:
    """Clients posting patient-view calls; keeps the card uuids of every call answered 200."""

    def __init__(self, port: int, body: bytes) -> None:
        self._port = port
        self._body = body
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.answered: set[str] = set()
        self.calls = 0
        self._threads = [threading.Thread(target=self._client, daemon=True)
                         for _ in range(CLIENTS)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def _client(self) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self._port, timeout=20)
        while not self._stop.is_set():
            try:
                connection.request("POST", SERVICE_URL, body=self._body,
                                   headers={"Content-Type": "application/json"})
                response = connection.getresponse()
                payload = response.read()
            except (OSError, http.client.HTTPException):  # the killed worker's connections
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", self._port, timeout=20)
                continue
            if response.status == 200:
                uuids = {card["uuid"] for card in json.loads(payload)["cards"]}
                with self._lock:
                    self.answered |= uuids
                    self.calls += 1
        connection.close()


def _ledger(database: Path) -> set[str]:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10) as connection:
        return {row[0] for row in connection.execute("SELECT card_uuid FROM card_ledger")}


def test_every_card_answered_by_a_killed_worker_is_in_the_ledger_or_logged(
    tmp_path: Path,
) -> None:
    database = tmp_path / "served.sqlite3"
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CDS_") and k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update({"CDS_DATABASE_URL": f"sqlite:///{database}", "CDS_TODAY": TODAY})
    log_path = tmp_path / "service.log"
    with log_path.open("wb") as log_file:
        master = subprocess.Popen(
            [sys.executable, "-m", "cds_service.cli", "serve", "--port", str(port),
             "--workers", "2", "--threads", "4"],
            env=env, stdout=subprocess.DEVNULL, stderr=log_file,
        )
        try:
            _wait_until(lambda: len(_workers(master.pid)) == 2 and _healthy(port), 60,
                        "the service to start")
            body = json.dumps(scenario_request(SCENARIO, "patient-view.json")).encode()
            load = Load(port, body)
            load.start()
            victims: set[int] = set()
            for _ in range(KILLS):  # each kill catches the worker with calls not yet committed
                _wait_until(lambda before=load.calls: load.calls >= before + 60, 60,
                            "calls answered under load")
                victim = min(_workers(master.pid) - victims)
                os.kill(victim, signal.SIGKILL)
                victims.add(victim)
                _wait_until(lambda: len(_workers(master.pid) - victims) == 2, 60,
                            "gunicorn to replace the killed worker")
            calls = load.calls
            _wait_until(lambda: load.calls >= calls + 60, 60, "calls after the last kill")
            load.stop()
            # The replacement replays the killed worker's spool as it starts.
            _wait_until(lambda: load.answered <= _ledger(database) | _logged(log_path), 30,
                        "every answered card in the ledger")
        finally:
            master.send_signal(signal.SIGTERM)
            master.wait(timeout=60)
    missing = load.answered - _ledger(database) - _logged(log_path)
    assert not missing, f"{len(missing)} answered cards left no trace"


def _healthy(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", "/healthz")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def _logged(log_path: Path) -> set[str]:
    """The card uuids named in "spool not written" log lines (cards neither spooled nor
    committed)."""
    uuids: set[str] = set()
    for line in log_path.read_text(errors="replace").splitlines():
        if "spool not written" in line:
            uuids |= {word.split(":")[0] for word in line.replace('"', " ").split()
                      if word.count("-") == 4}
    return uuids
