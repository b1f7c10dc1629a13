"""One lesion recorded several times is one tumour, through the whole path (FHIR in, cards out).

recommendations.md "The patient as a whole (revised)": a problem-list entry and an encounter
diagnosis, an ICD-10-CM entry and a SNOMED entry, a "component" recorded as its own Condition at
the same site are one tumour with one card per recommendation. Every single-tumour scenario of
``fhir_fixtures/`` is replayed with each duplicate form added to its record, on every hook of its
manifest: the cards must be those of the record without the copy (same ids, indicators, subjects
and orders), and the tumour's cards name the copy too. Forms that are not one lesion (the other
side, another entity) must stay a second tumour.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from collections import Counter
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from cds_service.app import create_app
from cds_service.case.build import build_case
from cds_service.case.model import Behaviour
from cds_service.case.model import Entity
from cds_service.case.model import Site
from cds_service.case.model import Tumour
from cds_service.hooks.prefetch import prefetch_from_bundle
from cds_service.hooks.services import PREFETCH
from cds_service.identifiers import EXTENSION_KEY
from cds_service.settings import Settings
from cds_service.state import service_state
from tests.common import FIXTURES_DIR
from tests.common import load_json
from tests.common import shipped_terminology
from tests.systems import ICD10CM
from tests.systems import SNOMED

JsonObject = dict[str, Any]
SERVICE_BY_HOOK = {"patient-view": "sts-patient-view", "order-select": "sts-order-select",
                   "order-sign": "sts-order-sign"}
CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
TERMINOLOGY = shipped_terminology()  # builds the parameters; the fixture's instance
SARCOMAS = {Entity.STS, Entity.ILMS, Entity.NTRK, Entity.PECOMA, Entity.ASPS}


def records() -> Iterator[tuple[str, str, list[JsonObject], Tumour]]:
    """Every scenario whose record holds exactly one tumour (of a living patient): name, today,
    resources, tumour."""
    for folder in sorted(FIXTURES_DIR.iterdir()):
        if not (folder / "manifest.json").exists():
            continue
        today = load_json(folder / "manifest.json")["today"]
        resources = [e["resource"] for e in load_json(folder / "bundle.json")["entry"]]
        patient = next(r for r in resources if r["resourceType"] == "Patient")
        if any(key.startswith("deceased") for key in patient):
            continue  # no cards to compare
        case = build_case(resources, patient_id=patient["id"], terminology=TERMINOLOGY,
                          today=dt.date.fromisoformat(today))
        if len(case.tumours) == 1:
            yield folder.name, today, resources, case.tumours[0]


def _names_entity(condition: JsonObject) -> bool:
    """Whether the Condition names its entity itself (not only a morphology result about it)."""
    matches = TERMINOLOGY.match_codeable_concept(condition.get("code"))
    return any(m.concept.startswith("entity/") for m in matches)


def _condition(resources: list[JsonObject], tumour: Tumour) -> JsonObject:
    return next(r for r in resources if r["resourceType"] == "Condition" and r["id"] == tumour.id)


RECORDS = list(records())


def _copy(original: JsonObject, suffix: str, code: JsonObject | None = None, *,
          category: str = "encounter-diagnosis", body_site: bool = True) -> JsonObject:
    """Another Condition for the same lesion: same patient and statuses, no dates of its own."""
    entry: JsonObject = {"resourceType": "Condition", "id": f"{original['id']}-{suffix}",
                         "category": [{"coding": [{"system": CATEGORY, "code": category}]}],
                         "code": code if code is not None else copy.deepcopy(original["code"]),
                         "subject": copy.deepcopy(original["subject"])}
    for key in ("clinicalStatus", "verificationStatus"):
        if key in original:
            entry[key] = copy.deepcopy(original[key])
    if body_site and original.get("bodySite"):
        entry["bodySite"] = copy.deepcopy(original["bodySite"])
    return entry


def _sarcoma(tumour: Tumour) -> bool:
    # A generic "sarcoma" copy says malignant: only a copy of a malignant sarcoma adds nothing.
    return tumour.entity.value in SARCOMAS and tumour.behaviour in (None, Behaviour.MALIGNANT)


def encounter_copy(original: JsonObject, tumour: Tumour) -> JsonObject | None:
    """The problem-list entry again, as an encounter diagnosis (every code, text and extension)."""
    duplicate = copy.deepcopy(original)
    duplicate["id"] = f"{original['id']}-enc"
    duplicate["category"] = [{"coding": [{"system": CATEGORY, "code": "encounter-diagnosis"}]}]
    return duplicate


def problem_list_twice(original: JsonObject, tumour: Tumour) -> JsonObject | None:
    """The problem-list entry entered twice, the second without its dates."""
    duplicate = copy.deepcopy(original)
    duplicate["id"] = f"{original['id']}-dup"
    for key in ("onsetDateTime", "onsetPeriod", "recordedDate", "note"):
        duplicate.pop(key, None)
    return duplicate


def icd10cm_entry(original: JsonObject, tumour: Tumour) -> JsonObject | None:
    """The ICD-10-CM code alone (the billing entry beside a SNOMED or text problem)."""
    codings = [c for c in original["code"].get("coding", []) if c.get("system") == ICD10CM]
    named = [m.concept for m in TERMINOLOGY.match_codeable_concept({"coding": codings})]
    if not any(c.startswith("entity/") for c in named) or not _sarcoma(tumour):
        return None  # an ICD-10-CM code that names no tumour entity (C48.0, C55) is no copy
    return _copy(original, "icd", {"coding": copy.deepcopy(codings)})


def snomed_entry(original: JsonObject, tumour: Tumour) -> JsonObject | None:
    """SNOMED 424952003 Sarcoma of soft tissue at the same body site."""
    if not _sarcoma(tumour):
        return None
    return _copy(original, "sct", {"coding": [{"system": SNOMED, "code": "424952003",
                                               "display": "Sarcoma of soft tissue"}]})


def sarcoma_nos_no_site(original: JsonObject, tumour: Tumour) -> JsonObject | None:
    """A text-only "Sarcoma, NOS" with no site: an unrecorded site agrees with any."""
    if not _sarcoma(tumour):
        return None
    return _copy(original, "nos", {"text": "Sarcoma, NOS"}, body_site=False)


def component(original: JsonObject, tumour: Tumour) -> JsonObject | None:
    """A rhabdomyosarcomatous component recorded as its own Condition at the same site."""
    return _copy(original, "rms", {"text": "Rhabdomyosarcomatous component"})


def containing_site(original: JsonObject, tumour: Tumour) -> JsonObject | None:
    """The same diagnosis recorded at the region that contains the tumour's site."""
    regions = {Site.HAND: "Upper limb", Site.FOOT: "Lower limb"}
    if tumour.site is None or tumour.site.value not in regions:
        return None
    duplicate = _copy(original, "region")
    duplicate["bodySite"] = [{"text": regions[tumour.site.value]}]
    return duplicate


def side_unrecorded(original: JsonObject, tumour: Tumour) -> JsonObject | None:
    """The diagnosis in its own words at the same limb, the side not recorded (equal or
    unrecorded laterality agrees)."""
    text = original["code"].get("text")
    limbs = {Site.LOWER_LIMB: "Thigh", Site.UPPER_LIMB: "Upper arm"}
    if not text or tumour.laterality is None or tumour.site is None \
            or tumour.site.value not in limbs:
        return None
    words = re.sub(r"\s*,?\s*\b(left|right)\b", "", text, flags=re.IGNORECASE).strip()
    named = [m.concept for m in TERMINOLOGY.match_codeable_concept({"text": words})
             if m.concept.startswith("entity/")]
    keys = {TERMINOLOGY.attributes(c).get("entity") for c in named}
    if keys != {tumour.entity.value.value}:
        return None
    duplicate = _copy(original, "no-side", {"text": words}, body_site=False)
    duplicate["bodySite"] = [{"text": limbs[tumour.site.value]}]
    return duplicate


FORMS: list[Callable[[JsonObject, Tumour], JsonObject | None]] = [
    encounter_copy, problem_list_twice, icd10cm_entry, snomed_entry, sarcoma_nos_no_site,
    component, containing_site, side_unrecorded]
CASES = [(name, today, call, form) for name, today, resources, tumour in RECORDS
         for call in load_json(FIXTURES_DIR / name / "manifest.json")["calls"]
         for form in FORMS if form(_condition(resources, tumour), tumour) is not None]


@pytest.fixture(scope="module")
def apps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Flask]]:
    root: Path = tmp_path_factory.mktemp("lesions")
    built = {today: create_app(Settings(database_url=f"sqlite:///{root / today}.sqlite3",
                                        today=dt.date.fromisoformat(today)))
             for today in {today for _, today, _, _ in RECORDS}}
    yield built
    for app in built.values():
        service_state(app).close()


def cards_for(app: Flask, scenario: str, request_file: str,
              resources: list[JsonObject]) -> list[JsonObject]:
    """The cards of one scenario call with ``resources`` as the patient's record."""
    request = load_json(FIXTURES_DIR / scenario / request_file)
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"resource": r} for r in resources]}
    request["prefetch"] = prefetch_from_bundle(PREFETCH, bundle)
    response = app.test_client().post(f"/cds-services/{SERVICE_BY_HOOK[request['hook']]}",
                                      json=request)
    assert response.status_code == 200, response.get_json()
    cards: list[JsonObject] = response.get_json()["cards"]
    return cards


def _shape(cards: list[JsonObject]) -> Counter[tuple[Any, ...]]:
    """What a clinician acts on: id, indicator, subject and the orders each card proposes."""
    shapes: Counter[tuple[Any, ...]] = Counter()
    for card in cards:
        orders = tuple(sorted(
            (a["type"], a.get("resourceId") or _order(a["resource"]))
            for s in card.get("suggestions", []) for a in s.get("actions", [])))
        shapes[(card["source"]["topic"]["code"], card["indicator"],
                card["extension"][EXTENSION_KEY]["subject"], orders)] += 1
    return shapes


def _order(resource: JsonObject) -> str:
    concept = resource.get("code") or resource.get("medicationCodeableConcept")
    return repr((resource["resourceType"], concept, resource.get("bodySite")))


def _name(case: tuple[str, str, JsonObject, Any]) -> str:
    return f"{case[0]}:{case[2]['request']}:{case[3].__name__}"


@pytest.mark.parametrize(("scenario", "today", "call", "form"), CASES, ids=map(_name, CASES))
def test_a_lesion_recorded_again_gives_the_same_cards(
        apps: dict[str, Flask], scenario: str, today: str, call: JsonObject,
        form: Callable[[JsonObject, Tumour], JsonObject | None]) -> None:
    _, _, resources, tumour = next(r for r in RECORDS if r[0] == scenario)
    duplicate = form(_condition(resources, tumour), tumour)
    assert duplicate is not None
    app = apps[today]
    alone = cards_for(app, scenario, call["request"], resources)
    twice = cards_for(app, scenario, call["request"], [*resources, duplicate])

    about = [c["extension"][EXTENSION_KEY] for c in twice]
    assert f"Condition/{duplicate['id']}" not in {e["subject"] for e in about}
    if form is component and tumour.entity.value is Entity.ILMS:
        # The component Condition adds its finding: the ILMS now has a rhabdomyosarcomatous
        # component, still one tumour with one card per recommendation.
        ids = [(e["recommendationId"], e["subject"]) for e in about]
        assert len(ids) == len(set(ids))
        if call["hook"] == "patient-view" and tumour.is_active:
            assert ("ilms-rms-transformation", tumour.id) in ids
        return
    assert _shape(twice) == _shape(alone)
    tumour_cards = [e for e in about if e["subject"] == tumour.id]
    for explanation in tumour_cards:  # every card about the tumour names both records
        if f"Condition/{tumour.id}" in explanation.get("references", []):
            assert f"Condition/{duplicate['id']}" in explanation["references"]


# --- what is not one lesion ---------------------------------------------------------------------

OTHER_SIDE = {"left": "Right", "right": "Left"}


def _other_side(original: JsonObject, tumour: Tumour) -> JsonObject:
    """The same diagnosis (its own words, the side swapped) in the same limb on the other side."""
    side = OTHER_SIDE[str(tumour.laterality)]
    text = original["code"].get("text") or "Soft tissue sarcoma"
    text = re.sub(r"\b(left|right)\b", side.lower(), text, flags=re.IGNORECASE)
    limb = "thigh" if tumour.site and tumour.site.value is Site.LOWER_LIMB else "arm"
    duplicate = _copy(original, "other-side", {"text": text}, body_site=False)
    duplicate["bodySite"] = [{"text": f"{side} {limb}"}]
    return duplicate


LATERAL = [(name, today, tumour) for name, today, resources, tumour in RECORDS
           if _names_entity(_condition(resources, tumour)) and tumour.laterality in OTHER_SIDE
           and tumour.site is not None and tumour.site.value in (Site.LOWER_LIMB, Site.UPPER_LIMB)]


@pytest.mark.parametrize(("scenario", "today", "tumour"), LATERAL, ids=[n for n, _, _ in LATERAL])
def test_the_same_diagnosis_on_the_other_side_is_a_second_tumour(
        apps: dict[str, Flask], scenario: str, today: str, tumour: Tumour) -> None:
    _, _, resources, _ = next(r for r in RECORDS if r[0] == scenario)
    other = _other_side(_condition(resources, tumour), tumour)
    cards = cards_for(apps[today], scenario, "patient-view.json", [*resources, other])
    subjects = {c["extension"][EXTENSION_KEY]["subject"] for c in cards}
    assert other["id"] in subjects


def test_the_sweep_covers_every_form() -> None:
    """Each duplicate form applies to at least one scenario (the sweep is not vacuous)."""
    used = {form for _, _, _, form in CASES}
    assert used == set(FORMS)
    assert LATERAL


def test_a_grade_conflict_the_merge_cannot_settle_is_named(apps: dict[str, Flask]) -> None:
    """Two grades recorded on one date, one against each entry of the lesion: the tumour uses the
    highest and case-data-incomplete names both records (fixture ilms-icd-and-snomed-entries)."""
    scenario = "ilms-icd-and-snomed-entries"
    resources = [e["resource"] for e in load_json(FIXTURES_DIR / scenario / "bundle.json")["entry"]]
    cards = cards_for(apps["2026-11-22"], scenario, "patient-view.json", resources)
    (card,) = [c for c in cards if c["source"]["topic"]["code"] == "case-data-incomplete"]
    assert "histologic grade (conflicting records)" in card["summary"]
    references = card["extension"][EXTENSION_KEY]["references"]
    assert {"Observation/isn-obs-grade-icd", "Observation/isn-obs-grade-sct",
            "Condition/isn-cond-icd", "Condition/isn-cond-sct"} <= set(references)
    # Settled (the second grade a day later): no conflict, and then nothing else is missing.
    grade = next(r for r in resources if r["id"] == "isn-obs-grade-icd")
    grade["effectiveDateTime"] = "2026-09-19"
    cards = cards_for(apps["2026-11-22"], scenario, "patient-view.json", resources)
    assert "case-data-incomplete" not in {c["source"]["topic"]["code"] for c in cards}
