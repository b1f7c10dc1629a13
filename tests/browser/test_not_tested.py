"""Without a browser the browser tests skip and say so; under CI (``CI=true``) they fail instead."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.browser.conftest import CHROMIUM_VARIABLE
from tests.common import ROOT

pytestmark = pytest.mark.slow


def _run_without_chromium(ci: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env[CHROMIUM_VARIABLE] = "/nonexistent/chromium"
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
         "tests/browser/test_sandbox.py", "-k", "pama"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_a_missing_browser_is_a_skip_that_says_so_outside_ci() -> None:
    done = _run_without_chromium(ci=None)
    assert done.returncode == 0, done.stdout
    assert "1 skipped" in done.stdout
    assert "BROWSER NOT TESTED: CDS_TEST_CHROMIUM=/nonexistent/chromium" in done.stdout


def test_a_missing_browser_fails_under_ci() -> None:
    done = _run_without_chromium(ci="true")
    assert done.returncode == 1, done.stdout
    assert "BROWSER NOT TESTED" in done.stdout
    assert "1 error" in done.stdout
