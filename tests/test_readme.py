"""The README's two opening commands are the ones users and CI run; the README is one page whose
links, and the docs' links, lead somewhere; its curl call sends a request shipped in the
repository."""

from __future__ import annotations

import json
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


def test_the_serve_command_installs_only_what_serving_needs() -> None:
    serve, test = _readme_commands()[:2]
    assert serve == ("python3 -m venv .venv && .venv/bin/pip install -q -e . "
                     "&& .venv/bin/cds-service serve")
    assert "pip install -q -e '.[test]' &&" in test


def test_the_readme_is_one_page() -> None:
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 200


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_relative_link_of_the_readme_and_docs_leads_somewhere() -> None:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    broken = []
    for page in pages:
        text = page.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            if not linked.exists():
                broken.append(f"{page.name}: {target}")
            elif anchor and anchor not in {_slug(h) for h in re.findall(
                    r"^#+ (.+)$", linked.read_text(encoding="utf-8"), re.M)}:
                broken.append(f"{page.name}: {target}")
    assert not broken


def test_every_doc_is_linked_from_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert {f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md")} <= set(
        re.findall(r"\]\((docs/[\w-]+\.md)", readme))


def test_the_readmes_curl_call_sends_the_shipped_scenario_request() -> None:
    from cds_service.scenarios import call_request

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    (curl,) = re.findall(r"```sh\n(curl .+?)\n```", readme, re.S)
    (sent,) = re.findall(r"--data @(\S+)", curl)
    assert "/cds-services/sts-order-sign" in curl
    shipped = json.loads((ROOT / sent).read_text(encoding="utf-8"))
    assert shipped == call_request(ROOT / "fhir_fixtures" / "pecoma-lung-metastases-doxorubicin",
                                   "order-sign.json")
    assert "sirolimus" in readme[readme.index(curl):]


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


def test_the_readme_documents_every_setting_and_identifier() -> None:
    """contract.md: the settings "all documented in the README", the CodeSystem URIs and the
    extension key "in the README"."""
    from cds_service import identifiers
    from cds_service.settings import Settings

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    settings = readme[readme.index("## Settings"):]
    missing = [name for name in Settings.model_fields if f"`CDS_{name.upper()}`" not in settings]
    assert not missing
    for value in (identifiers.RECOMMENDATION_SYSTEM, identifiers.OVERRIDE_REASON_SYSTEM,
                  identifiers.EXTENSION_KEY):
        assert f"`{value}`" in readme
