"""The data-quality rule case-data-incomplete: missing facts per tumour, unreadable resources."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from cds_service.case.model import AssayMethod
from cds_service.case.model import Case
from cds_service.case.model import ClinicalStatus
from cds_service.case.model import Depth
from cds_service.case.model import DrugClass
from cds_service.case.model import Entity
from cds_service.case.model import ImagingKind
from cds_service.case.model import ImagingStudy
from cds_service.case.model import Margin
from cds_service.case.model import Medication
from cds_service.case.model import Metastasis
from cds_service.case.model import MolecularResult
from cds_service.case.model import Resection
from cds_service.case.model import ResectionKind
from cds_service.case.model import Site
from cds_service.case.model import Tumour
from cds_service.guidelines.catalogue import load_catalogue
from cds_service.guidelines.recommendation import Recommendation
from cds_service.guidelines.rules.data_quality import GAPS
from cds_service.guidelines.rules.data_quality import data_incomplete
from cds_service.guidelines.rules.data_quality import tumour_gaps
from cds_service.hooks.models import Indicator
from tests.guidelines.factories import case
from tests.guidelines.factories import context
from tests.guidelines.factories import fact
from tests.guidelines.factories import fire
from tests.guidelines.factories import render
from tests.guidelines.factories import tumour

CHEST_CT = ImagingStudy(source="Procedure/ct-1", kind=ImagingKind.CT_CHEST,
                        date=dt.date(2026, 7, 21))


def resection(kind: ResectionKind = ResectionKind.WIDE, margin: Margin | None = Margin.R0,
              date: dt.date | None = dt.date(2026, 8, 10)) -> Resection:
    return Resection(source="Procedure/res-1", kind=kind, date=date,
                     margin=fact(margin, "Observation/margin-1") if margin else None)


def sarcoma(entity: Entity = Entity.STS, **fields: Any) -> Tumour:
    """A fully recorded resected high-grade, deep, 8.5 cm sarcoma of the thigh; fields override."""
    base: dict[str, Any] = {"grade": fact(3), "size_cm": fact(8.5), "depth": fact(Depth.DEEP),
                            "site": fact(Site.LOWER_LIMB), "resections": (resection(),)}
    base.update(fields)
    return tumour(entity, **base)


def gaps(t: Tumour, **case_fields: Any) -> dict[str, tuple[str, ...]]:
    case_fields.setdefault("imaging", (CHEST_CT,))
    return tumour_gaps(t, case(t, **case_fields))


def run(c: Case) -> list[Recommendation]:
    return fire(data_incomplete, c, context())


def test_complete_record_no_card() -> None:
    """case-data-incomplete: all needed facts recorded (fixture sts-thigh-high-grade-r1): silent."""
    assert run(case(sarcoma(resections=(resection(ResectionKind.MARGINAL, Margin.R1),)),
                    imaging=(CHEST_CT,))) == []


def test_grade_of_resected_large_deep_sarcoma_blocks_adjuvant_rt() -> None:
    """case-data-incomplete: fixture sts-grade-unknown-resected."""
    assert gaps(sarcoma(grade=None)) == {"histologic grade": ("sts-adjuvant-radiotherapy",)}


def test_grade_gap_silent_when_rt_given_or_tumour_small() -> None:
    """case-data-incomplete: a gap counts only while the blocked recommendation is possible."""
    rt = (fact(dt.date(2026, 9, 1), "Procedure/rt-1"),)
    assert gaps(sarcoma(grade=None), radiotherapy=rt) == {}
    assert gaps(sarcoma(grade=None, size_cm=fact(3.0))) == {}
    assert gaps(sarcoma(grade=None, resections=())) == {}


@pytest.mark.parametrize(("field", "name"), [("size_cm", "size"), ("depth", "depth")])
def test_size_or_depth_blocks_adjuvant_rt_when_the_others_allow_it(field: str, name: str) -> None:
    """case-data-incomplete: size or depth of a resected high-grade sarcoma."""
    assert gaps(sarcoma(**{field: None})) == {name: ("sts-adjuvant-radiotherapy",)}
    assert gaps(sarcoma(grade=fact(1), **{field: None})) == {}


def test_all_three_missing_are_each_named() -> None:
    """case-data-incomplete: grade, size and depth all unknown leave RT possible: all named."""
    assert gaps(sarcoma(grade=None, size_cm=None, depth=None)) == {
        "histologic grade": ("sts-adjuvant-radiotherapy",),
        "size": ("sts-adjuvant-radiotherapy",), "depth": ("sts-adjuvant-radiotherapy",)}


def test_margin_after_latest_resection_blocks_reexcision() -> None:
    """case-data-incomplete: a wide excision with no margin blocks sts-reexcision."""
    assert gaps(sarcoma(resections=(resection(margin=None),))) == {
        "margin of the latest resection": ("sts-reexcision",)}


def test_margin_not_needed_after_unplanned_excision() -> None:
    """case-data-incomplete: an unplanned excision fires sts-reexcision whatever the margin."""
    assert gaps(sarcoma(resections=(resection(ResectionKind.UNPLANNED, None),))) == {}


def test_undated_latest_resection_blocks_surveillance() -> None:
    """case-data-incomplete: without the resection date no surveillance schedule can be computed."""
    assert gaps(sarcoma(resections=(resection(date=None),))) == {
        "date of the latest resection": ("sts-surveillance-plan",)}


def test_indeterminate_pecoma_names_each_missing_feature() -> None:
    """case-data-incomplete: PEComa risk features not recorded block the grouping and chest CT."""
    pec = tumour(Entity.PECOMA, size_cm=fact(3.0), necrosis=fact(False))
    both = ("pecoma-risk-stratification", "sts-chest-ct-staging")
    assert gaps(pec, imaging=()) == {"infiltrative growth": both,
                                     "high nuclear grade and cellularity": both}
    assert gaps(pec) == {"infiltrative growth": both[:1],
                         "high nuclear grade and cellularity": both[:1]}


def test_high_or_low_risk_pecoma_no_gap() -> None:
    """case-data-incomplete: one feature present (high) or all absent (low) decides the group."""
    assert gaps(tumour(Entity.PECOMA, necrosis=fact(True))) == {}
    low = tumour(Entity.PECOMA, size_cm=fact(3.0), necrosis=fact(False),
                 infiltrative_growth=fact(False), high_nuclear_grade=fact(False))
    assert gaps(low) == {}


def test_grade_blocks_chest_staging_of_an_active_sarcoma_without_chest_ct() -> None:
    """case-data-incomplete: grade (or size) decide sts-chest-ct-staging when no chest CT exists."""
    small = tumour(Entity.STS, size_cm=fact(3.0))
    assert gaps(small, imaging=()) == {"histologic grade": ("sts-chest-ct-staging",)}
    assert gaps(tumour(Entity.STS, grade=fact(1)), imaging=()) == {
        "size": ("sts-chest-ct-staging",)}
    assert gaps(tumour(Entity.STS, size_cm=fact(8.0)), imaging=()) == {}
    history = tumour(Entity.STS, size_cm=fact(3.0), clinical_status=ClinicalStatus.REMISSION)
    assert gaps(history, imaging=()) == {}


def test_ilms_without_rms_component_blocks_ilms_rules() -> None:
    """case-data-incomplete: ilms-rt-chemo-reserved / ilms-rms-transformation need the component."""
    ilms = tumour(Entity.ILMS, grade=fact(1), size_cm=fact(3.0))
    assert gaps(ilms) == {"rhabdomyosarcomatous component":
                          ("ilms-rt-chemo-reserved", "ilms-rms-transformation")}
    assert gaps(ilms, imaging=())["rhabdomyosarcomatous component"][-1] == "sts-chest-ct-staging"
    assert gaps(sarcoma(Entity.ILMS))["rhabdomyosarcomatous component"][-1] == \
        "sts-adjuvant-radiotherapy"
    assert gaps(tumour(Entity.ILMS, grade=fact(1), size_cm=fact(3.0),
                       rms_component=fact(False))) == {}


def test_ntrk_candidate_without_fusion_status_blocks_trk_inhibitor() -> None:
    """case-data-incomplete: an advanced spindle-nos with no NTRK fusion result."""
    spread = (Metastasis(source="Condition/met-1", lung=True),)
    nos = tumour(Entity.SPINDLE_NOS, grade=fact(1), size_cm=fact(3.0), metastases=spread)
    assert gaps(nos) == {"NTRK fusion status": ("ntrk-trk-inhibitor",)}
    tested = MolecularResult(gene="gene/ntrk1", finding="fusion", detected=False,
                             method=AssayMethod.RNA_NGS, source="Observation/ngs-1")
    assert gaps(nos.model_copy(update={"molecular": (tested,)})) == {}
    trk = Medication(source="MedicationRequest/m-1", drug="drug/larotrectinib",
                     drug_class=DrugClass.TRK_INHIBITOR)
    assert gaps(nos, medications=(trk,)) == {}
    assert gaps(nos.model_copy(update={"metastases": ()})) == {}


def test_gap_table_names_only_catalogue_ids() -> None:
    """case-data-incomplete: every blocked id in GAPS is a catalogue id."""
    ids = set(load_catalogue().ids)
    assert {i for gap in GAPS for i in gap.blocks} <= ids


def test_tumour_card_renders_gaps() -> None:
    """case-data-incomplete: one info card per tumour listing each gap and what it blocks."""
    t = sarcoma(grade=None, resections=(resection(margin=None),))
    [rec] = run(case(t, imaging=(CHEST_CT,)))
    assert (rec.id, rec.indicator, rec.subject, rec.variant) == (
        "case-data-incomplete", Indicator.INFO, "cond-1", "default")
    assert {f.name for f in rec.facts if f.value == "not recorded"} == {
        "histologic grade", "margin of the latest resection"}
    card = render(rec)
    assert len(card["summary"]) < 140
    assert "Adjuvant radiotherapy" in card["detail"] and "`sts-reexcision`" in card["detail"]
    assert "suggestions" not in card


def test_longest_summary_is_shortened() -> None:
    """case-data-incomplete: many gaps on the longest entity still give a summary under 140."""
    pec = tumour(Entity.PECOMA, tumour_id="cond-9", resections=(resection(margin=None,
                                                                          date=None),))
    [rec] = run(case(pec))
    summary = render(rec)["summary"]
    assert len(summary) < 140 and summary.endswith(
        "date of the latest resection, necrosis and 2 more")
    asc = tumour(Entity.ASCMN, resections=(resection(margin=None, date=None),))
    [rec] = run(case(asc))
    summary = render(rec)["summary"]
    assert len(summary) < 140 and summary.endswith("margin of the latest resection and 1 more")


def test_unreadable_resources_named_without_tumour() -> None:
    """case-data-incomplete: unreadable resources are named by Type/id, subject "record"."""
    [rec] = run(case(unreadable=("Observation/bad-1", "Procedure/bad-2")))
    assert (rec.subject, rec.variant, rec.indicator) == ("record", "unreadable", Indicator.INFO)
    assert [f.sources for f in rec.facts] == [("Observation/bad-1",), ("Procedure/bad-2",)]
    card = render(rec)
    assert len(card["summary"]) < 140 and "(2)" in card["summary"]
    assert "`Observation/bad-1`" in card["detail"] and "`Procedure/bad-2`" in card["detail"]


def test_unreadable_card_besides_tumour_cards() -> None:
    """case-data-incomplete: the record card comes in addition to the tumour's own card."""
    recs = run(case(sarcoma(grade=None), imaging=(CHEST_CT,), unreadable=("Observation/x",)))
    assert [r.subject for r in recs] == ["cond-1", "record"]
