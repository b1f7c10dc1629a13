"""Rules of the LRDM source: sts-reexcision, sts-adjuvant-radiotherapy, sts-surveillance-plan,
sts-recurrence-intensify."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from cds_service.case.model import Biopsy
from cds_service.case.model import BiopsyKind
from cds_service.case.model import Case
from cds_service.case.model import ClinicalStatus
from cds_service.case.model import Depth
from cds_service.case.model import Entity
from cds_service.case.model import ImagingKind
from cds_service.case.model import ImagingStudy
from cds_service.case.model import Margin
from cds_service.case.model import Resection
from cds_service.case.model import ResectionKind
from cds_service.case.model import Site
from cds_service.case.model import Tumour
from cds_service.guidelines.recommendation import Recommendation
from cds_service.guidelines.rules.lrdm import adjuvant_radiotherapy
from cds_service.guidelines.rules.lrdm import recurrence_intensify
from cds_service.guidelines.rules.lrdm import reexcision
from cds_service.guidelines.rules.lrdm import surveillance
from cds_service.hooks.models import Indicator
from tests.guidelines.factories import TODAY
from tests.guidelines.factories import case
from tests.guidelines.factories import context
from tests.guidelines.factories import fact
from tests.guidelines.factories import fire
from tests.guidelines.factories import render
from tests.guidelines.factories import tumour

THIGH = {"coding": [{"system": "http://snomed.info/sct", "code": "68367000", "display": "Thigh"}]}


def resection(date: dt.date | None = dt.date(2026, 8, 10),
              kind: ResectionKind = ResectionKind.WIDE, margin: Margin | None = Margin.R0,
              source: str = "Procedure/res-1") -> Resection:
    return Resection(source=source, kind=kind, date=date,
                     margin=fact(margin, "Observation/margin-1") if margin else None)


def sarcoma(entity: Entity = Entity.STS, **fields: Any) -> Tumour:
    """A resected high-grade, deep, 8.5 cm sarcoma of the thigh; fields override."""
    base: dict[str, Any] = {
        "grade": fact(3, "Observation/grade-1"), "size_cm": fact(8.5, "Observation/size-1"),
        "depth": fact(Depth.DEEP, "Observation/depth-1"), "site": fact(Site.LOWER_LIMB),
        "body_site": THIGH, "resections": (resection(),)}
    base.update(fields)
    return tumour(entity, **base)


def study(kind: ImagingKind, date: dt.date | None, site: Site | None = None,
          source: str = "Procedure/img-1") -> ImagingStudy:
    return ImagingStudy(source=source, kind=kind, date=date, site=site)


def run(rule: Any, c: Case) -> list[Recommendation]:
    return fire(rule, c, context())


def check_card(rec: Recommendation) -> dict[str, Any]:
    """Render ``rec``; summary under 140 characters, created resources valid R4 drafts."""
    card = render(rec)
    assert len(card["summary"]) < 140, card["summary"]
    assert card["source"]["topic"]["code"] == rec.id
    for suggestion in card.get("suggestions", []):
        for action in suggestion["actions"]:
            if action["type"] == "create":
                resource = action["resource"]
                get_fhir_model_class(resource["resourceType"]).model_validate(resource)
                assert (resource["status"], resource["intent"]) == ("draft", "proposal")
    return card


def created_codes(card: dict[str, Any]) -> list[list[str]]:
    return [[c["code"] for c in a["resource"]["code"].get("coding", [])]
            for s in card["suggestions"] for a in s["actions"]]


# --- sts-reexcision -------------------------------------------------------------------------------

def test_reexcision_after_r1_margin() -> None:
    """sts-reexcision: latest resection R1 -> warning, margin variant."""
    recs = run(reexcision, case(sarcoma(resections=(resection(margin=Margin.R1),))))
    assert [(r.id, r.indicator, r.subject, r.variant) for r in recs] == [
        ("sts-reexcision", Indicator.WARNING, "cond-1", "margin")]
    assert any(f.name == "margin" and f.value == "R1" for f in recs[0].facts)
    card = check_card(recs[0])
    assert "R1 margin" in card["summary"] and "third" in card["detail"]


@pytest.mark.parametrize("kind", [ResectionKind.UNPLANNED, ResectionKind.MARGINAL])
def test_reexcision_after_unplanned_or_marginal_excision_even_with_r0(kind: ResectionKind) -> None:
    """sts-reexcision: an unplanned/marginal excision fires whatever the margin (catalogue "or")."""
    recs = run(reexcision, case(sarcoma(resections=(resection(kind=kind, margin=Margin.R0),))))
    assert [(r.id, r.variant) for r in recs] == [("sts-reexcision", "unplanned")]


def test_reexcision_after_excisional_biopsy_of_a_sarcoma() -> None:
    """sts-reexcision: an excisional biopsy of a sarcoma counts as an unplanned excision."""
    biopsy = Biopsy(source="Procedure/bx-1", kind=BiopsyKind.EXCISIONAL, date=dt.date(2026, 9, 1))
    recs = run(reexcision, case(sarcoma(resections=(), biopsies=(biopsy,))))
    assert [r.variant for r in recs] == ["unplanned"]
    assert recs[0].values["surgery"] == "excisional biopsy"
    assert "excisional biopsy" in check_card(recs[0])["summary"]


def test_reexcision_not_for_excisional_biopsy_of_non_sarcoma() -> None:
    """sts-reexcision: ascmn is not a sarcoma, so its excisional biopsy is not an excision."""
    biopsy = Biopsy(source="Procedure/bx-1", kind=BiopsyKind.EXCISIONAL, date=dt.date(2026, 9, 1))
    assert run(reexcision, case(tumour(Entity.ASCMN, biopsies=(biopsy,)))) == []


@pytest.mark.parametrize("resections", [
    (resection(margin=Margin.R0),),
    (resection(margin=None),),  # unknown margin is not positive: data quality names it
    (resection(dt.date(2026, 6, 1), margin=Margin.R1),
     resection(dt.date(2026, 8, 10), ResectionKind.RE_EXCISION, Margin.R0, "Procedure/res-2")),
    (),
])
def test_reexcision_silent(resections: tuple[Resection, ...]) -> None:
    """sts-reexcision: R0, unknown margin, a later adequate re-excision or no resection: silent."""
    assert run(reexcision, case(sarcoma(resections=resections))) == []


def test_reexcision_applies_to_history_tumours() -> None:
    """sts-reexcision is a follow-up rule: a tumour in remission still gets it once resected."""
    recs = run(reexcision, case(sarcoma(clinical_status=ClinicalStatus.REMISSION,
                                        resections=(resection(margin=Margin.R2),))))
    assert [r.id for r in recs] == ["sts-reexcision"]


@pytest.mark.parametrize(("kind", "margin"), [(ResectionKind.UNPLANNED, Margin.R2),
                                              (ResectionKind.UNPLANNED, None)])
def test_reexcision_render_longest(kind: ResectionKind, margin: Margin | None) -> None:
    """sts-reexcision: both variants render under 140 characters for the longest entity and site."""
    asc = tumour(Entity.ASCMN, site=fact(Site.RETROPERITONEUM),
                 resections=(resection(kind=kind, margin=margin),))
    recs = run(reexcision, case(asc))
    assert len(recs) == 1
    card = check_card(recs[0])
    assert "suggestions" not in card


# --- sts-adjuvant-radiotherapy --------------------------------------------------------------------

def test_adjuvant_radiotherapy_high_grade_deep_large() -> None:
    """sts-adjuvant-radiotherapy: resected, grade 3, deep, 8.5 cm, no RT -> info."""
    recs = run(adjuvant_radiotherapy, case(sarcoma()))
    assert [(r.id, r.indicator, r.subject) for r in recs] == [
        ("sts-adjuvant-radiotherapy", Indicator.INFO, "cond-1")]
    names = {f.name: f.value for f in recs[0].facts}
    assert names["size"] == "8.5 cm" and names["radiotherapy"] == "none recorded"
    card = check_card(recs[0])
    assert "8.5 cm" in card["summary"] and "lower limb" in card["summary"]


@pytest.mark.parametrize("fields", [
    {"grade": fact(1)}, {"depth": fact(Depth.SUPERFICIAL)}, {"size_cm": fact(5.0)},
    {"grade": None}, {"depth": None}, {"size_cm": None}, {"resections": ()},
])
def test_adjuvant_radiotherapy_needs_three_known_and_a_resection(fields: dict[str, Any]) -> None:
    """sts-adjuvant-radiotherapy: a low, superficial, <= 5 cm or unknown feature stays silent."""
    assert run(adjuvant_radiotherapy, case(sarcoma(**fields))) == []


def test_adjuvant_radiotherapy_silent_when_radiotherapy_on_record() -> None:
    """sts-adjuvant-radiotherapy: any radiotherapy on record (case.radiotherapy) silences it."""
    c = case(sarcoma(), radiotherapy=(fact(dt.date(2026, 9, 1), "Procedure/rt-1"),))
    assert run(adjuvant_radiotherapy, c) == []


@pytest.mark.parametrize(("entity", "fields", "fires"), [
    (Entity.PECOMA, {}, False),  # pecoma has its own rule
    (Entity.ILMS, {}, False),  # rms component not recorded
    (Entity.ILMS, {"rms_component": fact(False)}, False),
    (Entity.ILMS, {"rms_component": fact(True)}, True),
    (Entity.ASCMN, {}, False),  # not a sarcoma
    (Entity.NTRK, {}, True),
])
def test_adjuvant_radiotherapy_entities(entity: Entity, fields: dict[str, Any],
                                        fires: bool) -> None:
    """sts-adjuvant-radiotherapy: not pecoma, not ilms without an rms component, sarcomas only."""
    recs = run(adjuvant_radiotherapy, case(sarcoma(entity, **fields)))
    assert bool(recs) is fires
    if fires:
        check_card(recs[0])


# --- sts-surveillance-plan ------------------------------------------------------------------------

def test_surveillance_info_with_next_due_dates() -> None:
    """sts-surveillance-plan: nothing overdue -> info with each next due date, no suggestion."""
    imaging = (study(ImagingKind.MRI, dt.date(2026, 7, 6), Site.LOWER_LIMB),
               study(ImagingKind.CT_CHEST, dt.date(2026, 7, 21)))
    recs = run(surveillance, case(sarcoma(), imaging=imaging))
    assert [(r.id, r.indicator, r.variant, r.suggestions) for r in recs] == [
        ("sts-surveillance-plan", Indicator.INFO, "default", ())]
    card = check_card(recs[0])
    assert "2027-02-09" in card["summary"] and "2026-12-10" in card["summary"]
    assert "2029-08-10" in card["detail"] and "3–4 months" in card["detail"]


def test_surveillance_history_tumour_and_unknown_grade_overdue_chest() -> None:
    """sts-surveillance-plan: a tumour in remission with unknown grade is high risk; the overdue
    chest imaging gives a warning with one suggestion creating a chest CT."""
    sts = sarcoma(grade=None, clinical_status=ClinicalStatus.REMISSION,
                  resections=(resection(dt.date(2026, 7, 1)),))
    recs = run(surveillance, case(sts, imaging=(study(ImagingKind.MRI, dt.date(2026, 8, 1)),)))
    assert [(r.indicator, r.variant) for r in recs] == [(Indicator.WARNING, "default-overdue")]
    [suggestion] = recs[0].suggestions
    assert [o.kind for o in suggestion.creates] == ["chest-ct"] and suggestion.recommended
    card = check_card(recs[0])
    assert created_codes(card) == [["71250", "29252-4"]]
    assert "2026-10-31" in card["summary"]


def test_surveillance_both_overdue_one_suggestion_creates_both() -> None:
    """sts-surveillance-plan: selection is at-most-one, so one suggestion creates both orders."""
    sts = sarcoma(resections=(resection(dt.date(2025, 1, 15)),))
    recs = run(surveillance, case(sts))
    [suggestion] = recs[0].suggestions
    assert [o.kind for o in suggestion.creates] == ["mri", "chest-ct"]
    assert suggestion.creates[0].body_site == THIGH
    card = check_card(recs[0])
    assert card["selectionBehavior"] == "at-most-one"
    assert created_codes(card) == [["73718"], ["71250", "29252-4"]]
    assert card["suggestions"][0]["actions"][0]["resource"]["bodySite"] == [THIGH]
    assert card["suggestions"][0]["actions"][0]["resource"]["reasonReference"] == [
        {"reference": "Condition/cond-1"}]


def test_surveillance_ascmn_variants_render() -> None:
    """sts-surveillance-plan: ascmn has MRI only, with its own wording, info then overdue."""
    asc = tumour(Entity.ASCMN, site=fact(Site.RETROPERITONEUM),
                 resections=(resection(dt.date(2026, 8, 10)),))
    [info] = run(surveillance, case(asc))
    assert (info.indicator, info.variant) == (Indicator.INFO, "ascmn")
    assert "17 years" in check_card(info)["detail"]
    old = asc.model_copy(update={"resections": (resection(dt.date(2020, 1, 1)),)})
    [late] = run(surveillance, case(old))
    assert (late.indicator, late.variant) == (Indicator.WARNING, "ascmn-overdue")
    assert [o.kind for s in late.suggestions for o in s.creates] == ["mri"]
    check_card(late)


def test_surveillance_longest_summaries() -> None:
    """sts-surveillance-plan: the longest non-ascmn entity with both studies overdue fits."""
    ntrk = sarcoma(Entity.NTRK, site=fact(Site.RETROPERITONEUM),
                   resections=(resection(dt.date(2025, 1, 15)),))
    [overdue] = run(surveillance, case(ntrk))
    check_card(overdue)
    [info] = run(surveillance, case(ntrk.model_copy(
        update={"resections": (resection(dt.date(2026, 11, 1)),)})))
    assert info.variant == "default"
    check_card(info)


def test_surveillance_silent_without_resection() -> None:
    """sts-surveillance-plan: only resected tumours."""
    assert run(surveillance, case(sarcoma(resections=()))) == []


# --- sts-recurrence-intensify ---------------------------------------------------------------------

def recurrent(**fields: Any) -> Tumour:
    fields.setdefault("local_recurrences", (fact(dt.date(2026, 9, 15), "Condition/rec-1"),))
    return sarcoma(**fields)


def test_recurrence_suggests_chest_ct_when_none_since() -> None:
    """sts-recurrence-intensify: warning; chest CT before the recurrence -> suggest one."""
    c = case(recurrent(), imaging=(study(ImagingKind.CT_CHEST, dt.date(2026, 3, 18)),))
    recs = run(recurrence_intensify, c)
    assert [(r.id, r.indicator, r.subject, r.variant) for r in recs] == [
        ("sts-recurrence-intensify", Indicator.WARNING, "cond-1", "suggest")]
    card = check_card(recs[0])
    assert created_codes(card) == [["71250", "29252-4"]]
    assert "8.4" in card["summary"] and "3.4" in card["detail"]


def test_recurrence_no_suggestion_after_a_chest_ct_since() -> None:
    """sts-recurrence-intensify: a chest CT on/after the recurrence -> no suggestion."""
    c = case(recurrent(), imaging=(study(ImagingKind.CT_CHEST, dt.date(2026, 9, 15)),))
    [rec] = run(recurrence_intensify, c)
    assert (rec.variant, rec.suggestions) == ("default", ())
    assert "suggestions" not in check_card(rec)


def test_recurrence_chest_xray_does_not_count() -> None:
    """sts-recurrence-intensify: the catalogue asks for a chest CT; an X-ray does not silence it."""
    c = case(recurrent(), imaging=(study(ImagingKind.XRAY_CHEST, dt.date(2026, 10, 1)),))
    assert [r.variant for r in run(recurrence_intensify, c)] == ["suggest"]


def test_recurrence_undated_suggests_chest_ct() -> None:
    """sts-recurrence-intensify: undated recurrence, no CT can be shown to follow it: suggest."""
    undated = (fact(None, "Condition/rec-1"),)
    c = case(recurrent(local_recurrences=undated),
             imaging=(study(ImagingKind.CT_CHEST, dt.date(2026, 10, 1)),))
    [rec] = run(recurrence_intensify, c)
    assert rec.variant == "suggest" and rec.values["recurrence_date"] == "date not recorded"


def test_recurrence_silent_without_local_recurrence_or_for_non_sarcoma() -> None:
    """sts-recurrence-intensify: needs a recorded local recurrence of a sarcoma (ascmn is not)."""
    assert run(recurrence_intensify, case(sarcoma(clinical_status=ClinicalStatus.RECURRENCE))) \
        == []
    asc = tumour(Entity.ASCMN, local_recurrences=(fact(dt.date(2026, 9, 15)),))
    assert run(recurrence_intensify, case(asc)) == []


def test_recurrence_render_longest() -> None:
    """sts-recurrence-intensify: longest sarcoma entity and site fit both summaries."""
    ntrk = recurrent(site=fact(Site.RETROPERITONEUM)).model_copy(
        update={"entity": fact(Entity.NTRK, "Condition/cond-1")})
    [rec] = run(recurrence_intensify, case(ntrk))
    check_card(rec)
    c = case(ntrk, imaging=(study(ImagingKind.CT_CHEST, TODAY),))
    [rec] = run(recurrence_intensify, c)
    check_card(rec)
