"""The ``cds-service`` command line: serve under gunicorn, list the catalogue."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from cds_service import cli
from cds_service.operations import prefork
from tests.common import capture_gunicorn_options
from tests.common import free_port
from tests.common import scenario_request


def test_serve_passes_flags_and_settings_to_gunicorn(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = capture_gunicorn_options(monkeypatch)
    monkeypatch.setenv("CDS_WORKERS", "3")
    monkeypatch.setenv("CDS_THREADS", "6")

    assert cli.main(["serve", "--port", "9999", "--threads", "2"]) == 0

    assert seen["ran"] and seen["bind"] == ["127.0.0.1:9999"]
    assert (seen["workers"], seen["threads"]) == (3, 2)  # the flag overrides CDS_THREADS
    assert seen["worker_class"] == "cds_service.operations.front.BufferingWorker"
    # Warm-up and heap freeze in the master before the fork; FHIR pools in each worker after it.
    assert seen["when_ready"] is prefork.when_ready
    assert seen["post_worker_init"] is prefork.post_worker_init
    assert seen["worker_exit"] is prefork.worker_exit  # pending ledger rows written at stop


def test_invalid_settings_exit_2_with_a_message(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CDS_MAX_BODY_MB", "lots")
    assert cli.main(["catalog"]) == 2
    err = capsys.readouterr().err
    assert "invalid settings" in err and "max_body_mb" in err


def test_catalog_lists_every_recommendation(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["catalog"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 31
    assert lines[0].split("\t")[:2] == ["sts-histologic-confirmation", "patient-view"]


@pytest.mark.slow
def test_serve_runs_the_service_under_gunicorn(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDS_")}
    env["CDS_DATABASE_URL"] = f"sqlite:///{tmp_path / 'served.sqlite3'}"
    process = subprocess.Popen(
        [sys.executable, "-m", "cds_service.cli", "serve", "--port", str(port), "--workers", "1"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=1) as response:
                    assert json.load(response) == {"status": "ok"}
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.2)
        call = urllib.request.Request(
            f"{base}/cds-services/sts-patient-view",
            data=json.dumps(scenario_request("no-tumour-hypertension", "patient-view.json"))
            .encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(call, timeout=5) as response:
            assert json.load(response) == {"cards": []}
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=30)
    assert b"Booting worker" in stderr  # gunicorn, not the Flask development server
    assert b"warmed up and froze" in stderr  # before the fork, in the master
    # Every line is one JSON object, gunicorn's own start-up, worker and access lines too.
    lines = [line for line in (stdout + stderr).decode().splitlines() if line.strip()]
    loggers = {json.loads(line)["logger"] for line in lines}
    assert {"gunicorn.error", "gunicorn.access", "cds_service.prefork"} <= loggers


def test_help_describes_every_command_in_plain_text(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(["--help"])
    assert done.value.code == 0
    overview = capsys.readouterr().out
    assert "CDS Hooks 2.0 service" in overview
    for command, described in [("serve", "under gunicorn"), ("evaluate", "case model"),
                               ("validate", "validation report"), ("migrate", "schema revision"),
                               ("catalog", "recommendation id")]:
        assert f"\n    {command} " in overview
        with pytest.raises(SystemExit) as done:
            cli.main([command, "--help"])
        assert done.value.code == 0
        help_text = capsys.readouterr().out
        assert described in " ".join(help_text.split()), command
        assert "``" not in help_text, "plain text, not reStructuredText"
