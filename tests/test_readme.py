"""The README's two opening commands are the ones users and CI run."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.common import ROOT


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```sh\n(.+?)\n```", text)


def test_readme_opens_with_the_serve_and_test_commands() -> None:
    serve, test = _readme_commands()[:2]
    assert serve.endswith("cds-service serve")
    assert test.endswith("python -m pytest")
    for command in (serve, test):
        assert command.startswith("python3 -m venv .venv && .venv/bin/pip install")


def test_ci_runs_exactly_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    test_command = _readme_commands()[1]
    assert f'TEST_COMMAND="{test_command}"' in ci


def test_ci_installs_chromium_before_running_the_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    install = ci.index(".ci/install-chromium")
    assert install < ci.index('bash -c "$TEST_COMMAND"')
    assert "exit 1" in ci[install:ci.index("TEST_COMMAND=")], "a failed install stops CI"


def _stub(folder: Path, name: str, script: str) -> None:
    path = folder / name
    path.write_text(f"#!/bin/sh\n{script}\n", encoding="utf-8")
    path.chmod(0o755)


def _install_chromium(stubs: Path) -> tuple[int, list[str]]:
    """Run .ci/install-chromium with only ``stubs`` on PATH; the apt-get calls it made."""
    log = stubs / "apt-get.log"
    _stub(stubs, "apt-get", f'echo "$*" >> {log}\nexit "${{APT_STATUS:-0}}"')
    _stub(stubs, "sudo", 'exec "$@"')
    done = subprocess.run(["/bin/bash", str(ROOT / ".ci" / "install-chromium")],
                          env={"PATH": str(stubs), "APT_STATUS": os.environ.get("APT_STATUS", "0")},
                          capture_output=True, text=True, timeout=60)
    calls = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
    return done.returncode, calls


def test_chromium_is_installed_from_debian_when_missing(tmp_path: Path) -> None:
    assert _install_chromium(tmp_path) == (0, ["update -qq", "install -y -qq chromium"])


def test_chromium_already_there_is_not_installed_again(tmp_path: Path) -> None:
    _stub(tmp_path, "chromium", "exit 0")
    assert _install_chromium(tmp_path) == (0, [])


def test_a_failed_install_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APT_STATUS", "100")
    status, calls = _install_chromium(tmp_path)
    assert status != 0
    assert calls == ["update -qq"]
