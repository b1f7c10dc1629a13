"""``cds-service validate``: every shipped scenario through the one pipeline, as an HTML report.

CI runs the command here over the shipped fixtures (exit 0 and the report's content), and over
broken copies of them (a wrong expectation must fail it and show in the report).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cds_service.cli import main
from cds_service.guidance import Guidance
from cds_service.guidelines.catalogue import load_catalogue
from cds_service.guidelines.versioning import load_version
from cds_service.scenarios import load_scenarios
from cds_service.settings import Settings
from cds_service.validation import Validator
from cds_service.validation import label_patterns
from cds_service.vocabulary import Hook
from cds_service.vocabulary import Indicator
from cds_service.web.markdown import render_markdown
from tests.common import FIXTURES_DIR
from tests.web.html_check import check_page

CATALOGUE = load_catalogue()
BASE = "https://cds.example.org"
THUMB = "ascmn-thumb-untreated"


def _copy(tmp_path: Path, *names: str) -> Path:
    root = tmp_path / "fixtures"
    for name in names:
        shutil.copytree(FIXTURES_DIR / name, root / name)
    return root


def _edit_manifest(folder: Path, edit: Any) -> None:
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    edit(manifest)
    path.write_text(json.dumps(manifest), encoding="utf-8")


def _validate(tmp_path: Path, *args: str) -> tuple[int, str]:
    output = tmp_path / "report.html"
    status = main(["validate", "--output", str(output), "--base-url", BASE, *args])
    return status, output.read_text(encoding="utf-8") if output.exists() else ""


def _section(page: str, rec_id: str) -> str:
    """The report's section on ``rec_id`` (up to the next recommendation or the scenarios)."""
    start = page.index(f'<h3 id="rec-{rec_id}">')
    rest = page[start + 1:]
    ends = [rest.index(mark) for mark in ('<h3 id="rec-', '<h2 id="scenarios">') if mark in rest]
    return rest[:min(ends)]


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.fixture(scope="module")
def shipped() -> tuple[int, str, str]:
    """The console script over the shipped fixtures, as CI runs it: status, page, stderr."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("CDS_")}
    done = subprocess.run(
        [sys.executable, "-m", "cds_service.cli", "validate", "--base-url", BASE],
        capture_output=True, text=True, timeout=300, check=False, env=env)
    return done.returncode, done.stdout, done.stderr


def test_the_shipped_scenarios_all_pass(shipped: tuple[int, str, str]) -> None:
    status, page, stderr = shipped
    assert status == 0, stderr
    calls = sum(len(s.manifest.calls) for s in load_scenarios(FIXTURES_DIR))
    assert f"{calls} calls of" in stderr and "all pass" in stderr
    assert "All checks pass." in page and "FAIL" not in _text(page)


def test_the_report_is_one_valid_self_contained_page(shipped: tuple[int, str, str]) -> None:
    page = check_page(shipped[1])
    assert page.problems == []
    assert {"name": "viewport", "content": "width=device-width, initial-scale=1"} in page.metas
    assert page.counts.get("h1") == 1
    # Nothing is fetched: no script, stylesheet, image or frame; links go to anchors or the service.
    for tag in ("script", "link", "img", "iframe", "object", "embed"):
        assert tag not in page.counts, tag
    assert "src=" not in shipped[1] and "url(" not in shipped[1]
    assert all(href.startswith(("#", f"{BASE}/recommendations", "https://doi.org/"))
               for href in page.hrefs), sorted(set(page.hrefs))


def test_the_report_names_the_knowledge_version_and_hash(shipped: tuple[int, str, str]) -> None:
    version = load_version(CATALOGUE)
    assert version.content_hash in shipped[1]
    assert f"<strong>{version.version}</strong>" in shipped[1]


@pytest.mark.parametrize("rec_id", CATALOGUE.ids)
def test_each_recommendation_shows_title_trigger_page_and_checks(
    shipped: tuple[int, str, str], rec_id: str,
) -> None:
    spec = CATALOGUE.get(rec_id)
    assert spec is not None
    section = _section(shipped[1], rec_id)
    assert section.split("</h3>", 1)[0].endswith(spec.title.replace("'", "&#39;"))
    assert str(render_markdown(spec.fires_when)) in section
    assert f'href="{BASE}/recommendations/{rec_id}"' in section
    scenarios = load_scenarios(FIXTURES_DIR)
    fires = sum(1 for s in scenarios for c in s.manifest.calls if rec_id in c.must)
    silent = sum(1 for s in scenarios for c in s.manifest.calls if rec_id in c.must_not)
    assert f"<strong>Must fire</strong> ({fires})" in section
    assert f"<strong>Must stay silent</strong> ({silent})" in section


def test_a_check_shows_the_card_produced_with_its_suggestions(
    shipped: tuple[int, str, str],
) -> None:
    # The thumb scenario's order-sign call: the draft ultrasound must be replaced by an MRI.
    section = _section(shipped[1], "sts-mri-local-staging")
    item = section.split(f'<a href="#scenario-{THUMB}">{THUMB}</a> · order-sign', 1)[1]
    item = _text(item.split("</li>\n\n<li", 1)[0])
    assert "warning" in item
    assert re.search(r"Suggestion “[^”]+” \( replace-with-mri \): create \+ delete", item), item
    # ... and the scenario's description is on the page, under its anchor.
    description = load_scenarios(FIXTURES_DIR)[0].manifest.description
    assert f'id="scenario-{load_scenarios(FIXTURES_DIR)[0].name}"' in shipped[1]
    assert _text(description.replace("'", "&#39;").replace('"', "&#34;")).strip() \
        in _text(shipped[1])


def test_a_wrong_must_fails_validate_and_shows_in_the_report(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str],
                                                             ) -> None:
    root = _copy(tmp_path, THUMB, "sts-thigh-high-grade-r1")

    def wrong(manifest: dict[str, Any]) -> None:
        call = manifest["calls"][0]  # patient-view of an untreated ascmn: not a sarcoma
        call["must_not"].remove("sts-specialist-referral")
        call["must"].append("sts-specialist-referral")
        call["indicators"]["ascmn-ihc-panel"] = "critical"

    _edit_manifest(root / THUMB, wrong)
    status, page = _validate(tmp_path, "--fixtures", str(root))
    stderr = capsys.readouterr().err
    assert status == 1
    assert f"FAIL {THUMB}: patient-view.json: sts-specialist-referral must fire: no card" \
        in stderr
    assert (f"FAIL {THUMB}: patient-view.json: ascmn-ihc-panel must fire: indicator info, "
            f"expected critical") in stderr
    assert "Validation FAILED." in page and check_page(page).problems == []
    failures = _text(page.split('<h2 id="failures">', 1)[1].split("<h2", 1)[0])
    assert f"{THUMB}: patient-view.json: sts-specialist-referral must fire: no card" in failures
    assert "sts-thigh-high-grade-r1" not in failures  # the other scenario still passes
    referral = _text(_section(page, "sts-specialist-referral"))
    assert f"FAIL {THUMB} · patient-view ( patient-view.json ) no card" in referral
    assert "sts-specialist-referral" in _text(page.split('<h2 id="recommendations">', 1)[1]
                                               .split("</table>", 1)[0])


def test_a_card_where_it_must_stay_silent_fails(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    root = _copy(tmp_path, THUMB)

    def wrong(manifest: dict[str, Any]) -> None:
        call = manifest["calls"][0]
        call["must"].remove("ascmn-acral-function")
        del call["indicators"]["ascmn-acral-function"]
        call["must_not"].append("ascmn-acral-function")

    _edit_manifest(root / THUMB, wrong)
    status, page = _validate(tmp_path, "--fixtures", str(root))
    assert status == 1
    assert "ascmn-acral-function must stay silent: 1 card(s) shown" in capsys.readouterr().err
    section = _text(_section(page, "ascmn-acral-function"))
    assert (f"Must stay silent (2): FAIL {THUMB} · patient-view ( patient-view.json ) "
            f"1 card(s) shown info") in section
    assert f"pass {THUMB} · order-sign ( order-sign.json )" in section


def test_an_unknown_id_in_a_manifest_fails(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    root = _copy(tmp_path, THUMB)
    _edit_manifest(root / THUMB,
                   lambda manifest: manifest["calls"][0]["must_not"].append("sts-no-such-rule"))
    status, page = _validate(tmp_path, "--fixtures", str(root))
    assert status == 1
    assert "unknown recommendation id: sts-no-such-rule" in capsys.readouterr().err
    assert "sts-no-such-rule" in page


def test_coverage_names_what_the_scenarios_do_not_show(tmp_path: Path) -> None:
    # Only the thumb scenario's patient-view call: no order hook is called at all.
    root = _copy(tmp_path, THUMB)
    _edit_manifest(root / THUMB, lambda manifest: manifest.update(calls=manifest["calls"][:1]))
    guidance = Guidance.load(CATALOGUE, None)
    report = Validator(guidance, Settings()).run(load_scenarios(root))
    assert report.passed
    assert dict(report.hooks_called) == {Hook.PATIENT_VIEW: True, Hook.ORDER_SELECT: False,
                                         Hook.ORDER_SIGN: False}
    by_id = {result.spec.id: result for result in report.recommendations}
    mri = by_id["sts-mri-local-staging"].coverage  # fires at info on patient-view here
    assert dict(mri.hooks) == {Hook.PATIENT_VIEW: True, Hook.ORDER_SELECT: False,
                               Hook.ORDER_SIGN: False}
    assert dict(mri.indicators) == {Indicator.INFO: True, Indicator.WARNING: False}
    assert dict(mri.suggestions) == {"mri": ("create",), "replace-with-mri": ()}
    assert mri.uncovered == ("hook order-select", "hook order-sign", "indicator warning",
                             "suggestion replace-with-mri", "no scenario where it must stay silent")
    named_nowhere = by_id["ilms-rms-transformation"].coverage
    assert named_nowhere.uncovered == ("hook patient-view", "indicator warning",
                                       "no scenario where it must stay silent")
    silent_only = by_id["pecoma-ihc-panel"].coverage  # in must_not here, never in must
    assert silent_only.uncovered == ("hook patient-view", "indicator info")
    assert by_id["ascmn-acral-function"].coverage.uncovered == (
        "no scenario where it must stay silent",)

    status = main(["validate", "--fixtures", str(root), "--output", str(tmp_path / "r.html")])
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert status == 0
    hooks = _text(page.split("<h3>Hooks called by the scenarios</h3>", 1)[1].split("</ul>")[0])
    assert hooks.split() == "order-select: never called order-sign: never called " \
                            "patient-view: called".split()
    gaps = _text(page.split("<h3>Not covered</h3>", 1)[1].split("</ul>")[0])
    assert ("sts-mri-local-staging : hook order-select; hook order-sign; indicator warning; "
            "suggestion replace-with-mri; no scenario where it must stay silent") in gaps
    assert re.search(r"pecoma-ihc-panel : hook patient-view; indicator info [a-z]", gaps)


def test_the_shipped_scenarios_cover_every_hook_indicator_and_suggestion() -> None:
    # The coverage the report computes, not its HTML: a recommendation, hook, indicator or
    # suggestion no passing scenario shows (or a recommendation never checked silent) fails here.
    report = Validator(Guidance.load(CATALOGUE, None), Settings()).run(
        load_scenarios(FIXTURES_DIR))
    assert report.passed, report.failure_lines()
    assert [hook.value for hook, called in report.hooks_called if not called] == []
    uncovered = {result.spec.id: result.coverage.uncovered for result in report.recommendations
                 if result.coverage.uncovered}
    assert uncovered == {}, "; ".join(f"{rec_id}: {', '.join(gaps)}"
                                      for rec_id, gaps in uncovered.items())


def test_validate_without_fixtures_says_where_to_find_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr("cds_service.scenarios.SOURCE_FIXTURES_DIR", tmp_path / "none")
    assert main(["validate"]) == 2
    assert "no fhir_fixtures/" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["validate", "--fixtures", str(tmp_path / "empty")]) == 2
    assert "no scenario" in capsys.readouterr().err


def test_an_invalid_manifest_is_refused_with_its_path(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    root = _copy(tmp_path, THUMB)
    _edit_manifest(root / THUMB, lambda manifest: manifest["calls"][0].update(mustnot=[]))
    assert main(["validate", "--fixtures", str(root)]) == 2
    assert f"invalid manifest {root / THUMB / 'manifest.json'}" in capsys.readouterr().err


@pytest.mark.parametrize(("labels", "label", "key"), [
    ({"mri": "Order MRI of the primary site"}, "Order MRI of the primary site", "mri"),
    ({"a": "Order {test} now", "b": "Order {test}"}, "Order MDM2 FISH", "b"),
    ({"a": "Order {test} now"}, "Order MDM2 FISH now", "a"),
    ({"a": "Order {{braces}}"}, "Order {braces}", "a"),
    ({"a": "Order MRI"}, "Order MRI of the chest", None),
])
def test_suggestion_labels_are_traced_to_their_wording_key(labels: dict[str, str], label: str,
                                                           key: str | None) -> None:
    found = [k for k, pattern in label_patterns(labels) if pattern.fullmatch(label)]
    assert found == ([key] if key else [])
