"""Unit tests of the NTRK rules (recommendations.md rows cited in each test name)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from cds_service.case.model import AssayMethod
from cds_service.case.model import Case
from cds_service.case.model import ClinicalStatus
from cds_service.case.model import DraftOrder
from cds_service.case.model import DrugClass
from cds_service.case.model import Entity
from cds_service.case.model import IhcMarker
from cds_service.case.model import IhcResult
from cds_service.case.model import Medication
from cds_service.case.model import Metastasis
from cds_service.case.model import MolecularResult
from cds_service.case.model import OrderKind
from cds_service.case.model import Site
from cds_service.case.model import Tumour
from cds_service.guidelines.recommendation import Recommendation
from cds_service.guidelines.rules import ntrk
from cds_service.hooks.models import Hook
from cds_service.hooks.models import Indicator
from tests.guidelines.factories import case
from tests.guidelines.factories import context
from tests.guidelines.factories import fact
from tests.guidelines.factories import fire
from tests.guidelines.factories import order
from tests.guidelines.factories import tumour
from tests.guidelines.test_ascmn import checked
from tests.guidelines.test_ascmn import created
from tests.guidelines.test_ascmn import deleted


def rna_ngs(subject: Case, hook: Hook = Hook.PATIENT_VIEW) -> list[Recommendation]:
    """ntrk-rna-ngs on ``subject``."""
    return fire(ntrk.ntrk_rna_ngs, subject, context(hook))


def trk(subject: Case) -> list[Recommendation]:
    """ntrk-trk-inhibitor on ``subject`` (patient-view)."""
    return fire(ntrk.ntrk_trk_inhibitor, subject, context())


def spindle(entity: Entity = Entity.SPINDLE_NOS, **fields: Any) -> Tumour:
    """A candidate tumour of the retroperitoneum (the longest summary label)."""
    fields.setdefault("site", fact(Site.RETROPERITONEUM))
    return tumour(entity, **fields)


def ntrk_result(method: AssayMethod, detected: bool | None = False, gene: str = "gene/ntrk3",
                partner: str | None = None) -> MolecularResult:
    """An NTRK fusion result."""
    return MolecularResult(gene=gene, finding="fusion", detected=detected, method=method,
                           source=f"Observation/{method.value}", date=dt.date(2026, 10, 1),
                           partner=partner)


PAN_TRK_IHC = IhcResult(marker=IhcMarker.PAN_TRK, positive=False, source="Observation/trk")


# --- ntrk-rna-ngs, patient-view ---------------------------------------------------------------

@pytest.mark.parametrize("entity", [Entity.SPINDLE_NOS, Entity.SFT, Entity.ASPS, Entity.NTRK])
def test_rna_ngs_untested_candidates(entity: Entity) -> None:
    """ntrk-rna-ngs PV: untested spindle-nos, sft, asps and (suspected) ntrk: info + RNA panel.

    Reading: an ntrk tumour with no fusion detected on record is only suspected.
    """
    recs = rna_ngs(case(spindle(entity)))
    assert [(r.id, r.indicator, r.subject, r.values["tested"]) for r in recs] == [
        ("ntrk-rna-ngs", Indicator.INFO, "cond-1", "untested")]
    card = checked(recs[0])
    assert created(card)[0]["code"]["text"].startswith("RNA-based NGS fusion panel")
    for words in ("vascular", "fat", "solitary fibrous tumour", "alveolar soft part sarcoma"):
        assert words in card["detail"]


@pytest.mark.parametrize(("fields", "tested"), [
    ({"ihc": (PAN_TRK_IHC,)}, "pan-TRK IHC only"),
    ({"molecular": (ntrk_result(AssayMethod.DNA_PANEL),)}, "DNA panel only"),
    ({"molecular": (ntrk_result(AssayMethod.DNA_PANEL),), "ihc": (PAN_TRK_IHC,)},
     "pan-TRK IHC and DNA panel only"),
    # reading: pan-TRK IHC positivity is expression, not a detected fusion
    ({"molecular": (ntrk_result(AssayMethod.IHC, True),)}, "pan-TRK IHC only"),
])
def test_rna_ngs_tested_only_by_missable_assays(fields: dict[str, Any], tested: str) -> None:
    """ntrk-rna-ngs PV: tested only by pan-TRK IHC or a DNA panel still fires, naming them."""
    recs = rna_ngs(case(spindle(**fields)))
    assert [r.values["tested"] for r in recs] == [tested]
    assert tested in checked(recs[0])["detail"]


@pytest.mark.parametrize("fields", [
    {"molecular": (ntrk_result(AssayMethod.DNA_PANEL, True),)},
    {"molecular": (ntrk_result(AssayMethod.RNA_NGS, False),)},
    {"molecular": (MolecularResult(gene="gene/nab2", finding="fusion", detected=True,
                                   method=AssayMethod.RNA_NGS, source="Observation/x"),)},
    {"molecular": (ntrk_result(AssayMethod.FISH),)},
    {"molecular": (ntrk_result(AssayMethod.UNKNOWN),)},
    {"clinical_status": ClinicalStatus.REMISSION},
])
def test_rna_ngs_silent(fields: dict[str, Any]) -> None:
    """ntrk-rna-ngs PV: fusion detected, RNA result (any gene: reading), FISH or unknown method
    (reading), or history."""
    assert rna_ngs(case(spindle(**fields))) == []


@pytest.mark.parametrize("entity", [Entity.STS, Entity.ILMS, Entity.PECOMA, Entity.ASCMN])
def test_rna_ngs_other_entities_silent(entity: Entity) -> None:
    """ntrk-rna-ngs PV: only spindle-nos, sft, asps and ntrk are candidates."""
    assert rna_ngs(case(spindle(entity))) == []


# --- ntrk-rna-ngs, order-sign -----------------------------------------------------------------

def pan_trk_order(**fields: Any) -> DraftOrder:
    """A draft pan-TRK IHC order."""
    return order("ServiceRequest", "trk-ihc", kind=OrderKind.IHC_TEST, marker=IhcMarker.PAN_TRK,
                 label="Pan-TRK immunohistochemistry", **fields)


def dna_order(**fields: Any) -> DraftOrder:
    """A draft DNA-panel order."""
    return order("ServiceRequest", "dna", kind=OrderKind.MOLECULAR_TEST,
                 assay=AssayMethod.DNA_PANEL, label="Targeted DNA NGS panel", **fields)


@pytest.mark.parametrize("draft", [pan_trk_order(), dna_order()])
def test_rna_ngs_order_warns(draft: DraftOrder) -> None:
    """ntrk-rna-ngs OSN: a pan-TRK IHC or DNA-panel draft: warning, suggest an RNA panel."""
    recs = rna_ngs(case(spindle(Entity.SFT), draft_orders=(draft,)), Hook.ORDER_SIGN)
    assert [(r.indicator, r.subject, r.variant, r.against_order) for r in recs] == [
        (Indicator.WARNING, draft.reference, "order", True)]
    assert [o.kind for o in recs[0].suggestions[0].creates] == ["rna-fusion-panel"]
    card = checked(recs[0])
    assert deleted(card) == []  # the draft is kept: RNA NGS is added, not substituted
    assert "rna-assay-done" in {c["code"] for c in card["overrideReasons"]}
    assert "vascular" in card["detail"] and "alveolar soft part sarcoma" in card["detail"]


def test_rna_ngs_order_co_drafted_rna_panel() -> None:
    """ntrk-rna-ngs OSN reading: an RNA panel drafted in the same request is "ordered": silent."""
    rna = order("ServiceRequest", "rna", kind=OrderKind.MOLECULAR_TEST, assay=AssayMethod.RNA_NGS)
    assert rna_ngs(case(spindle(), draft_orders=(dna_order(), rna)), Hook.ORDER_SIGN) == []
    assert rna_ngs(case(spindle(), draft_orders=(dna_order(),)), Hook.ORDER_SIGN)


@pytest.mark.parametrize("subject", [
    case(spindle(molecular=(ntrk_result(AssayMethod.RNA_NGS),)), draft_orders=(dna_order(),)),
    case(spindle(Entity.STS), draft_orders=(pan_trk_order(),)),
    case(spindle(), draft_orders=(dna_order(reason_refs=("Condition/lung-ca",)),)),
    case(spindle(), draft_orders=(order("ServiceRequest", kind=OrderKind.IHC_TEST,
                                        marker=IhcMarker.DESMIN),)),
    case(spindle(), draft_orders=(order("ServiceRequest", kind=OrderKind.MOLECULAR_TEST,
                                        assay=AssayMethod.RNA_NGS),)),
])
def test_rna_ngs_order_silent(subject: Case) -> None:
    """ntrk-rna-ngs OSN: RNA result on record, not a candidate, for another condition, or not a
    missable assay."""
    assert rna_ngs(subject, Hook.ORDER_SIGN) == []


def test_rna_ngs_order_targets_named_tumour() -> None:
    """ntrk-rna-ngs OSN: a draft naming a non-candidate is silent; naming a candidate fires."""
    subject = case(spindle(Entity.STS), spindle(tumour_id="cond-2"),
                   draft_orders=(dna_order(reason_refs=("Condition/cond-1",)),
                                 pan_trk_order(reason_refs=("Condition/cond-2",))))
    assert [r.subject for r in rna_ngs(subject, Hook.ORDER_SIGN)] == ["ServiceRequest/trk-ihc"]


# --- ntrk-trk-inhibitor -----------------------------------------------------------------------

FUSION = ntrk_result(AssayMethod.RNA_NGS, True, partner="gene/etv6")
METASTASIS = Metastasis(source="Condition/lung-met", lung=True, date=dt.date(2026, 9, 1))


@pytest.mark.parametrize(("fields", "state"), [
    ({"metastases": (METASTASIS,)}, "metastatic"),
    ({"unresectable": fact(True)}, "unresectable"),
    ({"clinical_status": ClinicalStatus.RECURRENCE}, "recurrent"),
    ({"local_recurrences": (fact(dt.date(2026, 8, 1)),)}, "recurrent"),
])
def test_trk_inhibitor_fires(fields: dict[str, Any], state: str) -> None:
    """ntrk-trk-inhibitor: fusion detected and advanced/unresectable/recurrent: warning."""
    recs = trk(case(spindle(Entity.NTRK, molecular=(FUSION,), **fields)))
    assert [(r.id, r.indicator, r.subject) for r in recs] == [
        ("ntrk-trk-inhibitor", Indicator.WARNING, "cond-1")]
    assert recs[0].values["fusion"] == "ETV6::NTRK3" and recs[0].values["state"] == state
    card = checked(recs[0])
    assert "ETV6::NTRK3" in card["summary"] and "larotrectinib" in card["detail"]


def test_trk_inhibitor_names_the_medications_it_could_not_read() -> None:
    """Unknown is not false: an unreadable medication may be a TRK inhibitor; the card says so."""
    subject = case(spindle(Entity.NTRK, molecular=(FUSION,), metastases=(METASTASIS,)),
                   unreadable=("MedicationRequest/mr-2",))
    [rec] = trk(subject)
    detail = checked(rec)["detail"]
    assert "TRK inhibitor: none among the medications read; 1 could not be read" in detail
    assert "MedicationRequest/mr-2" in detail


def test_trk_inhibitor_any_entity_with_dna_detected_fusion() -> None:
    """ntrk-trk-inhibitor: any tumour with a fusion detected (here by DNA panel, no partner)."""
    fusion = ntrk_result(AssayMethod.DNA_PANEL, True, gene="gene/ntrk1")
    recs = trk(case(spindle(Entity.STS, molecular=(fusion,), metastases=(METASTASIS,))))
    assert [r.values["fusion"] for r in recs] == ["NTRK1"]


@pytest.mark.parametrize("subject", [
    case(spindle(Entity.NTRK, molecular=(FUSION,))),  # localized
    case(spindle(Entity.NTRK, molecular=(FUSION,), metastases=(METASTASIS,)),
         medications=(Medication(source="MedicationRequest/m", drug="drug/larotrectinib",
                                 drug_class=DrugClass.TRK_INHIBITOR),)),
    case(spindle(Entity.NTRK, molecular=(FUSION,), metastases=(METASTASIS,)),
         medications=(Medication(source="MedicationStatement/m", drug="Entrectinib 200 mg",
                                 drug_class=None, from_text=True),)),
    case(spindle(Entity.NTRK, molecular=(ntrk_result(AssayMethod.IHC, True),),
                 metastases=(METASTASIS,))),  # reading: IHC is not a fusion
    case(spindle(Entity.NTRK, metastases=(METASTASIS,))),  # no fusion on record
    case(spindle(Entity.NTRK, molecular=(FUSION,), metastases=(METASTASIS,),
                 clinical_status=ClinicalStatus.REMISSION)),  # reading: active only
    case(spindle(Entity.NTRK, molecular=(FUSION,), unresectable=fact(False),
                 metastases=(Metastasis(source="Condition/n", lung=None, nodal=True),))),
])
def test_trk_inhibitor_silent(subject: Case) -> None:
    """ntrk-trk-inhibitor: localized, TRK inhibitor on record (class or name), no fusion
    (IHC only), history, or nodal spread only."""
    assert trk(subject) == []
