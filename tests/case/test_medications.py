"""Medication mapping: systemic drugs on record, rolled up to ingredient or product and class."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from cds_service.case.medications import map_medication
from cds_service.case.medications import names_no_drug
from cds_service.case.model import DrugClass
from cds_service.case.model import Medication
from cds_service.terminology import Terminology
from tests.case.common import RXNORM
from tests.case.common import CaseBuilder
from tests.case.common import cc
from tests.case.common import ref
from tests.case.common import resource

DOXORUBICIN_REQUEST = ("pecoma-early-lung-and-liver-mets", "p11-med-1")  # completed, RxNorm 3639
SIROLIMUS_STATEMENT = ("pecoma-advanced-on-sirolimus", "p7-medst-1")  # active, RxNorm 35302


def _request(code: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """The doxorubicin MedicationRequest of a scenario with another medication and fields."""
    request = resource(*DOXORUBICIN_REQUEST)
    request["medicationCodeableConcept"] = code
    request.update(fields)
    return request


def test_a_medication_request_on_record(case_of: CaseBuilder) -> None:
    """The issue: MedicationRequest is read with its provenance (Type/id, date)."""
    (medication,) = case_of([resource(*DOXORUBICIN_REQUEST)]).medications
    assert medication == Medication(
        source="MedicationRequest/p11-med-1", drug="drug/doxorubicin",
        drug_class=DrugClass.ANTHRACYCLINE, date=dt.date(2025, 10, 20), from_text=False)


def test_a_medication_statement_on_record(case_of: CaseBuilder) -> None:
    """The issue: MedicationStatement is read as well, dated by its effective period."""
    (medication,) = case_of([resource(*SIROLIMUS_STATEMENT)]).medications
    assert medication == Medication(
        source="MedicationStatement/p7-medst-1", drug="drug/sirolimus",
        drug_class=DrugClass.MTOR_INHIBITOR, date=dt.date(2025, 2, 10), from_text=False)


@pytest.mark.parametrize(("code", "drug", "drug_class"), [
    ("2586868", "drug/nab-sirolimus", DrugClass.MTOR_INHIBITOR),  # Fyarro SBD
    ("2586864", "drug/nab-sirolimus", DrugClass.MTOR_INHIBITOR),  # Fyarro BN
    ("258355", "drug/sirolimus", DrugClass.MTOR_INHIBITOR),  # Rapamune BN
    ("1724306", "drug/temsirolimus", DrugClass.MTOR_INHIBITOR),  # Torisel product
    ("1790099", "drug/doxorubicin", DrugClass.ANTHRACYCLINE),  # doxorubicin 2 MG/ML SCD
    ("217701", "drug/ifosfamide", DrugClass.ALKYLATING),  # Ifex BN
    ("141704", "drug/everolimus", DrugClass.MTOR_INHIBITOR),
    ("3995", "drug/epirubicin", DrugClass.ANTHRACYCLINE),
])
def test_rxnorm_products_roll_up_to_drug_and_class(case_of: CaseBuilder, code: str, drug: str,
                                                    drug_class: DrugClass) -> None:
    """The issue: "RxNorm SCD/SBD product codes rolled up (Fyarro 2586868 → nab-sirolimus,
    mtor-inhibitor)"; terminology.md §2d."""
    (medication,) = case_of([_request(cc((RXNORM, code)))]).medications
    assert (medication.drug, medication.drug_class, medication.from_text) == (
        drug, drug_class, False)


def test_the_fyarro_product_beats_its_sirolimus_display(case_of: CaseBuilder) -> None:
    """terminology.md §2d: "detect nab-sirolimus by BN/SBD codes, not IN" (the SBD display
    names sirolimus too)."""
    code = cc((RXNORM, "2586868", "sirolimus 100 MG Injection [Fyarro]"), text="Sirolimus IV")
    (medication,) = case_of([_request(code)]).medications
    assert medication.drug == "drug/nab-sirolimus"


@pytest.mark.parametrize("text", ["Larotrectinib 100 mg capsule", "VITRAKVI 25 mg",
                                  "entrectinib 600 mg daily"])
def test_a_trk_inhibitor_named_only_in_words_is_from_text(case_of: CaseBuilder,
                                                          text: str) -> None:
    """The issue: "text-only larotrectinib"; TRK inhibitors have no verified RxCUI, so the fact
    records that it came from text."""
    (medication,) = case_of([_request(cc(text=text))]).medications
    assert medication.drug_class is DrugClass.TRK_INHIBITOR
    assert medication.from_text is True


def test_the_larotrectinib_statement_of_a_scenario(case_of: CaseBuilder) -> None:
    """The issue: text-only larotrectinib, as a MedicationStatement."""
    (medication,) = case_of("ntrk-on-larotrectinib").medications
    assert (medication.source, medication.drug, medication.drug_class, medication.from_text) == (
        "MedicationStatement/n15-medst-1", "drug/larotrectinib", DrugClass.TRK_INHIBITOR, True)


@pytest.mark.parametrize("state", ["cancelled", "entered-in-error", "draft"])
def test_cancelled_entered_in_error_and_draft_requests_are_not_on_record(
        case_of: CaseBuilder, state: str) -> None:
    """The issue: "cancelled/entered-in-error/draft ignored"; recommendations.md: "an order
    drafted in the same request does not count as on record"."""
    assert case_of([_request(cc((RXNORM, "35302")), status=state)]).medications == ()


@pytest.mark.parametrize("state", ["entered-in-error", "not-taken"])
def test_statements_not_taken_or_in_error_are_not_on_record(case_of: CaseBuilder,
                                                            state: str) -> None:
    """The issue: entered-in-error is ignored; a drug not taken was never given."""
    statement = resource(*SIROLIMUS_STATEMENT)
    statement["status"] = state
    assert case_of([statement]).medications == ()


@pytest.mark.parametrize("state", ["active", "completed", "stopped", "on-hold"])
def test_past_and_current_requests_are_on_record(case_of: CaseBuilder, state: str) -> None:
    """recommendations.md pecoma-mtor-first-line: an mTOR inhibitor "ever recorded" counts,
    stopped or completed ones included."""
    (medication,) = case_of([_request(cc((RXNORM, "35302")), status=state)]).medications
    assert medication.drug_class is DrugClass.MTOR_INHIBITOR


def test_a_medication_reference_display_is_read_as_text(case_of: CaseBuilder) -> None:
    """The issue: synonyms in displays; a MedicationRequest may name its drug only through the
    display of its medicationReference."""
    request = resource(*DOXORUBICIN_REQUEST)
    del request["medicationCodeableConcept"]
    request["medicationReference"] = {"reference": "Medication/med-9",
                                      "display": "Everolimus 10 mg tablet"}
    (medication,) = case_of([request]).medications
    assert (medication.drug, medication.from_text) == ("drug/everolimus", True)


def _contained(medication: Any, reference: dict[str, Any]) -> dict[str, Any]:
    request = resource(*DOXORUBICIN_REQUEST)
    del request["medicationCodeableConcept"]
    request["contained"] = [medication]
    request["medicationReference"] = reference
    return request


EVEROLIMUS_MEDICATION = {"resourceType": "Medication", "id": "m1", "code": cc((RXNORM, "141704"))}


@pytest.mark.parametrize(("medication", "reference", "expected"), [
    pytest.param(EVEROLIMUS_MEDICATION, {"reference": "#m1"}, ("drug/everolimus", False),
                 id="coded-contained-medication"),
    pytest.param(EVEROLIMUS_MEDICATION, {"reference": "#m1", "display": "Doxorubicin"},
                 ("drug/everolimus", False), id="the-code-before-the-display"),
    pytest.param({**EVEROLIMUS_MEDICATION, "code": {"text": "Everolimus 10 mg tablet"}},
                 {"reference": "#m1"}, ("drug/everolimus", True), id="text-only-medication"),
    pytest.param({**EVEROLIMUS_MEDICATION, "id": "other"},
                 {"reference": "#m1", "display": "Doxorubicin 50 mg"}, ("drug/doxorubicin", True),
                 id="no-such-contained-id-falls-back-to-the-display"),
    pytest.param({"resourceType": "Medication", "id": "m1", "form": {"text": "Injection"}},
                 {"reference": "#m1", "display": "Doxorubicin 50 mg"}, ("drug/doxorubicin", True),
                 id="uncoded-medication-falls-back-to-the-display"),
    pytest.param({**EVEROLIMUS_MEDICATION, "resourceType": "Substance"},
                 {"reference": "#m1"}, None, id="not-a-medication"),
    pytest.param(EVEROLIMUS_MEDICATION, {"reference": "Medication/m1"}, None,
                 id="a-medication-elsewhere-is-not-followed"),
])
def test_a_medication_reference_to_a_contained_medication_is_read(
    case_of: CaseBuilder, medication: Any, reference: dict[str, Any],
    expected: tuple[str, bool] | None,
) -> None:
    """Real EHR data: the drug of a MedicationRequest named only by a contained Medication."""
    medications = case_of([_contained(medication, reference)]).medications
    assert [(m.drug, m.from_text) for m in medications] == ([expected] if expected else [])


@pytest.mark.parametrize(("fields", "expected"), [
    ({"authoredOn": "2025-10"}, dt.date(2025, 10, 1)),
    ({"authoredOn": "2025-10-20T14:30:00+01:00"}, dt.date(2025, 10, 20)),
    ({}, None),
])
def test_request_dates_in_every_precision(case_of: CaseBuilder, fields: dict[str, Any],
                                          expected: dt.date | None) -> None:
    """The issue: "Accept dateTime, Period and partial dates"."""
    request = resource(*DOXORUBICIN_REQUEST)
    del request["authoredOn"]
    request.update(fields)
    (medication,) = case_of([request]).medications
    assert medication.date == expected


@pytest.mark.parametrize(("fields", "expected"), [
    ({"effectiveDateTime": "2025-02"}, dt.date(2025, 2, 1)),
    ({"effectivePeriod": {"end": "2026-01-31"}}, dt.date(2026, 1, 31)),
    ({"dateAsserted": "2026-11-05"}, dt.date(2026, 11, 5)),
])
def test_statement_dates_in_every_shape(case_of: CaseBuilder, fields: dict[str, Any],
                                        expected: dt.date) -> None:
    """The issue: "Accept dateTime, Period and partial dates"; dateAsserted when nothing
    else."""
    statement = resource(*SIROLIMUS_STATEMENT)
    del statement["effectivePeriod"], statement["dateAsserted"]
    statement.update(fields)
    (medication,) = case_of([statement]).medications
    assert medication.date == expected


def test_unrelated_drugs_are_not_systemic_therapy(case_of: CaseBuilder) -> None:
    """recommendations.md: the rules count systemic therapy only (lisinopril, metformin,
    ondansetron are ignored)."""
    assert case_of("no-tumour-hypertension").medications == ()
    assert case_of("sts-thigh-high-grade-r1").medications == ()
    assert [m.drug for m in case_of("breast-cancer-no-sarcoma").medications] == [
        "drug/doxorubicin"]


def test_chemotherapy_named_only_as_a_class(terminology: Terminology) -> None:
    """recommendations.md: "cytotoxic chemotherapy" orders are told apart from mTOR
    inhibitors even when no drug is named."""
    request = _request(cc(text="Palliative chemotherapy, cycle 3"))
    (medication,) = map_medication(request, terminology)
    assert (medication.drug, medication.drug_class, medication.from_text) == (
        "drug/chemotherapy", DrugClass.CYTOTOXIC, True)


def test_a_drug_for_another_patient_reference_is_still_this_records_drug(
        case_of: CaseBuilder) -> None:
    """The mapper reads the record it is given (the hook's prefetch is already the patient's):
    a reasonReference to nowhere does not drop the drug."""
    request = _request(cc((RXNORM, "35302")), reasonReference=[ref("Condition/missing")])
    assert [m.drug for m in case_of([request]).medications] == ["drug/sirolimus"]


@pytest.mark.parametrize(("status", "named"), [
    ("active", True), ("completed", True), ("stopped", True),
    ("entered-in-error", False), ("cancelled", False), ("draft", False),
])
def test_a_medication_naming_no_readable_drug_is_named_unreadable(
    case_of: CaseBuilder, status: str, named: bool,
) -> None:
    """Unknown is not false: a drug named only by a reference to a Medication elsewhere could be
    an mTOR inhibitor, so the record says it could not be read instead of holding no drug."""
    request = _contained(EVEROLIMUS_MEDICATION, {"reference": "Medication/m1"})
    request["status"] = status
    case = case_of([request])
    assert case.medications == ()
    assert case.unreadable == (("MedicationRequest/p11-med-1",) if named else ())


@pytest.mark.parametrize(("fields", "expected"), [
    ({"resourceType": "MedicationRequest", "status": [], "medicationReference": None}, True),
    ({"resourceType": ["MedicationRequest"], "medicationReference": {"reference": "Medication/1"}},
     False),
    ({"resourceType": "MedicationStatement", "status": {"x": 1},
      "medicationReference": {"reference": "Medication/1"}}, True),
])
def test_names_no_drug_takes_any_json_before_validation(
    fields: dict[str, Any], expected: bool,
) -> None:
    """The pre-filter runs on resources not yet validated: wrong types are answered, not raised."""
    assert names_no_drug(fields) is expected
