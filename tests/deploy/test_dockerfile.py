"""``deploy/Dockerfile``, read with dockerfile-parse (no container engine runs here)."""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser

from tests.common import ROOT
from tests.common import free_port
from tests.deploy.common import DOCKERFILE
from tests.deploy.common import GUNICORN_CONF
from tests.deploy.common import exec_form
from tests.deploy.common import final_stage

IMAGE_CONF_PATH = "/app/gunicorn.conf.py"


def _instruction(name: str) -> str:
    values = [i["value"] for i in final_stage() if i["instruction"] == name]
    assert len(values) == 1, f"expected one {name} in the final stage, found {len(values)}"
    return values[0]


def _healthcheck_command() -> list[str]:
    options, _, command = _instruction("HEALTHCHECK").partition("CMD ")
    assert "--timeout=" in options and "--interval=" in options
    return exec_form(command)


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _run_healthcheck(port: int) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable if arg == "python" else arg.replace(":8080/", f":{port}/")
        for arg in _healthcheck_command()
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)


def test_every_stage_builds_on_one_pinned_slim_python_311_image() -> None:
    # An exact release (python:3.11.N-slim-<debian>), optionally by digest too: never a moving
    # minor tag, which would change the image under the same Dockerfile.
    parents = DockerfileParser(str(DOCKERFILE)).parent_images
    assert len(parents) == 2 and len(set(parents)) == 1
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", parents[0])


def test_the_image_runs_as_a_numeric_non_root_user() -> None:
    user, _, group = _instruction("USER").partition(":")
    # Numeric, so that Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
    assert user.isdigit() and int(user) != 0
    assert group.isdigit() and int(group) != 0


def test_the_command_is_cds_service_serve_with_the_gunicorn_config() -> None:
    command = exec_form(_instruction("ENTRYPOINT")) + exec_form(_instruction("CMD"))
    assert command == ["cds-service", "serve", "--config", IMAGE_CONF_PATH]
    copies = [i["value"].split() for i in final_stage() if i["instruction"] == "COPY"]
    assert ["deploy/gunicorn.conf.py", IMAGE_CONF_PATH] in copies
    assert _instruction("EXPOSE") == "8080 9090"  # public; operator (CDS_ADMIN_BIND)


def test_the_healthcheck_asks_healthz_with_python_not_curl() -> None:
    command = _healthcheck_command()
    assert command[:2] == ["python", "-c"]  # the slim image has neither curl nor wget
    assert "urllib.request" in command[2] and "http://127.0.0.1:8080/healthz" in command[2]


def test_every_copied_path_is_in_the_build_context() -> None:
    sources: list[str] = []
    for instruction in DockerfileParser(str(DOCKERFILE)).structure:
        if instruction["instruction"] == "COPY" and "--from=" not in instruction["value"]:
            sources += shlex.split(instruction["value"])[:-1]
    assert sources
    ignore = (ROOT / "deploy" / "Dockerfile.dockerignore").read_text(encoding="utf-8")
    for source in sources:
        assert (ROOT / source).exists(), source
        assert f"!{source}" in ignore or f"!{source}/**" in ignore, f"{source} is ignored"


@pytest.mark.slow
def test_the_healthcheck_passes_on_the_served_config_and_fails_once_it_stops(
    tmp_path: Path,
) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDS_")}
    env["CDS_DATABASE_URL"] = f"sqlite:///{tmp_path / 'served.sqlite3'}"
    process = subprocess.Popen(
        [sys.executable, "-m", "cds_service.cli", "serve", "--config", str(GUNICORN_CONF),
         "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while not _listening(port):
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        healthy = _run_healthcheck(port)
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=40)
    assert healthy.returncode == 0, healthy.stderr
    assert b"Booting worker" in stderr
    assert _run_healthcheck(port).returncode != 0


def test_the_image_limits_malloc_arenas_from_process_start() -> None:
    # The image states the malloc arena cap the service would otherwise set itself.
    assert DockerfileParser(str(DOCKERFILE)).envs["MALLOC_ARENA_MAX"] == "2"
