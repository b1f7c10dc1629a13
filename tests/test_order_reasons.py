"""Order reasons through the whole path (issue 12, class 4; recommendations.md "The patient as a
whole (revised)"): FHIR record and draft orders in, cards out, for every form a reason takes.

- A reason naming a tumour of ours (Condition, metastasis, entity code or words): the card, plain.
- A reason naming another disease (another cancer, an infection, another disorder; by Condition,
  by a metastasis of another cancer, by code or by words): no card from our tumours.
- A finding, a complication, history or follow-up, an unrecognised code or Condition: no reason.
  With another active cancer on record, a draft with no reason still gets the advice-against card,
  worded "if this order is for the ...", with the override reason "ordered for another condition"
  and no recommended replacement; without one, the plain card.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from cds_service.app import create_app
from cds_service.settings import Settings
from cds_service.state import service_state
from tests.case.common import bundle
from tests.case.common import resource
from tests.common import hook_request
from tests.common import scenario_request
from tests.systems import CLINICAL
from tests.systems import ICD10CM
from tests.systems import RXNORM

PATIENT = "pt-p5"
PECOMA = "pecoma-lung-metastases-doxorubicin"
"""Advanced PEComa (C48.0 + 8714/3 + text, Condition/p5-cond-1), lung metastasis
Condition/p5-cond-2, hypertension Condition/p5-cond-3 (I10), no mTOR inhibitor ever."""
RULE = "pecoma-chemo-before-mtor"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    root: Path = tmp_path_factory.mktemp("reasons")
    built = create_app(Settings(database_url=f"sqlite:///{root / 'db.sqlite3'}",
                                today=dt.date(2026, 11, 22)))
    yield built
    service_state(built).close()


def _breast(resource_id: str = "brc-cond-1", **fields: Any) -> dict[str, Any]:
    """The breast-cancer fixture's invasive ductal carcinoma (C50.911 + 8500/3), this patient's."""
    condition = resource("breast-cancer-no-sarcoma", "brc12-cond-breast")
    condition.update(id=resource_id, subject={"reference": f"Patient/{PATIENT}"}, **fields)
    return condition


def _breast_metastasis() -> dict[str, Any]:
    """A bone metastasis of the breast cancer (C79.51, condition-related to it)."""
    return {"resourceType": "Condition", "id": "brc-cond-met",
            "clinicalStatus": {"coding": [{"system": CLINICAL, "code": "active"}]},
            "code": {"coding": [{"system": ICD10CM, "code": "C79.51",
                                 "display": "Secondary malignant neoplasm of bone"}]},
            "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/condition-related",
                           "valueReference": {"reference": "Condition/brc-cond-1"}}],
            "subject": {"reference": f"Patient/{PATIENT}"}}


def _lupus() -> dict[str, Any]:
    return {"resourceType": "Condition", "id": "sle-cond-1",
            "clinicalStatus": {"coding": [{"system": CLINICAL, "code": "active"}]},
            "code": {"coding": [{"system": ICD10CM, "code": "M32.14",
                                 "display": "Glomerular disease in systemic lupus erythematosus"}],
                     "text": "Lupus nephritis"},
            "subject": {"reference": f"Patient/{PATIENT}"}}


def _generic(code: str, display: str) -> dict[str, Any]:
    """A malignant neoplasm coded by site alone, no histology."""
    return {"resourceType": "Condition", "id": "gen-cond-1",
            "clinicalStatus": {"coding": [{"system": CLINICAL, "code": "active"}]},
            "code": {"coding": [{"system": ICD10CM, "code": code, "display": display}]},
            "subject": {"reference": f"Patient/{PATIENT}"}}


def _draft(medication: dict[str, Any], **reasons: Any) -> dict[str, Any]:
    return {"resourceType": "MedicationRequest", "id": "d-1", "status": "draft",
            "intent": "order", "subject": {"reference": f"Patient/{PATIENT}"},
            "medicationCodeableConcept": medication, **reasons}


DOXORUBICIN = {"coding": [{"system": RXNORM, "code": "3639", "display": "doxorubicin"}],
               "text": "Doxorubicin 75 mg/m2 IV"}


def _call(app: Flask, record: list[dict[str, Any]], drafts: list[dict[str, Any]],
          hook: str = "order-sign", patient: str = PATIENT) -> dict[str, Any]:
    body = hook_request(hook, patient, record, drafts)
    response = app.test_client().post(f"/cds-services/sts-{hook}", json=body)
    assert response.status_code == 200, response.get_json()
    result: dict[str, Any] = response.get_json()
    return result


def _outcome(cards: list[dict[str, Any]]) -> str:
    """``none``, ``plain`` or ``hedged``: what the clinician sees about the doxorubicin draft."""
    ours = [c for c in cards if c["source"]["topic"]["code"] == RULE]
    if not ours:
        return "none"
    assert len(ours) == 1
    card = ours[0]
    codes = {r["code"] for r in card["overrideReasons"]}
    recommended = [s for s in card["suggestions"] if s.get("isRecommended")]
    if card["summary"].startswith(("If this order is for the advanced PEComa",
                                   "If for the advanced PEComa")):
        assert "other-condition" in codes
        assert recommended == []
        assert "**Another cancer is on record**" in card["detail"]
        assert {"Condition/brc-cond-1", "Condition/gen-cond-1"} \
            & set(card["extension"]["org.sts-cds.explanation"]["references"])
        return "hedged"
    assert "other-condition" not in codes
    assert [s["label"] for s in recommended] == ["Replace with sirolimus (mTOR inhibitor)"]
    return "plain"


REF = {"reasonReference": [{"reference": "Condition/p5-cond-1"}]}

# (reason fields of the draft, extra record resources, expected outcome)
REASONS = [
    # ours, by reference, entity code/words, or a generic malignant code at our tumour's site
    pytest.param(REF, [_breast()], "plain", id="ref-to-the-pecoma"),
    pytest.param({"reasonReference": [{"reference": "Condition/p5-cond-2"}]}, [_breast()],
                 "plain", id="ref-to-its-lung-metastasis"),
    pytest.param({"reasonCode": [{"text": "Metastatic PEComa"}]}, [_breast()], "plain",
                 id="code-text-names-pecoma"),
    pytest.param({"reasonCode": [{"coding": [{"system": ICD10CM, "code": "C48.0"}]}]},
                 [_breast()], "plain", id="generic-c48-code-may-be-the-pecoma"),
    pytest.param({"reasonCode": {"coding": [{"system": ICD10CM, "code": "C48.0"}],
                                 "text": "PEComa of retroperitoneum"}},
                 [_breast()], "plain", id="reasonCode-object-not-list-as-the-sandbox-sends"),
    pytest.param({"reasonCode": {"coding": [{"system": ICD10CM, "code": "C50.911"}]}},
                 [_breast()], "none", id="reasonCode-object-names-breast-cancer"),
    pytest.param({"reasonReference": [{"reference": "Condition/brc-cond-1"}], **REF},
                 [_breast()], "plain", id="ours-and-another-both-named"),
    # another disease: no card
    pytest.param({"reasonReference": [{"reference": "Condition/brc-cond-1"}]}, [_breast()],
                 "none", id="ref-to-breast-cancer"),
    pytest.param({"reasonReference": [{"reference": "Condition/brc-cond-met"}]},
                 [_breast(), _breast_metastasis()], "none", id="ref-to-breast-metastasis"),
    pytest.param({"reasonCode": [{"coding": [{"system": ICD10CM, "code": "C50.911"}]}]}, [],
                 "none", id="breast-code-without-record"),
    pytest.param({"reasonCode": [{"text": "Metastatic breast cancer"}]}, [], "none",
                 id="breast-cancer-words"),
    pytest.param({"reasonCode": [{"coding": [{"system": ICD10CM, "code": "C91.00",
                                               "display": "Acute lymphoblastic leukemia"}]}]},
                 [], "none", id="leukaemia-code"),
    pytest.param({"reasonCode": [{"coding": [{"system": ICD10CM, "code": "A41.9"}]}]}, [],
                 "none", id="infection-code"),
    pytest.param({"reasonReference": [{"reference": "Condition/sle-cond-1"}]}, [_lupus()],
                 "none", id="ref-to-lupus"),
    pytest.param({"reasonCode": [{"text": "Kaposi sarcoma"}]}, [], "none", id="kaposi-words"),
    # no reason, another active cancer on record: hedged
    pytest.param({}, [_breast()], "hedged", id="no-reason"),
    pytest.param({"reasonCode": [{"coding": [{"system": ICD10CM, "code": "Z08"}]}]},
                 [_breast()], "hedged", id="follow-up-code"),
    pytest.param({"reasonCode": [{"coding": [{"system": ICD10CM, "code": "Z85.3",
                                               "display": "Personal history of malignant "
                                                          "neoplasm of breast"}]}]},
                 [_breast()], "hedged", id="history-code"),
    pytest.param({"reasonCode": [{"coding": [{"system": ICD10CM, "code": "R22.42"}]}]},
                 [_breast()], "hedged", id="limb-mass-code"),
    pytest.param({"reasonCode": [{"coding": [{"system": ICD10CM, "code": "M84.552A"}]}]},
                 [_breast()], "hedged", id="pathological-fracture-code"),
    pytest.param({"reasonCode": [{"coding": [{"system": ICD10CM, "code": "C78.01"}]}]},
                 [_breast()], "hedged", id="lung-metastasis-code-names-no-primary"),
    pytest.param({"reasonCode": [{"coding": [{"system": "http://example.org/local",
                                               "code": "X1"}]}]},
                 [_breast()], "hedged", id="unrecognised-code"),
    pytest.param({"reasonReference": [{"reference": "Condition/p5-cond-3"}]}, [_breast()],
                 "hedged", id="ref-to-hypertension"),
    pytest.param({"reasonReference": [{"reference": "Condition/not-in-record"}]}, [_breast()],
                 "hedged", id="ref-to-missing-condition"),
    # no reason, no other active cancer: plain
    pytest.param({}, [], "plain", id="no-reason-no-other-cancer"),
    pytest.param({}, [_lupus()], "plain", id="no-reason-other-disease-not-cancer"),
    pytest.param({}, [_generic("C80.1", "Malignant (primary) neoplasm, unspecified")], "plain",
                 id="generic-cancer-without-site-may-be-the-pecoma"),
    pytest.param({}, [_generic("C76.0", "Malignant neoplasm of head, face and neck")],
                 "hedged", id="generic-cancer-at-another-site"),
    pytest.param({}, [_breast(clinicalStatus={"coding": [{"system": CLINICAL,
                                                          "code": "remission"}]})],
                 "plain", id="no-reason-other-cancer-in-remission"),
]


@pytest.mark.parametrize("hook", ["order-sign", "order-select"])
@pytest.mark.parametrize(("reasons", "extra", "expected"), REASONS)
def test_every_reason_form(app: Flask, hook: str, reasons: dict[str, Any],
                           extra: list[dict[str, Any]], expected: str) -> None:
    record = bundle(PECOMA) + copy.deepcopy(extra)
    cards = _call(app, record, [_draft(DOXORUBICIN, **reasons)], hook)["cards"]
    assert _outcome(cards) == expected


SUMMARY = ("If for the advanced PEComa of the abdomen/retroperitoneum: use an mTOR inhibitor "
           "before Doxorubicin 75 mg/m2 IV (none on record)")
"""The summary with the long prefix would pass 139 characters: the short one is used."""


def test_hedged_card_names_the_other_cancer(app: Flask) -> None:
    cards = _call(app, bundle(PECOMA) + [_breast()], [_draft(DOXORUBICIN)])["cards"]
    card = next(c for c in cards if c["source"]["topic"]["code"] == RULE)
    assert card["summary"] == SUMMARY
    assert "Invasive ductal carcinoma of right breast, Condition/brc-cond-1" in card["detail"]
    assert {"system": "https://sts-cds.org/fhir/CodeSystem/override-reason",
            "code": "other-condition", "display": "Ordered for another condition"} \
        in card["overrideReasons"]


@pytest.mark.parametrize("scenario", ["ascmn-thumb-untreated", "ilms-no-rms-chemo-order"])
def test_other_rules_hedge_and_stand_down_alike(app: Flask, scenario: str) -> None:
    """ascmn-no-systemic-therapy and ilms-rt-chemo-reserved read reasons as pecoma does."""
    record = bundle(scenario)
    patient = next(r["id"] for r in record if r["resourceType"] == "Patient")
    breast = _breast()
    breast["subject"] = {"reference": f"Patient/{patient}"}

    def outcome(extra: list[dict[str, Any]], **reasons: Any) -> list[str]:
        draft = _draft({"coding": [{"system": RXNORM, "code": "3002",
                                    "display": "cyclophosphamide"}]}, **reasons)
        draft["subject"] = {"reference": f"Patient/{patient}"}
        body = _call(app, record + extra, [draft], patient=patient)
        return [c["summary"].split(":")[0] for c in body["cards"]]

    plain = outcome([])
    assert len(plain) == 1 and not plain[0].startswith("If ")
    hedged = outcome([breast])
    assert len(hedged) == 1 and hedged[0].startswith("If this order is for the ")
    assert outcome([breast], reasonReference=[{"reference": "Condition/brc-cond-1"}]) == []
    assert outcome([], reasonCode=[{"text": "Lupus nephritis"}]) == []


# (scenario, request, (recommendation id, draft it concerns, hedged) of every card)
SCENARIO_CARDS = [
    ("pecoma-breast-cancer-two-cancers", "order-sign.json",
     [(RULE, "MedicationRequest/tc1-draft-dox", True)]),
    ("pecoma-breast-cancer-two-cancers", "order-sign-breast-regimen.json", []),
    ("pecoma-product-coded-chemo", "order-select.json",
     [(RULE, "MedicationRequest/pr2-draft-ida", False)]),
    ("pecoma-product-coded-chemo", "order-sign.json",
     [(RULE, "MedicationRequest/pr2-draft-cyc", False),
      (RULE, "MedicationRequest/pr2-draft-gem", False)]),
    ("ilms-text-only-drug-orders", "order-sign.json",
     [("ilms-rt-chemo-reserved", "MedicationRequest/ilms3-draft-gemdoc", False),
      ("ilms-rt-chemo-reserved", "MedicationRequest/ilms3-draft-trab", False)]),
    ("sts-thigh-ct-reason-codes", "order-sign-mass.json",
     [("sts-mri-local-staging", "ServiceRequest/ct16-draft-ct-mass", False)]),
    ("ascmn-cyclophosphamide-for-lupus", "order-sign-no-reason.json",
     [("ascmn-no-systemic-therapy", "MedicationRequest/a5-draft-cyc", False)]),
]


@pytest.mark.parametrize(("scenario", "request_file", "expected"), SCENARIO_CARDS)
def test_reason_scenarios_card_by_card(app: Flask, scenario: str, request_file: str,
                                       expected: list[tuple[str, str, bool]]) -> None:
    """The new reason and formulary scenarios, one card per draft, hedged where pinned."""
    body = scenario_request(scenario, request_file)
    response = app.test_client().post(f"/cds-services/sts-{body['hook']}", json=body)
    assert response.status_code == 200
    cards = response.get_json()["cards"]
    seen = sorted((c["source"]["topic"]["code"],
                   c["extension"]["org.sts-cds.explanation"]["subject"],
                   c["summary"].startswith("If ")) for c in cards)
    assert seen == sorted(expected)
    for card in cards:
        codes = {r["code"] for r in card["overrideReasons"]}
        assert ("other-condition" in codes) is card["summary"].startswith("If ")
