"""Golden cards (recommendations.md "Knowledge-base version"): a change to the cards of any fixture
scenario requires a knowledge-base version bump; after the bump the golden file is regenerated with
``python -m tests.golden --update``. The comparison itself is tested on a small copy."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from cds_service.identifiers import EXTENSION_KEY
from tests import golden
from tests.common import FIXTURES_DIR


def test_the_cards_of_every_fixture_scenario_equal_the_golden_cards() -> None:
    stored = golden.read()
    assert stored is not None, f"no golden file: run `{golden.UPDATE_COMMAND}`"
    cards = golden.current_cards()
    manifests = [json.loads(path.read_text(encoding="utf-8"))
                 for path in FIXTURES_DIR.glob("*/manifest.json")]
    assert len(cards) == sum(len(manifest["calls"]) for manifest in manifests)  # every call
    version, released = golden.current_version()
    verdict = golden.compare(stored, version, cards, released=released)
    assert verdict.ok, verdict.message


# --- the comparison, on a small copy ---------------------------------------------------------

SMALL = ["ascmn-resected-mri-overdue", "ilms-rms-component"]


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, golden.Cards]:
    """Two scenarios copied aside, and their cards."""
    fixtures = tmp_path_factory.mktemp("golden-fixtures")
    for name in SMALL:
        shutil.copytree(FIXTURES_DIR / name, fixtures / name)
    return fixtures, golden.current_cards(fixtures)


def _golden(tmp_path: Path, version: str, cards: golden.Cards) -> Path:
    path = tmp_path / "golden_cards.json"
    path.write_text(golden.render(version, cards), encoding="utf-8")
    return path


def test_the_small_copy_has_cards_on_every_call(small: tuple[Path, golden.Cards]) -> None:
    fixtures, cards = small
    assert set(cards) == {f"{name}/{call['request']}" for name in SMALL
                          for call in json.loads((fixtures / name / "manifest.json")
                                                 .read_text(encoding="utf-8"))["calls"]}
    assert cards[f"{SMALL[0]}/patient-view.json"] and cards[f"{SMALL[0]}/order-sign.json"]
    card = next(iter(cards.values()))[0]
    assert "uuid" not in card and card["source"]["url"] == "<url>"
    assert {link["url"] for link in card["links"]} == {"<url>"}
    assert "knowledgeBase" not in card["extension"][EXTENSION_KEY]


def _reworded(cards: golden.Cards) -> golden.Cards:
    changed = copy.deepcopy(cards)
    first = next(iter(changed))
    changed[first][0]["summary"] += " (reworded)"
    return changed


def _one_card_less(cards: golden.Cards) -> golden.Cards:
    changed = copy.deepcopy(cards)
    first = next(iter(changed))
    changed[first] = changed[first][1:]
    return changed


def test_a_changed_card_without_a_bump_fails(tmp_path: Path,
                                             small: tuple[Path, golden.Cards]) -> None:
    _, cards = small
    stored = golden.read(_golden(tmp_path, "1.4.0", cards))
    assert stored is not None
    assert golden.compare(stored, "1.4.0", cards).ok
    verdict = golden.compare(stored, "1.4.0", _reworded(cards))
    assert not verdict.ok and len(verdict.changed) == 1
    assert "the cards changed without a knowledge-base version bump (still 1.4.0)" in \
        verdict.message
    assert golden.UPDATE_COMMAND in verdict.message


def test_after_a_bump_the_test_asks_for_regeneration(tmp_path: Path,
                                                    small: tuple[Path, golden.Cards]) -> None:
    _, cards = small
    stored = golden.read(_golden(tmp_path, "1.4.0", cards))
    assert stored is not None
    verdict = golden.compare(stored, "1.4.1", _reworded(cards))
    assert not verdict.ok
    assert "the knowledge base is now 1.4.1 and the golden cards are of 1.4.0" in verdict.message
    assert golden.compare(stored, "1.4.1", cards).ok  # a bump alone changes no card
    assert "older" in golden.compare(stored, "1.3.9", _reworded(cards)).message


def test_an_unreleased_version_may_regenerate_its_own_golden_cards(
    tmp_path: Path, small: tuple[Path, golden.Cards],
) -> None:
    _, cards = small
    path = _golden(tmp_path, "1.4.0", cards)
    verdict = golden.compare(golden.read(path) or {}, "1.4.0", _reworded(cards), released=False)
    assert not verdict.ok and "1.4.0 (not yet released) changed in 1 call(s)" in verdict.message
    assert golden.update(path, "1.4.0", _one_card_less(cards), released=False) is None
    assert golden.compare(golden.read(path) or {}, "1.4.0", _one_card_less(cards)).ok
    # Once released, the same change is refused.
    refusal = golden.update(path, "1.4.0", cards, released=True)
    assert refusal is not None and "without a knowledge-base version bump" in refusal


@pytest.mark.parametrize(("change", "version", "refused"), [
    (_reworded, "1.4.0", "without a knowledge-base version bump"),
    (_reworded, "1.4.1", None),  # wording only: a patch bump is enough
    (_one_card_less, "1.4.1", "at least a minor bump"),
    (_one_card_less, "1.5.0", None),
    (_one_card_less, "2.0.0", None),
    (_reworded, "1.3.0", "older"),
])
def test_update_refuses_what_the_version_does_not_cover(
    tmp_path: Path, small: tuple[Path, golden.Cards], change: Any, version: str,
    refused: str | None,
) -> None:
    _, cards = small
    path = _golden(tmp_path, "1.4.0", cards)
    before = path.read_text(encoding="utf-8")
    refusal = golden.update(path, version, change(cards))
    if refused is None:
        assert refusal is None
        written = golden.read(path)
        assert written is not None and written["version"] == version
        assert golden.compare(written, version, change(cards)).ok
    else:
        assert refusal is not None and refused in refusal
        assert path.read_text(encoding="utf-8") == before


def test_a_change_in_a_scenarios_record_changes_its_golden_cards(
    tmp_path: Path, small: tuple[Path, golden.Cards],
) -> None:
    # End to end on the copy: remove the MRI of the ascmn scenario's record; its cards change.
    fixtures, cards = small
    stored = golden.read(_golden(tmp_path, "1.4.0", cards))
    assert stored is not None
    edited = tmp_path / "fixtures"
    shutil.copytree(fixtures, edited)
    bundle_path = edited / SMALL[0] / "bundle.json"
    bundle = json.loads(bundle_path.read_text(encoding="utf-8"))
    before = len(bundle["entry"])
    bundle["entry"] = [entry for entry in bundle["entry"]
                       if "73720" not in json.dumps(entry["resource"])]
    assert len(bundle["entry"]) == before - 1
    bundle_path.write_text(json.dumps(bundle), encoding="utf-8")
    verdict = golden.compare(stored, "1.4.0", golden.current_cards(edited))
    assert not verdict.ok and f"{SMALL[0]}/patient-view.json" in verdict.changed
