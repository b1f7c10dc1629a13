"""The sarcoma formulary through the whole path (issue 12, class 5; recommendations.md "Drug classes
(revised)"; terminology.md §5): every systemic agent of sarcoma care, ordered by its RxNorm
ingredient (or NCIt) code, by text only, or as a product whose display names the ingredient, makes
the rules that name its class fire on order-select, order-sign and patient-view, and no others.

- pecoma-chemo-before-mtor: cytotoxic chemotherapy or a targeted agent other than an mTOR
  inhibitor, for an advanced PEComa with no mTOR inhibitor on record.
- ascmn-no-systemic-therapy (order-sign only): any systemic anticancer drug, mTOR inhibitors too.
- ilms-rt-chemo-reserved: cytotoxic chemotherapy only.
- patient-view: an mTOR inhibitor on record silences pecoma-mtor-first-line, a TRK inhibitor
  silences ntrk-trk-inhibitor; no other class does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from cds_service.app import create_app
from cds_service.settings import Settings
from cds_service.state import service_state
from cds_service.terminology import Terminology
from tests.case.common import bundle
from tests.common import hook_request
from tests.systems import NCIT
from tests.systems import RXNORM

CYTOTOXIC, TARGETED, MTOR = "cytotoxic", "targeted", "mtor"

# (concept, kind, verified ingredient code or None, text as ordered, product display, product
# code or None). Product codes here come from the same public value sets as the ingredient codes
# (CIB, the CDS Hooks sandbox's RxNorm list); the value sets do not list them: the product is read
# through the ingredient its display names.
FORMULARY = [
    ("drug/doxorubicin", CYTOTOXIC, (RXNORM, "3639"), "Doxorubicin 75 mg/m2 IV",
     "doxorubicin hydrochloride 2 MG/ML Injectable Solution", None),
    ("drug/liposomal-doxorubicin", CYTOTOXIC, (RXNORM, "80773"),
     "Pegylated liposomal doxorubicin 50 mg/m2", "Doxil 2 MG/ML Injectable Suspension", None),
    ("drug/epirubicin", CYTOTOXIC, (RXNORM, "3995"), "Epirubicin 60 mg/m2 IV day 1-2",
     "epirubicin hydrochloride 2 MG/ML Injectable Solution", None),
    ("drug/idarubicin", CYTOTOXIC, (RXNORM, "5650"), "Idarubicin 10 mg by mouth",
     "Idarubicin Hydrochloride 10 MG Oral Capsule", "996156"),
    ("drug/daunorubicin", CYTOTOXIC, None, "Daunorubicin 60 mg/m2 IV",
     "cytarabine / daunorubicin Injection [Vyxeos]", "2285806"),
    ("drug/ifosfamide", CYTOTOXIC, (RXNORM, "5657"), "Ifosfamide 2.5 g/m2 with mesna",
     "ifosfamide 1000 MG Injection", "1791593"),
    ("drug/cyclophosphamide", CYTOTOXIC, (RXNORM, "3002"), "Cyclophosphamide 1.2 g/m2 IV",
     "cyclophosphamide 25 MG Oral Capsule", "1437968"),
    ("drug/dacarbazine", CYTOTOXIC, (RXNORM, "3098"), "DTIC 250 mg/m2 days 1-5",
     "dacarbazine 200 MG Injection", None),
    ("drug/temozolomide", CYTOTOXIC, (RXNORM, "37776"), "Temozolomide 150 mg/m2 PO",
     "temozolomide 100 MG Oral Capsule", None),
    ("drug/gemcitabine", CYTOTOXIC, (RXNORM, "12574"), "Gemcitabine 900 mg/m2 days 1 and 8",
     "gemcitabine 200 MG Injection", "1719000"),
    ("drug/docetaxel", CYTOTOXIC, (RXNORM, "72962"), "Docetaxel 75 mg/m2 day 8",
     "docetaxel 20 MG/ML Injectable Solution", None),
    ("drug/paclitaxel", CYTOTOXIC, (RXNORM, "56946"), "Weekly paclitaxel 80 mg/m2",
     "paclitaxel 6 MG/ML Injectable Solution", None),
    ("drug/trabectedin", CYTOTOXIC, (NCIT, "C1691"), "Trabectedin 1.5 mg/m2 24-h infusion",
     "trabectedin 1 MG Injection [Yondelis]", None),
    ("drug/eribulin", CYTOTOXIC, None, "Eribulin 1.4 mg/m2 days 1 and 8",
     "eribulin mesylate 0.5 MG/ML Injectable Solution [Halaven]", None),
    ("drug/vincristine", CYTOTOXIC, (RXNORM, "11202"), "Vincristine 1.5 mg/m2 IV push",
     "vincristine sulfate 1 MG/ML Injectable Solution", None),
    ("drug/dactinomycin", CYTOTOXIC, (RXNORM, "3100"), "Actinomycin D 1.5 mg/m2",
     "dactinomycin 0.5 MG Injection [Cosmegen]", None),
    ("drug/etoposide", CYTOTOXIC, (RXNORM, "4179"), "Etoposide 100 mg/m2 IV days 1-5",
     "etoposide 50 MG Oral Capsule", "197687"),
    ("drug/pazopanib", TARGETED, (RXNORM, "714438"), "Pazopanib 800 mg once daily",
     "pazopanib 200 MG Oral Tablet [Votrient]", None),
    ("drug/regorafenib", TARGETED, (NCIT, "C78204"), "Regorafenib 160 mg daily, 3 weeks on",
     "regorafenib 40 MG Oral Tablet [Stivarga]", None),
    ("drug/larotrectinib", TARGETED, (RXNORM, "2105628"), "Larotrectinib 100 mg twice daily",
     "larotrectinib 100 MG Oral Capsule [Vitrakvi]", None),
    ("drug/entrectinib", TARGETED, None, "Entrectinib 600 mg daily",
     "entrectinib 200 MG Oral Capsule [Rozlytrek]", None),
    ("drug/repotrectinib", TARGETED, None, "Repotrectinib 160 mg daily",
     "repotrectinib 40 MG Oral Capsule [Augtyro]", None),
    ("drug/sirolimus", MTOR, (RXNORM, "35302"), "Sirolimus 5 mg daily",
     "sirolimus 1 MG Oral Tablet", None),
    ("drug/everolimus", MTOR, (RXNORM, "141704"), "Everolimus 10 mg daily",
     "everolimus 10 MG Oral Tablet [Afinitor]", None),
    ("drug/temsirolimus", MTOR, (RXNORM, "657797"), "Temsirolimus 25 mg weekly",
     "temsirolimus 25 MG/ML Injectable Solution [Torisel]", None),
]

FORMS = ["code", "text", "product"]


def _concept(form: str, entry: tuple[Any, ...]) -> dict[str, Any] | None:
    _, _, code, text, product, product_code = entry
    if form == "code":
        return None if code is None else {"coding": [{"system": code[0], "code": code[1]}]}
    if form == "text":
        return {"text": text}
    coding = {"system": RXNORM, "display": product}
    if product_code:
        coding["code"] = product_code
    return {"coding": [coding]}


CASES = [pytest.param(entry, form, id=f"{entry[0].split('/')[1]}-{form}")
         for entry in FORMULARY for form in FORMS if _concept(form, entry) is not None]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    root: Path = tmp_path_factory.mktemp("formulary")
    built = create_app(Settings(database_url=f"sqlite:///{root / 'db.sqlite3'}",
                                today=dt.date(2026, 11, 22)))
    yield built
    service_state(built).close()


def _ids(app: Flask, scenario: str, hook: str, extra: list[dict[str, Any]],
         drafts: list[dict[str, Any]]) -> set[str]:
    record = bundle(scenario) + extra
    patient = next(r["id"] for r in record if r["resourceType"] == "Patient")
    for resource in [*extra, *drafts]:
        resource["subject"] = {"reference": f"Patient/{patient}"}
    body = hook_request(hook, patient, record, drafts)
    response = app.test_client().post(f"/cds-services/sts-{hook}", json=body)
    assert response.status_code == 200, response.get_json()
    return {card["source"]["topic"]["code"] for card in response.get_json()["cards"]}


def _draft(medication: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "MedicationRequest", "id": "draft-drug", "status": "draft",
            "intent": "order", "medicationCodeableConcept": medication}


ORDER_RULES = {
    # scenario, hook, rule, the kinds that make it fire
    ("pecoma-lung-metastases-doxorubicin", "order-sign", "pecoma-chemo-before-mtor",
     frozenset({CYTOTOXIC, TARGETED})),
    ("pecoma-lung-metastases-doxorubicin", "order-select", "pecoma-chemo-before-mtor",
     frozenset({CYTOTOXIC, TARGETED})),
    ("ascmn-thumb-untreated", "order-sign", "ascmn-no-systemic-therapy",
     frozenset({CYTOTOXIC, TARGETED, MTOR})),
    ("ilms-no-rms-chemo-order", "order-sign", "ilms-rt-chemo-reserved", frozenset({CYTOTOXIC})),
    ("ilms-no-rms-chemo-order", "order-select", "ilms-rt-chemo-reserved", frozenset({CYTOTOXIC})),
}
DRUG_RULES = {"pecoma-chemo-before-mtor", "ascmn-no-systemic-therapy", "ilms-rt-chemo-reserved"}


@pytest.mark.parametrize(("entry", "form"), CASES)
def test_draft_orders_fire_the_rules_of_their_class(app: Flask, entry: tuple[Any, ...],
                                                    form: str) -> None:
    medication = _concept(form, entry)
    assert medication is not None
    for scenario, hook, rule, kinds in sorted(ORDER_RULES):
        fired = _ids(app, scenario, hook, [], [_draft(dict(medication))]) & DRUG_RULES
        assert fired == ({rule} if entry[1] in kinds else set()), (scenario, hook)


@pytest.mark.parametrize(("entry", "form"), CASES)
def test_drugs_on_record_silence_only_their_own_class(app: Flask, entry: tuple[Any, ...],
                                                      form: str) -> None:
    medication = _concept(form, entry)
    assert medication is not None
    statement = {"resourceType": "MedicationStatement", "id": "ms-drug", "status": "active",
                 "medicationCodeableConcept": medication, "effectiveDateTime": "2026-06-01"}
    pecoma = _ids(app, "pecoma-lung-metastases-doxorubicin", "patient-view", [statement], [])
    assert ("pecoma-mtor-first-line" in pecoma) is (entry[1] != MTOR)
    ntrk = _ids(app, "ntrk-fusion-metastatic", "patient-view", [dict(statement)], [])
    trk = entry[0] in {"drug/larotrectinib", "drug/entrectinib", "drug/repotrectinib"}
    assert ("ntrk-trk-inhibitor" in ntrk) is not trk


@pytest.mark.parametrize(("entry", "form"), CASES)
def test_each_form_reads_as_its_own_drug(terminology: Terminology, entry: tuple[Any, ...],
                                         form: str) -> None:
    """The concept itself (not only its class): what the card and its explanation name."""
    from cds_service.case.medications import classify_drug

    drug, _, from_text = classify_drug(_concept(form, entry), terminology)
    assert drug == entry[0]
    assert from_text is (form != "code")


def test_every_formulary_concept_is_swept(terminology: Terminology) -> None:
    """Every named systemic agent of the value sets is in the sweep above."""
    groups = {"drug/anthracycline", "drug/chemotherapy", "drug/mtor-inhibitor",
              "drug/other-cytotoxic", "drug/targeted-agent", "drug/trk-inhibitor",
              "drug/nab-sirolimus"}
    assert terminology.concepts_in("drug") - groups == {entry[0] for entry in FORMULARY}
