"""Golden cards: the cards of every call of every fixture scenario, keyed to the knowledge-base
version (recommendations.md "Knowledge-base version").

Rule code is not covered by the content hash, so this file pins what it produces: when the cards
change, the knowledge-base version must change too (tests/test_golden_cards.py fails otherwise).
A refactoring that leaves the cards equal needs no bump.

Regenerate after a version bump (a new first entry in cds_service/guidelines/changelog.toml):

    python -m tests.golden --update

``--update`` refuses to write cards that changed while the version did not (unless that version is
marked ``released = false`` in the changelog: still being prepared), and cards whose fired
recommendations or indicators changed under a patch bump only (semver: at least a minor bump).
``python -m tests.golden`` alone checks and prints what changed. Card uuids (card and suggestion)
and URLs (``source.url``, ``links[].url``) are left out, since they vary per call and per host;
so is the version stamp in the card extension, which a bump changes by design.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cds_service.app import create_app
from cds_service.guidelines.catalogue import load_catalogue
from cds_service.guidelines.versioning import load_version
from cds_service.guidelines.versioning import semver_key
from cds_service.identifiers import EXTENSION_KEY
from cds_service.settings import Settings
from cds_service.state import service_state
from tests.common import FIXTURES_DIR
from tests.common import load_json
from tests.common import scenario_request

GOLDEN_FILE = Path(__file__).with_name("golden_cards.json")
"""The golden cards of the shipped fixtures."""

UPDATE_COMMAND = "python -m tests.golden --update"

SERVICE_BY_HOOK = {"patient-view": "sts-patient-view", "order-select": "sts-order-select",
                   "order-sign": "sts-order-sign"}

Cards = dict[str, list[dict[str, Any]]]
"""``"scenario/request.json"`` -> the normalised cards of that call, in response order."""


def normalise(card: dict[str, Any]) -> dict[str, Any]:
    """``card`` without what varies per call or host: uuids, URLs, the version stamp."""
    card = json.loads(json.dumps(card))
    card.pop("uuid", None)
    for suggestion in card.get("suggestions", []):
        suggestion.pop("uuid", None)
    if "url" in card.get("source", {}):
        card["source"]["url"] = "<url>"
    for link in card.get("links", []):
        link["url"] = "<url>"
    card.get("extension", {}).get(EXTENSION_KEY, {}).pop("knowledgeBase", None)
    return card


def _calls(fixtures_dir: Path) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for folder in sorted(fixtures_dir.iterdir()):
        manifest = folder / "manifest.json"
        if manifest.exists():
            data = load_json(manifest)
            for call in data["calls"]:
                yield folder.name, data["today"], call


@contextmanager
def _scenario_root(fixtures_dir: Path) -> Iterator[None]:
    # tests.common.scenario_request reads FIXTURES_DIR: point it at ``fixtures_dir``.
    import tests.common as common

    saved = common.FIXTURES_DIR
    common.FIXTURES_DIR = fixtures_dir
    try:
        yield
    finally:
        common.FIXTURES_DIR = saved


def current_cards(fixtures_dir: Path = FIXTURES_DIR) -> Cards:
    """Post every call of every manifest under ``fixtures_dir`` through the HTTP API."""
    cards: Cards = {}
    calls = list(_calls(fixtures_dir))
    with tempfile.TemporaryDirectory() as tmp, _scenario_root(fixtures_dir):
        for today in sorted({today for _, today, _ in calls}):
            app = create_app(Settings(database_url=f"sqlite:///{Path(tmp) / today}.sqlite3",
                                      today=dt.date.fromisoformat(today)))
            try:
                client = app.test_client()
                for scenario, day, call in calls:
                    if day != today:
                        continue
                    response = client.post(f"/cds-services/{SERVICE_BY_HOOK[call['hook']]}",
                                           json=scenario_request(scenario, call["request"]))
                    body = response.get_json()
                    if response.status_code != 200:
                        raise RuntimeError(f"{scenario}/{call['request']}: "
                                           f"{response.status_code} {body}")
                    cards[f"{scenario}/{call['request']}"] = [normalise(c) for c in body["cards"]]
            finally:
                service_state(app).close()
    return dict(sorted(cards.items()))


def current_version() -> tuple[str, bool]:
    """The knowledge base's version (the changelog's newest entry) and whether it is released."""
    version = load_version(load_catalogue())
    return version.version, version.released


@dataclass(frozen=True)
class Verdict:
    """How the cards compare with the golden file.

    Attributes:
        ok: the golden file holds exactly these cards.
        changed: the calls whose cards differ (added and removed calls included).
        message: what to do, for a person.
    """

    ok: bool
    changed: tuple[str, ...]
    message: str


def _fired(cards: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(card["source"]["topic"]["code"], card["indicator"]) for card in cards]


def compare(golden: dict[str, Any], version: str, cards: Cards, *,
            released: bool = True) -> Verdict:
    """Compare ``cards`` of knowledge-base ``version`` with the ``golden`` file's content."""
    old: Cards = golden["calls"]
    changed = tuple(sorted(key for key in old.keys() | cards.keys()
                           if old.get(key) != cards.get(key)))
    if not changed:
        return Verdict(True, (), "the cards equal the golden cards")
    listing = ", ".join(changed[:8]) + (" ..." if len(changed) > 8 else "")
    if version == golden["version"] and not released:
        return Verdict(False, changed,
                       f"the cards of {version} (not yet released) changed in {len(changed)} "
                       f"call(s): {listing}. Check the changelog describes the change, then run "
                       f"`{UPDATE_COMMAND}`.")
    if version == golden["version"]:
        return Verdict(False, changed,
                       f"the cards changed without a knowledge-base version bump (still "
                       f"{version}) in {len(changed)} call(s): {listing}. If the change is "
                       f"intended, add a new version to cds_service/guidelines/changelog.toml "
                       f"describing it by recommendation id, then run `{UPDATE_COMMAND}`.")
    if semver_key(version) < semver_key(golden["version"]):
        return Verdict(False, changed, f"the knowledge-base version {version} is older than the "
                                       f"golden cards' {golden['version']}")
    return Verdict(False, changed,
                   f"the knowledge base is now {version} and the golden cards are of "
                   f"{golden['version']}: run `{UPDATE_COMMAND}` ({len(changed)} call(s) "
                   f"changed: {listing})")


def required_bump(golden: dict[str, Any], cards: Cards) -> str | None:
    """``"minor"`` when which cards fire (or their indicators) changed, ``"patch"`` when only
    their content did, None when nothing changed."""
    old: Cards = golden["calls"]
    keys = old.keys() | cards.keys()
    if any(_fired(old.get(key, [])) != _fired(cards.get(key, [])) for key in keys):
        return "minor"
    if any(old.get(key) != cards.get(key) for key in keys):
        return "patch"
    return None


def check_update(golden: dict[str, Any] | None, version: str, cards: Cards, *,
                 released: bool = True) -> str | None:
    """Why the golden file may not be rewritten with ``cards`` at ``version``, or None."""
    if golden is None:
        return None  # the first generation
    bump = required_bump(golden, cards)
    if bump is None:
        return None
    old_key, new_key = semver_key(golden["version"]), semver_key(version)
    if new_key == old_key:
        return None if not released else compare(golden, version, cards).message
    if new_key < old_key:
        return f"version {version} is older than the golden cards' {golden['version']}"
    if bump == "minor" and new_key[:2] == old_key[:2]:
        return (f"which cards fire (or their indicators) changed: that is at least a minor bump "
                f"from {golden['version']}, not {version}")
    return None


def render(version: str, cards: Cards) -> str:
    """The golden file's text: stable key order, one card field per line (readable diffs)."""
    return json.dumps({"version": version, "generated_by": UPDATE_COMMAND, "calls": cards},
                      indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def read(path: Path = GOLDEN_FILE) -> dict[str, Any] | None:
    """The golden file, or None when there is none yet."""
    if not path.exists():
        return None
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def update(path: Path, version: str, cards: Cards, *, released: bool = True) -> str | None:
    """Write the golden file, unless :func:`check_update` refuses (its reason is returned)."""
    refusal = check_update(read(path), version, cards, released=released)
    if refusal is None:
        path.write_text(render(version, cards), encoding="utf-8")
    return refusal


def main(argv: list[str] | None = None) -> int:
    """``python -m tests.golden [--update]``."""
    parser = argparse.ArgumentParser(prog="python -m tests.golden", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--update", action="store_true",
                        help="rewrite tests/golden_cards.json (after a version bump)")
    args = parser.parse_args(argv)
    (version, released), cards = current_version(), current_cards()
    if args.update:
        refusal = update(GOLDEN_FILE, version, cards, released=released)
        if refusal:
            print(f"not updated: {refusal}", file=sys.stderr)
            return 1
        print(f"{GOLDEN_FILE} written for knowledge-base version {version} ({len(cards)} calls)")
        return 0
    golden = read()
    if golden is None:
        print(f"no golden file: run `{UPDATE_COMMAND}`", file=sys.stderr)
        return 1
    verdict = compare(golden, version, cards, released=released)
    print(verdict.message, file=sys.stdout if verdict.ok else sys.stderr)
    return 0 if verdict.ok else 1


if __name__ == "__main__":
    sys.exit(main())
