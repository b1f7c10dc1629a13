"""Every screen of the reference CDS Hooks sandbox, in headless Chromium, against the service.

The sandbox (static files), ``cds-service serve`` (a real process, trust off) and a loopback FHIR
server holding the scenarios run on 127.0.0.1; the tests click as a clinician would and assert what
the clinician sees (cards, their parts, suggestions taken) and what reached the service (every call
answered 200, feedback counted in ``/feedback/summary``). Each test also checks that no answer of
the service had a status >= 400 and that the sandbox logged no console error naming the service.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from cds_service.guidelines.catalogue import load_catalogue
from cds_service.hooks.models import Hook
from tests.browser.sandbox import EVERY_SCENARIO
from tests.browser.sandbox import SCENARIOS
from tests.browser.sandbox import TODAY
from tests.browser.sandbox import HookCall
from tests.browser.sandbox import JsonObject
from tests.browser.sandbox import Sandbox
from tests.browser.sandbox import names_a_medication
from tests.browser.sandbox import written_for
from tests.common import FIXTURES_DIR
from tests.common import load_json

pytestmark = pytest.mark.slow

ANTHRACYCLINE = "Idarubicin Hydrochloride 5 MG Oral Capsule"
"""The sandbox's own medication list holds one anthracycline, oral idarubicin (RxNorm products)."""

CT_LOWER_EXTREMITY = "Computed tomography, lower extremity; without contrast material"
"""CPT 73700 in the sandbox's own PAMA order list."""

SARCOMA_REASON = "Sarcoma (disorder)"
"""SNOMED CT 424413001 in the sandbox's own PAMA reason list."""


def _must(scenario: str, hook: str) -> list[str]:
    """The ids the scenario's manifest says the hook must answer (its first call of that hook)."""
    calls = load_json(FIXTURES_DIR / scenario / "manifest.json")["calls"]
    must: list[str] = next((c["must"] for c in calls if c["hook"] == hook), [])
    return must


def _assert_rendered(sandbox: Sandbox, card: JsonObject) -> Any:
    """The card as the clinician sees it: summary, indicator colour, source, rendered detail naming
    its FHIR facts, link buttons and suggestion buttons. Returns its locator."""
    shown = sandbox.card(card["summary"])
    expect(shown).to_have_count(1)
    expect(shown).to_have_class(re.compile(f"alert-{card['indicator']}"))
    source = shown.get_by_role("link", name=card["source"]["label"])
    expect(source).to_have_attribute("href", card["source"]["url"])
    # The markdown detail is rendered (its "Why this card" part shown, no "**" left over) and
    # names the facts the card rests on by their FHIR ids.
    expect(shown).to_contain_text("Why this card")
    assert "**" not in shown.inner_text()
    for reference in card["extension"]["org.sts-cds.explanation"]["references"]:
        expect(shown).to_contain_text(reference)
    for link in card.get("links", []):
        expect(shown.get_by_role("button", name=link["label"])).to_be_visible()
    for suggestion in card.get("suggestions", []):
        expect(shown.get_by_role("button", name=suggestion["label"])).to_be_visible()
    expect(shown.get_by_role("button", name="Dismiss", exact=True)).to_be_visible()
    return shown


def _count(summary_row: JsonObject, reason_code: str) -> int:
    """How often ``/feedback/summary`` counted an override reason for a recommendation."""
    return sum(r["count"] for r in summary_row["overrideReasons"] if r["code"] == reason_code)


def _recommended(card: JsonObject) -> JsonObject:
    """The card's recommended suggestion."""
    (found,) = [s for s in card["suggestions"] if s.get("isRecommended")]
    return found


def _medication(call: HookCall) -> JsonObject:
    """The chosen drug of the call's single draft MedicationRequest."""
    (draft,) = call.drafts
    concept: JsonObject = draft["medicationCodeableConcept"]
    return concept


def _names_sirolimus(body: JsonObject) -> bool:
    """Whether a hook call's draft names sirolimus (or nab-sirolimus) as its drug."""
    drafts = (body["context"].get("draftOrders") or {}).get("entry", [])
    named = [str(e["resource"].get("medicationCodeableConcept", {}).get("text", ""))
             for e in drafts]
    return any("sirolimus" in text.lower() for text in named)


def _assert_swapped_for_sirolimus(after: HookCall, suggestion: JsonObject) -> None:
    """The sandbox's draft now names the drug the suggestion created: (nab-)sirolimus."""
    (created,) = [a["resource"] for a in suggestion["actions"] if a["type"] == "create"]
    assert suggestion["actions"][0]["type"] == "create", "the sandbox applies only the first action"
    chosen = _medication(after)
    assert "sirolimus" in chosen["text"].lower()
    assert chosen["text"] == created["medicationCodeableConcept"]["text"]
    assert chosen["coding"][0]["code"] == created["medicationCodeableConcept"]["coding"][0]["code"]


def test_patient_view_renders_every_card_and_its_feedback_is_counted(sandbox: Sandbox) -> None:
    before = sandbox.service.summary()
    call = sandbox.open(SCENARIOS["pecoma"])

    assert call.status == 200
    assert set(_must(SCENARIOS["pecoma"], "patient-view")) <= set(call.card_ids)
    expect(sandbox.cards()).to_have_count(len(call.card_ids))
    shown = {card["source"]["topic"]["code"]: _assert_rendered(sandbox, card)
             for card in call.body["cards"]}

    referral = call.card("sts-specialist-referral")
    (suggestion,) = referral["suggestions"]
    sent = sandbox.feedback("sts-patient-view", shown["sts-specialist-referral"].get_by_role(
        "button", name=suggestion["label"]).click)
    assert [(f["card"], f["outcome"], f["acceptedSuggestions"]) for f in sent["feedback"]] == [
        (referral["uuid"], "accepted", [{"id": suggestion["uuid"]}])]

    risk = call.card("pecoma-mtor-first-line")
    sent = sandbox.feedback("sts-patient-view", shown["pecoma-mtor-first-line"].get_by_role(
        "button", name="Dismiss", exact=True).click)
    assert [(f["card"], f["outcome"]) for f in sent["feedback"]] == [(risk["uuid"], "overridden")]
    expect(sandbox.card(risk["summary"])).to_have_count(0)

    after = sandbox.service.summary()
    assert after["sts-specialist-referral"]["accepted"] == \
        before["sts-specialist-referral"]["accepted"] + 1
    assert after["pecoma-mtor-first-line"]["overridden"] == \
        before["pecoma-mtor-first-line"]["overridden"] + 1
    assert sandbox.problems() == []


def _covering_scenarios() -> list[str]:
    """Few scenarios (written for the served ``CDS_TODAY``) whose patient-view calls must answer,
    together, every patient-view recommendation (greedy, deterministic)."""
    must = {scenario: set(_must(scenario, "patient-view")) for scenario in EVERY_SCENARIO
            if written_for(scenario) == TODAY}
    left, chosen = set().union(*must.values()), []
    while left:
        best = max(sorted(must), key=lambda scenario: len(must[scenario] & left))
        chosen.append(best)
        left -= must[best]
    return chosen


def test_every_patient_view_recommendation_renders_in_the_sandbox(sandbox: Sandbox) -> None:
    patient_view = {rec.id for rec in load_catalogue() if Hook.PATIENT_VIEW in rec.hooks}
    seen: set[str] = set()
    for scenario in _covering_scenarios():
        call = sandbox.open(scenario)
        assert call.status == 200, (scenario, call.body)
        assert set(_must(scenario, "patient-view")) <= set(call.card_ids), scenario
        expect(sandbox.cards()).to_have_count(len(call.card_ids))
        for card in call.body["cards"]:
            _assert_rendered(sandbox, card)
        seen.update(call.card_ids)
    assert seen >= patient_view
    assert sandbox.problems() == []


def test_rx_view_anthracycline_draws_the_mtor_card_and_its_suggestion_swaps_the_drug(
        sandbox: Sandbox) -> None:
    sandbox.open(SCENARIOS["pecoma"])

    # Before a drug is chosen the draft has no intent and no medication: nothing to act on.
    empty = sandbox.hook_call("sts-order-select", lambda: sandbox.screen("Rx View"))
    assert (empty.status, empty.card_ids) == (200, [])
    expect(sandbox.page.get_by_text("No recommendations to display")).to_be_visible()

    chosen = sandbox.hook_call(
        "sts-order-select", lambda: sandbox.choose_medication("idarubicin", ANTHRACYCLINE),
        sent=names_a_medication)
    assert _medication(chosen)["text"] == ANTHRACYCLINE
    assert chosen.status == 200, chosen.body
    assert chosen.card_ids == ["pecoma-chemo-before-mtor"]
    card = chosen.card("pecoma-chemo-before-mtor")
    shown = _assert_rendered(sandbox, card)

    suggestion = _recommended(card)
    with sandbox.page.expect_response(lambda r: r.url.endswith("/sts-order-select/feedback")) \
            as feedback:
        after = sandbox.hook_call(
            "sts-order-select",
            shown.get_by_role("button", name=suggestion["label"]).click,
            sent=_names_sirolimus)
    assert feedback.value.status == 200
    _assert_swapped_for_sirolimus(after, suggestion)
    assert (after.status, after.card_ids) == (200, [])
    expect(sandbox.card(card["summary"])).to_have_count(0)

    assert {status for _, status in sandbox.calls_to("sts-order-select")} == {200}
    assert sandbox.problems() == []


def test_rx_sign_anthracycline_draws_the_mtor_card_and_its_suggestion_swaps_the_drug(
        sandbox: Sandbox) -> None:
    sandbox.open(SCENARIOS["pecoma"])
    sandbox.screen("Rx Sign")

    empty = sandbox.hook_call("sts-order-sign", sandbox.sign)
    assert (empty.status, empty.card_ids) == (200, [])

    sandbox.choose_medication("idarubicin", ANTHRACYCLINE)
    signed = sandbox.hook_call("sts-order-sign", sandbox.sign)
    assert _medication(signed)["text"] == ANTHRACYCLINE
    assert signed.status == 200, signed.body
    assert signed.card_ids == ["pecoma-chemo-before-mtor"]
    card = signed.card("pecoma-chemo-before-mtor")
    shown = _assert_rendered(sandbox, card)

    suggestion = _recommended(card)
    sent = sandbox.feedback("sts-order-sign",
                            shown.get_by_role("button", name=suggestion["label"]).click)
    assert [(f["card"], f["outcome"]) for f in sent["feedback"]] == [(card["uuid"], "accepted")]
    resigned = sandbox.hook_call("sts-order-sign", sandbox.sign)
    _assert_swapped_for_sirolimus(resigned, suggestion)
    assert (resigned.status, resigned.card_ids) == (200, [])

    assert {status for _, status in sandbox.calls_to("sts-order-sign")} == {200}
    assert sandbox.problems() == []


def test_pama_ct_of_the_lower_extremity_for_a_thigh_sarcoma_draws_the_mri_card(
        sandbox: Sandbox) -> None:
    sandbox.open(SCENARIOS["thigh-sarcoma"])

    empty = sandbox.hook_call("sts-order-select", lambda: sandbox.screen("PAMA Imaging"))
    assert (empty.status, empty.card_ids) == (200, [])

    ordered = sandbox.hook_call(
        "sts-order-select",
        lambda: sandbox.choose_in("Search orders", "Computed tomography, lower extremity",
                                  CT_LOWER_EXTREMITY))
    (draft,) = ordered.drafts
    assert draft["code"]["coding"][0]["code"] == "73700"
    assert (ordered.status, ordered.card_ids) == (200, ["sts-mri-local-staging"])
    assert ordered.card("sts-mri-local-staging")["indicator"] == "warning"
    _assert_rendered(sandbox, ordered.card("sts-mri-local-staging"))

    for_sarcoma = sandbox.hook_call(
        "sts-order-select", lambda: sandbox.choose_in("Search reasons", "sarcoma", SARCOMA_REASON))
    (draft,) = for_sarcoma.drafts
    assert draft["reasonCode"][0]["text"] == SARCOMA_REASON
    assert (for_sarcoma.status, for_sarcoma.card_ids) == (200, ["sts-mri-local-staging"])
    card = for_sarcoma.card("sts-mri-local-staging")
    shown = _assert_rendered(sandbox, card)

    # Dismissed with one of the card's override reasons, from the sandbox's Dismiss menu.
    before = sandbox.service.summary()["sts-mri-local-staging"]
    reason = card["overrideReasons"][-1]
    shown.get_by_role("button", name="select dismiss reason").click()
    sent = sandbox.feedback("sts-order-select", sandbox.page.get_by_role(
        "menuitem", name=f"Override: {reason['display']}").click)
    assert [(f["card"], f["outcome"], f["overrideReason"]["reason"]) for f in sent["feedback"]] \
        == [(card["uuid"], "overridden", {"code": reason["code"], "system": reason["system"]})]
    after = sandbox.service.summary()["sts-mri-local-staging"]
    assert after["overridden"] == before["overridden"] + 1
    assert _count(after, reason["code"]) == _count(before, reason["code"]) + 1

    assert {status for _, status in sandbox.calls_to("sts-order-select")} == {200}
    assert sandbox.problems() == []
