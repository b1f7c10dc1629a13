"""The README's two opening commands are the ones users and CI run."""

from __future__ import annotations

import re

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
