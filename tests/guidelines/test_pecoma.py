"""Unit tests of the PEComa rules (source PEC) and sts-specialist-referral."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from cds_service.case.model import ClinicalStatus
from cds_service.case.model import DrugClass
from cds_service.case.model import Entity
from cds_service.case.model import IhcMarker
from cds_service.case.model import IhcResult
from cds_service.case.model import ImagingKind
from cds_service.case.model import Margin
from cds_service.case.model import Medication
from cds_service.case.model import Metastasis
from cds_service.case.model import OrderKind
from cds_service.case.model import Resection
from cds_service.case.model import ResectionKind
from cds_service.case.model import Site
from cds_service.case.model import Tumour
from cds_service.guidelines.recommendation import Recommendation
from cds_service.guidelines.rules import pecoma
from cds_service.guidelines.rules.pecoma_treatment import pecoma_adjuvant_radiotherapy
from cds_service.guidelines.rules.pecoma_treatment import pecoma_chemo_before_mtor
from cds_service.guidelines.rules.pecoma_treatment import pecoma_metastasectomy
from cds_service.guidelines.rules.pecoma_treatment import pecoma_mtor_first_line
from cds_service.guidelines.rules.pecoma_treatment import pecoma_postoperative_therapy
from cds_service.guidelines.rules.pecoma_treatment import pecoma_uterine_regimen
from cds_service.hooks.models import Hook
from cds_service.hooks.models import Indicator
from tests.guidelines.factories import case
from tests.guidelines.factories import context
from tests.guidelines.factories import fact
from tests.guidelines.factories import fire
from tests.guidelines.factories import order
from tests.guidelines.factories import render
from tests.guidelines.factories import tumour

D = dt.date
RESECTED = D(2024, 3, 1)
LUNG_MET = D(2025, 6, 1)
BODY_SITE = {"coding": [{"system": "http://snomed.info/sct", "code": "71854001",
                         "display": "Colon structure"}], "text": "Retroperitoneum"}
ORDER_HOOKS = [Hook.ORDER_SELECT, Hook.ORDER_SIGN]


def pec(**fields: Any) -> Tumour:
    """A pecoma of the retroperitoneum (the longest site name)."""
    fields.setdefault("site", fact(Site.RETROPERITONEUM, "Condition/cond-1"))
    fields.setdefault("body_site", BODY_SITE)
    return tumour(Entity.PECOMA, **fields)


def ihc(marker: IhcMarker, positive: bool | None = True) -> IhcResult:
    return IhcResult(marker=marker, positive=positive, source=f"Observation/ihc-{marker.value}",
                     date=D(2026, 1, 5))


def resection(date: D | None = RESECTED, margin: Margin | None = Margin.R0,
              source: str = "Procedure/res-1") -> Resection:
    return Resection(source=source, kind=ResectionKind.WIDE, date=date,
                     margin=fact(margin, "Observation/margin-1") if margin else None)


def lung(date: D | None = LUNG_MET, source: str = "Condition/met-1") -> Metastasis:
    return Metastasis(source=source, lung=True, date=date)


def mtor() -> Medication:
    return Medication(source="MedicationStatement/ms-1", drug="drug/sirolimus",
                      drug_class=DrugClass.MTOR_INHIBITOR, date=D(2025, 1, 1))


def chemo(**fields: Any) -> Any:
    fields.setdefault("label", "doxorubicin 75 mg/m2 IV every 21 days, 6 cycles")
    fields.setdefault("drug_class", DrugClass.ANTHRACYCLINE)
    return order(kind=OrderKind.DRUG, **fields)


def xray(**fields: Any) -> Any:
    return order("ServiceRequest", "xr-1", kind=OrderKind.IMAGING,
                 imaging=ImagingKind.XRAY_CHEST, label="XR chest 2 views", **fields)


def run(fn: Any, c: Any, hook: Hook = Hook.PATIENT_VIEW) -> list[Recommendation]:
    return fire(fn, c, context(hook))


def rendered(rec: Recommendation) -> dict[str, Any]:
    """Render the card; check the summary length and that created resources are valid R4."""
    card = render(rec)
    assert len(card["summary"]) < 140, card["summary"]
    assert "{" not in card["detail"]
    for suggestion in card.get("suggestions", []):
        for action in suggestion.get("actions", []):
            if action["type"] == "create":
                resource = action["resource"]
                get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    return card


def creates(card: dict[str, Any], index: int = 0) -> list[dict[str, Any]]:
    actions = card["suggestions"][index]["actions"]
    return [a["resource"] for a in actions if a["type"] == "create"]


def deletes(card: dict[str, Any], index: int = 0) -> list[str]:
    actions = card["suggestions"][index]["actions"]
    return [a["resourceId"] for a in actions if a["type"] == "delete"]


# --- pecoma-ihc-panel ---------------------------------------------------------------------------

def test_pecoma_ihc_panel_fires_without_any_marker() -> None:
    """pecoma-ihc-panel: no melanocytic and no smooth-muscle result: info naming both groups."""
    [rec] = run(pecoma.pecoma_ihc_panel, case(pec()))
    assert (rec.id, rec.indicator, rec.subject) == ("pecoma-ihc-panel", Indicator.INFO, "cond-1")
    assert rec.values["missing"] == "HMB-45/Melan-A, SMA/desmin"
    card = rendered(rec)
    assert "HMB-45/Melan-A, SMA/desmin" in card["summary"]
    assert "IHC HMB-45: not recorded" in card["detail"]


def test_pecoma_ihc_panel_names_only_the_missing_group() -> None:
    """pecoma-ihc-panel: Melan-A resulted, smooth-muscle marker missing."""
    [rec] = run(pecoma.pecoma_ihc_panel, case(pec(ihc=(ihc(IhcMarker.MELAN_A, False),))))
    assert rec.values["missing"] == "SMA/desmin"


@pytest.mark.parametrize("markers", [
    (IhcMarker.HMB45, IhcMarker.SMA), (IhcMarker.MELAN_A, IhcMarker.DESMIN),
])
def test_pecoma_ihc_panel_silent_when_complete(markers: tuple[IhcMarker, ...]) -> None:
    """pecoma-ihc-panel: one melanocytic and one smooth-muscle result: no card."""
    assert run(pecoma.pecoma_ihc_panel, case(pec(ihc=tuple(ihc(m) for m in markers)))) == []


def test_pecoma_ihc_panel_result_without_value_is_not_a_result() -> None:
    """pecoma-ihc-panel: an IHC record whose positivity is unknown does not complete the panel."""
    t = pec(ihc=(ihc(IhcMarker.HMB45, None), ihc(IhcMarker.SMA)))
    [rec] = run(pecoma.pecoma_ihc_panel, case(t))
    assert rec.values["missing"] == "HMB-45/Melan-A"


def test_pecoma_ihc_panel_ignores_history_and_other_entities() -> None:
    """pecoma-ihc-panel: work-up rules consider active pecomas only."""
    history = pec(clinical_status=ClinicalStatus.REMISSION)
    assert run(pecoma.pecoma_ihc_panel, case(history, tumour(Entity.STS, "cond-2"))) == []


# --- pecoma-metastasectomy ----------------------------------------------------------------------

def test_pecoma_metastasectomy_fires_after_a_year() -> None:
    """pecoma-metastasectomy: lung-only metastasis 15 months after the primary resection."""
    t = pec(resections=(resection(D(2024, 3, 1)), resection(D(2024, 9, 1), source="Procedure/r2")),
            metastases=(lung(D(2025, 6, 1)),))
    [rec] = run(pecoma_metastasectomy, case(t))
    assert (rec.id, rec.indicator, rec.subject) == ("pecoma-metastasectomy", Indicator.INFO,
                                                    "cond-1")
    assert rec.values["months"] == "15"  # counted from the first (primary) resection
    card = rendered(rec)
    assert "Procedure/res-1" in card["detail"] and "Condition/met-1" in card["detail"]


@pytest.mark.parametrize("mets", [
    (lung(D(2025, 2, 28)),),  # 364 days: disease-free interval not reached
    (lung(), Metastasis(source="Condition/met-2", lung=False, date=D(2025, 6, 1))),  # liver
    (lung(), Metastasis(source="Condition/met-2", lung=None, date=D(2025, 6, 1))),  # site unknown
    (lung(), Metastasis(source="Condition/met-2", lung=None, nodal=True, date=D(2025, 6, 1))),
    (lung(), lung(D(2024, 5, 1), "Condition/met-2")),  # a synchronous lung metastasis
    (),
])
def test_pecoma_metastasectomy_silent(mets: tuple[Metastasis, ...]) -> None:
    """pecoma-metastasectomy: short interval, extrapulmonary/unknown spread or none: no card."""
    t = pec(resections=(resection(D(2024, 3, 1)),), metastases=mets)
    assert run(pecoma_metastasectomy, case(t)) == []


def test_pecoma_metastasectomy_exactly_one_year_fires() -> None:
    """pecoma-metastasectomy: a disease-free interval of 365 days counts as >= 12 months."""
    t = pec(resections=(resection(D(2024, 3, 1)),), metastases=(lung(D(2025, 3, 1)),))
    assert len(run(pecoma_metastasectomy, case(t))) == 1


@pytest.mark.parametrize(("res_date", "met_date"), [(None, D(2026, 1, 1)), (D(2024, 3, 1), None)])
def test_pecoma_metastasectomy_undated_does_not_fire(res_date: D | None,
                                                     met_date: D | None) -> None:
    """pecoma-metastasectomy (conservative): an undated resection or metastasis does not fire."""
    t = pec(resections=(resection(res_date),), metastases=(lung(met_date),))
    assert run(pecoma_metastasectomy, case(t)) == []


def test_pecoma_metastasectomy_unresected_or_other_entity() -> None:
    """pecoma-metastasectomy: no resection, or not a pecoma: no card."""
    unresected = pec(metastases=(lung(),))
    sts = tumour(Entity.STS, "cond-2", resections=(resection(),), metastases=(lung(),))
    assert run(pecoma_metastasectomy, case(unresected, sts)) == []


# --- pecoma-adjuvant-radiotherapy ---------------------------------------------------------------

@pytest.mark.parametrize("margin", [Margin.R1, Margin.R2])
def test_pecoma_adjuvant_rt_positive_margin(margin: Margin) -> None:
    """pecoma-adjuvant-radiotherapy: latest resection R1/R2, no RT: info, margin variant."""
    t = pec(resections=(resection(margin=margin),), clinical_status=ClinicalStatus.REMISSION)
    [rec] = run(pecoma_adjuvant_radiotherapy, case(t))
    assert (rec.id, rec.indicator, rec.variant) == ("pecoma-adjuvant-radiotherapy",
                                                    Indicator.INFO, "margin")
    card = rendered(rec)
    assert f"an {margin.value} margin" in card["summary"]
    assert "broad ligament" not in card["detail"].split("**Why")[0]


def test_pecoma_adjuvant_rt_broad_ligament_with_clear_margin() -> None:
    """pecoma-adjuvant-radiotherapy: broad ligament is a high-risk site even with R0."""
    t = pec(site=fact(Site.BROAD_LIGAMENT), resections=(resection(margin=Margin.R0),))
    [rec] = run(pecoma_adjuvant_radiotherapy, case(t))
    assert rec.variant == "site"
    assert "broad ligament" in rendered(rec)["summary"]


def test_pecoma_adjuvant_rt_broad_ligament_and_positive_margin() -> None:
    """pecoma-adjuvant-radiotherapy: both reasons: margin variant mentioning the site."""
    t = pec(site=fact(Site.BROAD_LIGAMENT), resections=(resection(margin=Margin.R1),))
    [rec] = run(pecoma_adjuvant_radiotherapy, case(t))
    assert rec.variant == "margin"
    assert "high-risk site" in rendered(rec)["detail"]


def test_pecoma_adjuvant_rt_margin_not_recorded_does_not_fire() -> None:
    """pecoma-adjuvant-radiotherapy (conservative): a margin not recorded is not "uncertain"."""
    t = pec(resections=(resection(margin=None),))
    assert run(pecoma_adjuvant_radiotherapy, case(t)) == []


def test_pecoma_adjuvant_rt_uses_the_latest_resection() -> None:
    """pecoma-adjuvant-radiotherapy: R1 then an R0 re-excision: no card."""
    t = pec(resections=(resection(D(2024, 1, 1), Margin.R1),
                        resection(D(2024, 3, 1), Margin.R0, "Procedure/res-2")))
    assert run(pecoma_adjuvant_radiotherapy, case(t)) == []


def test_pecoma_adjuvant_rt_silent_with_radiotherapy_or_unresected() -> None:
    """pecoma-adjuvant-radiotherapy: radiotherapy on record, or no resection: no card."""
    resected = pec(resections=(resection(margin=Margin.R1),))
    rt = (fact(D(2024, 5, 1), "Procedure/rt-1"),)
    assert run(pecoma_adjuvant_radiotherapy, case(resected, radiotherapy=rt)) == []
    unresected = pec(site=fact(Site.BROAD_LIGAMENT))
    assert run(pecoma_adjuvant_radiotherapy, case(unresected)) == []


# --- pecoma-postoperative-therapy ---------------------------------------------------------------

def test_pecoma_postoperative_therapy_positive_nodes() -> None:
    """pecoma-postoperative-therapy: resected pecoma with positive nodes: info."""
    t = pec(resections=(resection(),), positive_nodes=fact(True, "Observation/pn-1"))
    [rec] = run(pecoma_postoperative_therapy, case(t))
    assert (rec.id, rec.indicator, rec.subject) == ("pecoma-postoperative-therapy",
                                                    Indicator.INFO, "cond-1")
    assert "Observation/pn-1" in rendered(rec)["detail"]


def test_pecoma_postoperative_therapy_metastasis_at_presentation() -> None:
    """pecoma-postoperative-therapy: distant metastasis dated before the first resection."""
    t = pec(resections=(resection(D(2024, 3, 1)),), metastases=(lung(D(2024, 2, 1)),))
    assert [r.id for r in run(pecoma_postoperative_therapy, case(t))] == [
        "pecoma-postoperative-therapy"]


@pytest.mark.parametrize("fields", [
    {"resections": (resection(D(2024, 3, 1)),), "metastases": (lung(D(2025, 6, 1)),)},  # later
    {"resections": (resection(D(2024, 3, 1)),), "metastases": (lung(None),)},  # undated
    {"resections": (resection(D(2024, 3, 1)), resection(None, source="Procedure/r2")),
     "metastases": (lung(D(2024, 2, 1)),)},  # an undated resection may be the primary one
    {"resections": (resection(),), "positive_nodes": fact(False)},
    {"positive_nodes": fact(True)},  # not resected
])
def test_pecoma_postoperative_therapy_silent(fields: dict[str, Any]) -> None:
    """pecoma-postoperative-therapy (conservative dating): no spread provably at presentation."""
    assert run(pecoma_postoperative_therapy, case(pec(**fields))) == []


# --- pecoma-mtor-first-line ---------------------------------------------------------------------

def test_pecoma_mtor_first_line_fires_for_advanced() -> None:
    """pecoma-mtor-first-line: metastatic pecoma, no mTOR inhibitor ever: warning."""
    [rec] = run(pecoma_mtor_first_line, case(pec(metastases=(lung(),))))
    assert (rec.id, rec.indicator, rec.subject) == ("pecoma-mtor-first-line",
                                                    Indicator.WARNING, "cond-1")
    card = rendered(rec)
    assert card["indicator"] == "warning" and "mTOR inhibitor: none on record" in card["detail"]


def test_pecoma_mtor_first_line_names_the_medications_it_could_not_read() -> None:
    """Unknown is not false: an unreadable medication may be an mTOR inhibitor; the card says so."""
    unread = ("MedicationStatement/ms-9", "MedicationRequest/mr-4")
    c = case(pec(metastases=(lung(),)), unreadable=(*unread, "Observation/obs-7"))
    [rec] = run(pecoma_mtor_first_line, c)
    detail = rendered(rec)["detail"]
    assert "mTOR inhibitor: none among the medications read; 2 could not be read" in detail
    assert all(ref in detail for ref in unread) and "none on record" not in detail


def test_pecoma_mtor_first_line_unresectable_counts_as_advanced() -> None:
    """pecoma-mtor-first-line: documented unresectable is advanced."""
    t = pec(unresectable=fact(True, "Observation/unres-1"))
    assert len(run(pecoma_mtor_first_line, case(t))) == 1


def test_pecoma_mtor_first_line_silent() -> None:
    """pecoma-mtor-first-line: mTOR inhibitor ever received, localized, nodal-only: no card."""
    advanced = pec(metastases=(lung(),))
    assert run(pecoma_mtor_first_line, case(advanced, medications=(mtor(),))) == []
    nodal = pec(metastases=(Metastasis(source="Condition/n", lung=None, nodal=True),))
    assert run(pecoma_mtor_first_line, case(pec(), nodal)) == []


# --- pecoma-chemo-before-mtor -------------------------------------------------------------------

@pytest.mark.parametrize("hook", ORDER_HOOKS)
def test_pecoma_chemo_before_mtor_replaces_the_draft(hook: Hook) -> None:
    """pecoma-chemo-before-mtor: doxorubicin draft: warning, delete + sirolimus / nab-sirolimus."""
    c = case(pec(metastases=(lung(),)), draft_orders=(chemo(),))
    [rec] = run(pecoma_chemo_before_mtor, c, hook)
    assert (rec.id, rec.indicator, rec.subject, rec.variant) == (
        "pecoma-chemo-before-mtor", Indicator.WARNING, "MedicationRequest/draft-1", "default")
    assert rec.against_order
    assert [(s.creates[0].kind, s.deletes, s.recommended) for s in rec.suggestions] == [
        ("sirolimus", ("MedicationRequest/draft-1",), True),
        ("nab-sirolimus", ("MedicationRequest/draft-1",), False)]
    card = rendered(rec)
    assert deletes(card) == ["MedicationRequest/draft-1"]
    [created] = creates(card)
    assert created["resourceType"] == "MedicationRequest"
    assert created["medicationCodeableConcept"]["coding"][0]["code"] == "35302"
    assert created["reasonReference"] == [{"reference": "Condition/cond-1"}]
    assert creates(card, 1)[0]["medicationCodeableConcept"]["coding"][0]["code"] == "2586864"
    assert {r["code"] for r in card["overrideReasons"]} == {
        "mtor-unavailable", "mtor-contraindicated", "mtor-failed"}
    assert "epirubicin" not in card["detail"]


def test_pecoma_chemo_before_mtor_uterine_variant() -> None:
    """pecoma-chemo-before-mtor: uterine pecoma: the detail adds epirubicin + ifosfamide."""
    t = pec(site=fact(Site.UTERUS), metastases=(lung(),))
    [rec] = run(pecoma_chemo_before_mtor,
                case(t, draft_orders=(chemo(drug_class=DrugClass.ALKYLATING),)), Hook.ORDER_SIGN)
    assert rec.variant == "uterine"
    assert "epirubicin plus ifosfamide" in rendered(rec)["detail"]


def test_pecoma_chemo_before_mtor_draft_without_id_has_no_delete() -> None:
    """pecoma-chemo-before-mtor: a draft without an id gets the card without a delete action."""
    c = case(pec(metastases=(lung(),)),
             draft_orders=(chemo(order_id=None, drug_class=DrugClass.CYTOTOXIC),))
    [rec] = run(pecoma_chemo_before_mtor, c, Hook.ORDER_SIGN)
    assert rec.subject == "doxorubicin 75 mg/m2 IV every 21 days, 6 cycles"
    card = rendered(rec)
    assert deletes(card) == [] and len(creates(card)) == 1


@pytest.mark.parametrize("c", [
    case(pec(metastases=(lung(),)), medications=(mtor(),), draft_orders=(chemo(),)),  # mTOR given
    case(pec(), draft_orders=(chemo(),)),  # localized
    case(pec(metastases=(lung(),), clinical_status=ClinicalStatus.RESOLVED),
         draft_orders=(chemo(),)),  # history
    case(pec(metastases=(lung(),)),
         draft_orders=(chemo(drug_class=DrugClass.MTOR_INHIBITOR),)),  # not chemotherapy
    case(pec(metastases=(lung(),)), draft_orders=(chemo(selected=False),)),  # not selected
    case(pec(metastases=(lung(),)), tumour(Entity.STS, "cond-2"),
         draft_orders=(chemo(),)),  # could be for the other sarcoma
    case(pec(metastases=(lung(),)), draft_orders=(chemo(reason_refs=("Condition/other",)),)),
])
def test_pecoma_chemo_before_mtor_silent(c: Any) -> None:
    """pecoma-chemo-before-mtor: mTOR on record, not advanced, not chemo, another target: none."""
    assert run(pecoma_chemo_before_mtor, c, Hook.ORDER_SELECT) == []


def test_pecoma_chemo_before_mtor_reason_selects_the_pecoma() -> None:
    """pecoma-chemo-before-mtor: a reason naming the pecoma or its metastasis sets the target."""
    for ref in ("Condition/cond-1", "Condition/met-1"):
        c = case(pec(metastases=(lung(),)), tumour(Entity.STS, "cond-2"),
                 draft_orders=(chemo(reason_refs=(ref,)),))
        assert [r.subject for r in run(pecoma_chemo_before_mtor, c, Hook.ORDER_SIGN)] == [
            "MedicationRequest/draft-1"]


def test_pecoma_chemo_before_mtor_drafted_mtor_is_not_on_record() -> None:
    """pecoma-chemo-before-mtor: an mTOR inhibitor drafted in the same request does not count."""
    sirolimus = order(order_id="draft-2", kind=OrderKind.DRUG, drug_class=DrugClass.MTOR_INHIBITOR)
    c = case(pec(metastases=(lung(),)), draft_orders=(chemo(), sirolimus))
    assert len(run(pecoma_chemo_before_mtor, c, Hook.ORDER_SIGN)) == 1


# --- pecoma-uterine-regimen ---------------------------------------------------------------------

def test_pecoma_uterine_regimen_fires() -> None:
    """pecoma-uterine-regimen: advanced uterine pecoma: info."""
    t = pec(site=fact(Site.UTERUS), metastases=(lung(),))
    [rec] = run(pecoma_uterine_regimen, case(t))
    assert (rec.id, rec.indicator, rec.subject) == ("pecoma-uterine-regimen", Indicator.INFO,
                                                    "cond-1")
    assert "epirubicin plus ifosfamide" in rendered(rec)["summary"]


def test_pecoma_uterine_regimen_silent() -> None:
    """pecoma-uterine-regimen: localized uterine, or advanced non-uterine: no card."""
    assert run(pecoma_uterine_regimen, case(pec(site=fact(Site.UTERUS)))) == []
    assert run(pecoma_uterine_regimen, case(pec(metastases=(lung(),)))) == []


# --- pecoma-risk-stratification -----------------------------------------------------------------

def test_pecoma_risk_high_is_a_warning() -> None:
    """pecoma-risk-stratification: one feature present: warning, features listed."""
    t = pec(size_cm=fact(6.5, "Observation/size-1"), necrosis=fact(False),
            clinical_status=ClinicalStatus.REMISSION)
    [rec] = run(pecoma.pecoma_risk_stratification, case(t))
    assert (rec.id, rec.indicator, rec.variant) == ("pecoma-risk-stratification",
                                                    Indicator.WARNING, "high")
    card = rendered(rec)
    assert "1 of 4" in card["summary"]
    assert "- size > 5 cm: present" in card["detail"]
    assert "- necrosis: absent" in card["detail"]
    assert "- infiltrative growth: not recorded" in card["detail"]
    assert "tumour size: 6.5 cm — Observation/size-1" in card["detail"]


def test_pecoma_risk_low_is_info() -> None:
    """pecoma-risk-stratification: all four absent: info, low variant."""
    t = pec(size_cm=fact(3.0), necrosis=fact(False), infiltrative_growth=fact(False),
            high_nuclear_grade=fact(False))
    [rec] = run(pecoma.pecoma_risk_stratification, case(t))
    assert (rec.indicator, rec.variant) == (Indicator.INFO, "low")
    assert "long-term" in rendered(rec)["summary"]


def test_pecoma_risk_indeterminate_is_info_and_named_incomplete() -> None:
    """pecoma-risk-stratification: nothing present, some unknown: info, followed up as high."""
    [rec] = run(pecoma.pecoma_risk_stratification, case(pec(necrosis=fact(False))))
    assert (rec.indicator, rec.variant) == (Indicator.INFO, "indeterminate")
    card = rendered(rec)
    assert "3 of 4 features not recorded" in card["summary"]
    assert "high-risk" in card["summary"]


def test_pecoma_risk_only_for_pecoma() -> None:
    """pecoma-risk-stratification: other entities get no card."""
    assert run(pecoma.pecoma_risk_stratification, case(tumour(Entity.ILMS))) == []


# --- pecoma-chest-ct-not-xray -------------------------------------------------------------------

@pytest.mark.parametrize("hook", ORDER_HOOKS)
def test_pecoma_chest_ct_not_xray_replaces_the_xray(hook: Hook) -> None:
    """pecoma-chest-ct-not-xray: draft chest X-ray: info, delete it and create a chest CT."""
    c = case(pec(clinical_status=ClinicalStatus.REMISSION), draft_orders=(xray(),))
    [rec] = run(pecoma.pecoma_chest_ct_not_xray, c, hook)
    assert (rec.id, rec.indicator, rec.subject) == ("pecoma-chest-ct-not-xray", Indicator.INFO,
                                                    "ServiceRequest/xr-1")
    assert rec.against_order
    card = rendered(rec)
    assert deletes(card) == ["ServiceRequest/xr-1"]
    [created] = creates(card)
    assert created["resourceType"] == "ServiceRequest"
    assert {c["code"] for c in created["code"]["coding"]} == {"71250", "29252-4"}
    assert card["suggestions"][0]["isRecommended"] is True
    assert {r["code"] for r in card["overrideReasons"]} == {"ct-unavailable", "not-applicable"}


def test_pecoma_chest_ct_not_xray_silent() -> None:
    """pecoma-chest-ct-not-xray: no pecoma, a chest CT draft, or patient-view: no card."""
    assert run(pecoma.pecoma_chest_ct_not_xray,
               case(tumour(Entity.STS), draft_orders=(xray(),)), Hook.ORDER_SIGN) == []
    ct = order("ServiceRequest", "ct-1", kind=OrderKind.IMAGING, imaging=ImagingKind.CT_CHEST)
    assert run(pecoma.pecoma_chest_ct_not_xray, case(pec(), draft_orders=(ct,)),
               Hook.ORDER_SIGN) == []
    assert run(pecoma.pecoma_chest_ct_not_xray, case(pec(), draft_orders=(xray(),))) == []


# --- sts-specialist-referral --------------------------------------------------------------------

@pytest.mark.parametrize(("entity", "variant"), [
    (Entity.PECOMA, "pecoma"), (Entity.NTRK, "default"), (Entity.ILMS, "default"),
    (Entity.STS, "default"),
])
def test_sts_specialist_referral_fires_for_sarcomas(entity: Entity, variant: str) -> None:
    """sts-specialist-referral: an active sarcoma with no referral: info + referral suggestion."""
    t = tumour(entity, site=fact(Site.RETROPERITONEUM), body_site=BODY_SITE)
    [rec] = run(pecoma.sts_specialist_referral, case(t))
    assert (rec.id, rec.indicator, rec.subject, rec.variant) == (
        "sts-specialist-referral", Indicator.INFO, "cond-1", variant)
    assert [s.creates[0].kind for s in rec.suggestions] == ["referral"]
    card = rendered(rec)
    [created] = creates(card)
    assert created["code"]["coding"][0]["code"] == "3457005"
    assert created["status"] == "draft" and created["intent"] == "proposal"


def test_sts_specialist_referral_silent() -> None:
    """sts-specialist-referral: referral on record, history tumour, ascmn, benign sft: none."""
    active = tumour(Entity.PECOMA)
    referred = case(active, referrals=(fact(D(2026, 1, 1), "ServiceRequest/ref-1"),))
    assert run(pecoma.sts_specialist_referral, referred) == []
    others = case(tumour(Entity.PECOMA, clinical_status=ClinicalStatus.RESOLVED),
                  tumour(Entity.ASCMN, "cond-2"), tumour(Entity.SFT, "cond-3"))
    assert run(pecoma.sts_specialist_referral, others) == []
