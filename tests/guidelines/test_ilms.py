"""Unit tests of the inflammatory leiomyosarcoma rules (source ILMS)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from cds_service.case.model import ClinicalStatus
from cds_service.case.model import DrugClass
from cds_service.case.model import Entity
from cds_service.case.model import IhcMarker
from cds_service.case.model import IhcResult
from cds_service.case.model import ImagingKind
from cds_service.case.model import ImagingStudy
from cds_service.case.model import Margin
from cds_service.case.model import Metastasis
from cds_service.case.model import OrderKind
from cds_service.case.model import Resection
from cds_service.case.model import ResectionKind
from cds_service.case.model import Site
from cds_service.case.model import Tumour
from cds_service.guidelines.recommendation import Recommendation
from cds_service.guidelines.rules import ilms
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
ORDER_HOOKS = [Hook.ORDER_SELECT, Hook.ORDER_SIGN]


def lms(rms: bool | None = False, **fields: Any) -> Tumour:
    """An ilms of the retroperitoneum (the longest site name); RMS component as given."""
    fields.setdefault("site", fact(Site.RETROPERITONEUM, "Condition/cond-1"))
    if rms is not None:
        fields["rms_component"] = fact(rms, "DiagnosticReport/path-1")
    return tumour(Entity.ILMS, **fields)


def ihc(marker: IhcMarker, positive: bool | None = True) -> IhcResult:
    return IhcResult(marker=marker, positive=positive, source=f"Observation/ihc-{marker.value}")


def rt(**fields: Any) -> Any:
    return order("ServiceRequest", "rt-1", kind=OrderKind.RADIOTHERAPY,
                 label="IMRT delivery, 50 Gy in 25 fractions to the right upper arm", **fields)


def chemo(**fields: Any) -> Any:
    fields.setdefault("drug_class", DrugClass.ANTHRACYCLINE)
    return order(kind=OrderKind.DRUG, label="doxorubicin 75 mg/m2", **fields)


def run(fn: Any, c: Any, hook: Hook = Hook.PATIENT_VIEW) -> list[Recommendation]:
    return fire(fn, c, context(hook))


def rendered(rec: Recommendation) -> dict[str, Any]:
    card = render(rec)
    assert len(card["summary"]) < 140, card["summary"]
    assert card["summary"][0].isupper()
    return card


# --- ilms-ihc-panel -----------------------------------------------------------------------------

def test_ilms_ihc_panel_names_missing_alk() -> None:
    """ilms-ihc-panel: desmin, MyoD1, myogenin resulted, ALK never done: info naming ALK."""
    t = lms(ihc=(ihc(IhcMarker.DESMIN), ihc(IhcMarker.MYOD1), ihc(IhcMarker.MYOGENIN, False)))
    [rec] = run(ilms.ilms_ihc_panel, case(t))
    assert (rec.id, rec.indicator, rec.subject) == ("ilms-ihc-panel", Indicator.INFO, "cond-1")
    assert rec.values["missing"] == "ALK"
    card = rendered(rec)
    assert "no ALK result" in card["summary"]
    assert "IHC myogenin: negative — Observation/ihc-myogenin" in card["detail"]


def test_ilms_ihc_panel_lists_every_missing_marker() -> None:
    """ilms-ihc-panel: nothing resulted: all four markers listed (the longest summary)."""
    [rec] = run(ilms.ilms_ihc_panel, case(lms()))
    assert rec.values["missing"] == "desmin, MyoD1, myogenin, ALK"
    rendered(rec)


def test_ilms_ihc_panel_silent_when_complete_or_not_active() -> None:
    """ilms-ihc-panel: full panel, a history tumour or another entity: no card."""
    panel = tuple(ihc(m) for m in (IhcMarker.DESMIN, IhcMarker.MYOD1, IhcMarker.MYOGENIN,
                                   IhcMarker.ALK))
    assert run(ilms.ilms_ihc_panel, case(lms(ihc=panel))) == []
    history = lms(clinical_status=ClinicalStatus.RESOLVED)
    assert run(ilms.ilms_ihc_panel, case(history, tumour(Entity.STS, "cond-2"))) == []


def test_ilms_ihc_panel_unknown_result_does_not_count() -> None:
    """ilms-ihc-panel: an ALK record without a positive/negative value is no result."""
    panel = tuple(ihc(m) for m in (IhcMarker.DESMIN, IhcMarker.MYOD1, IhcMarker.MYOGENIN))
    [rec] = run(ilms.ilms_ihc_panel, case(lms(ihc=(*panel, ihc(IhcMarker.ALK, None)))))
    assert rec.values["missing"] == "ALK"


# --- ilms-rt-chemo-reserved ---------------------------------------------------------------------

@pytest.mark.parametrize("hook", ORDER_HOOKS)
def test_ilms_rt_chemo_reserved_radiotherapy(hook: Hook) -> None:
    """ilms-rt-chemo-reserved: a radiotherapy draft, RMS recorded absent: warning with reasons."""
    [rec] = run(ilms.ilms_rt_chemo_reserved, case(lms(), draft_orders=(rt(),)), hook)
    assert (rec.id, rec.indicator, rec.subject, rec.variant) == (
        "ilms-rt-chemo-reserved", Indicator.WARNING, "ServiceRequest/rt-1", "radiotherapy")
    assert rec.against_order and rec.suggestions == ()
    card = rendered(rec)
    assert "radiotherapy is not indicated" in card["summary"]
    assert "IMRT delivery, 50 Gy" in card["detail"]
    assert "rhabdomyosarcomatous component: absent — DiagnosticReport/path-1" in card["detail"]
    assert {r["code"] for r in card["overrideReasons"]} == {
        "rms-component-present", "advanced-disease", "mdt-decision"}


@pytest.mark.parametrize("drug_class", [DrugClass.ANTHRACYCLINE, DrugClass.ALKYLATING,
                                        DrugClass.CYTOTOXIC])
def test_ilms_rt_chemo_reserved_chemotherapy(drug_class: DrugClass) -> None:
    """ilms-rt-chemo-reserved: a chemotherapy draft: chemotherapy variant, one card per draft."""
    c = case(lms(), draft_orders=(chemo(drug_class=drug_class), rt()))
    recs = run(ilms.ilms_rt_chemo_reserved, c, Hook.ORDER_SIGN)
    assert [(r.subject, r.variant) for r in recs] == [
        ("MedicationRequest/draft-1", "chemotherapy"), ("ServiceRequest/rt-1", "radiotherapy")]
    assert "chemotherapy is not indicated" in rendered(recs[0])["summary"]


@pytest.mark.parametrize(("draft", "kind"), [(rt(), "radiotherapy"), (chemo(), "chemotherapy")])
def test_ilms_rt_chemo_reserved_unknown_component_asks_to_confirm(draft: Any, kind: str) -> None:
    """ilms-rt-chemo-reserved (revised): a component not recorded fires too, worded as a check
    with pathology (it used to stay silent)."""
    [rec] = run(ilms.ilms_rt_chemo_reserved, case(lms(None), draft_orders=(draft,)),
                Hook.ORDER_SIGN)
    assert (rec.indicator, rec.variant) == (Indicator.WARNING, f"{kind}-unknown")
    card = rendered(rec)
    assert "not recorded" in card["summary"] and "confirm" in card["summary"]
    assert "Confirm with pathology" in card["detail"]
    assert "rhabdomyosarcomatous component: not recorded" in card["detail"]


def test_ilms_rt_chemo_reserved_never_in_advanced_disease() -> None:
    """ilms-rt-chemo-reserved (revised): silent for an ilms with a current distant metastasis,
    whether the component is absent or not recorded; a resected metastasis no longer counts."""
    lung = Metastasis(source="Condition/met-1", lung=True, date=D(2026, 6, 1))
    for rms in (False, None):
        assert run(ilms.ilms_rt_chemo_reserved, case(lms(rms, metastases=(lung,)),
                                                     draft_orders=(rt(),)),
                   Hook.ORDER_SIGN) == []
    resected = lung.model_copy(update={"resected_by": "Procedure/wedge-1"})
    assert len(run(ilms.ilms_rt_chemo_reserved,
                   case(lms(metastases=(resected,)), draft_orders=(rt(),)), Hook.ORDER_SIGN)) == 1


def test_ilms_rt_chemo_reserved_adjuvant_for_resected_history_tumour() -> None:
    """ilms-rt-chemo-reserved: adjuvant RT for a resected ilms in remission still fires."""
    res = Resection(source="Procedure/res-1", kind=ResectionKind.WIDE, date=D(2026, 5, 1),
                    margin=fact(Margin.R0))
    t = lms(clinical_status=ClinicalStatus.REMISSION, resections=(res,))
    assert len(run(ilms.ilms_rt_chemo_reserved, case(t, draft_orders=(rt(),)),
                   Hook.ORDER_SIGN)) == 1


@pytest.mark.parametrize("c", [
    case(lms(True), draft_orders=(rt(),)),  # RMS component present
    case(lms(), draft_orders=(chemo(drug_class=DrugClass.MTOR_INHIBITOR),)),  # not chemotherapy
    case(lms(), draft_orders=(chemo(drug_class=None),)),  # class unknown
    case(lms(), draft_orders=(rt(selected=False),)),  # not selected on order-select
    case(lms(), tumour(Entity.STS, "cond-2"), draft_orders=(rt(),)),  # may be for the sts
    case(lms(), draft_orders=(rt(reason_refs=("Condition/breast-1",)),)),  # for something else
    case(tumour(Entity.STS), draft_orders=(rt(),)),
])
def test_ilms_rt_chemo_reserved_silent(c: Any) -> None:
    """ilms-rt-chemo-reserved: RMS present, not RT/chemo, or another target: no card."""
    assert run(ilms.ilms_rt_chemo_reserved, c, Hook.ORDER_SELECT) == []


def test_ilms_rt_chemo_reserved_reason_names_the_ilms() -> None:
    """ilms-rt-chemo-reserved: a reason naming the ilms sets the target beside another sarcoma."""
    c = case(lms(), tumour(Entity.STS, "cond-2"),
             draft_orders=(rt(reason_refs=("Condition/cond-1",)),))
    assert [r.subject for r in run(ilms.ilms_rt_chemo_reserved, c, Hook.ORDER_SIGN)] == [
        "ServiceRequest/rt-1"]


def test_ilms_rt_chemo_reserved_draft_without_id() -> None:
    """ilms-rt-chemo-reserved: a draft without an id is named by its label."""
    [rec] = run(ilms.ilms_rt_chemo_reserved, case(lms(), draft_orders=(chemo(order_id=None),)),
                Hook.ORDER_SIGN)
    assert rec.subject == "doxorubicin 75 mg/m2"


# --- ilms-rms-transformation --------------------------------------------------------------------

def test_ilms_rms_transformation_unstaged() -> None:
    """ilms-rms-transformation: RMS component, no chest CT: warning asking for chest staging."""
    xr = ImagingStudy(source="Procedure/xr-1", kind=ImagingKind.XRAY_CHEST, date=D(2026, 11, 1))
    [rec] = run(ilms.ilms_rms_transformation, case(lms(True), imaging=(xr,)))
    assert (rec.id, rec.indicator, rec.subject, rec.variant) == (
        "ilms-rms-transformation", Indicator.WARNING, "cond-1", "unstaged")
    card = rendered(rec)
    assert "stage the chest" in card["summary"]
    assert "chest CT since diagnosis: none on record" in card["detail"]


def test_ilms_rms_transformation_staged() -> None:
    """ilms-rms-transformation: a chest CT after diagnosis: staged variant with its date."""
    ct = ImagingStudy(source="Procedure/ct-1", kind=ImagingKind.CT_CHEST, date=D(2026, 11, 1))
    t = lms(True, diagnosis_date=D(2026, 10, 27))
    [rec] = run(ilms.ilms_rms_transformation, case(t, imaging=(ct,)))
    assert rec.variant == "staged"
    assert "(2026-11-01)" in rendered(rec)["detail"]


def test_ilms_rms_transformation_ct_before_diagnosis_is_not_staging() -> None:
    """ilms-rms-transformation: a chest CT before the diagnosis does not stage it."""
    ct = ImagingStudy(source="Procedure/ct-1", kind=ImagingKind.CT_CHEST, date=D(2025, 1, 1))
    t = lms(True, diagnosis_date=D(2026, 10, 27))
    assert run(ilms.ilms_rms_transformation, case(t, imaging=(ct,)))[0].variant == "unstaged"


@pytest.mark.parametrize("t", [lms(False), lms(None),
                               lms(True, clinical_status=ClinicalStatus.RESOLVED),
                               tumour(Entity.STS, rms_component=fact(True))])
def test_ilms_rms_transformation_silent(t: Tumour) -> None:
    """ilms-rms-transformation: component absent or unknown, history, other entity: no card."""
    assert run(ilms.ilms_rms_transformation, case(t)) == []
