"""Unit tests of the ASCMN rules (recommendations.md rows cited in each test name)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from collections.abc import Iterable
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from cds_service.case.model import Adequacy
from cds_service.case.model import AssayMethod
from cds_service.case.model import Behaviour
from cds_service.case.model import Biopsy
from cds_service.case.model import BiopsyKind
from cds_service.case.model import Case
from cds_service.case.model import ClinicalStatus
from cds_service.case.model import DrugClass
from cds_service.case.model import Entity
from cds_service.case.model import Fracture
from cds_service.case.model import IhcMarker
from cds_service.case.model import IhcResult
from cds_service.case.model import ImagingKind
from cds_service.case.model import ImagingStudy
from cds_service.case.model import Metastasis
from cds_service.case.model import MolecularResult
from cds_service.case.model import OrderKind
from cds_service.case.model import Resection
from cds_service.case.model import ResectionKind
from cds_service.case.model import Site
from cds_service.case.model import Tumour
from cds_service.case.model import Verification
from cds_service.guidelines.context import RuleContext
from cds_service.guidelines.recommendation import Recommendation
from cds_service.guidelines.rules import ascmn
from cds_service.guidelines.rules.common import tumour_values
from cds_service.guidelines.rules.workup import chest_ct_staging
from cds_service.guidelines.rules.workup import confirm_histologically
from cds_service.guidelines.rules.workup import core_biopsy_after_fna
from cds_service.guidelines.rules.workup import mri_local_staging
from cds_service.hooks.models import Hook
from cds_service.hooks.models import Indicator
from tests.guidelines.factories import case
from tests.guidelines.factories import context
from tests.guidelines.factories import fact
from tests.guidelines.factories import fire
from tests.guidelines.factories import order
from tests.guidelines.factories import render
from tests.guidelines.factories import tumour

RuleFn = Callable[[Case, RuleContext], Iterable[Recommendation]]
THIGH = {"coding": [{"system": "http://snomed.info/sct", "code": "68367000"}], "text": "Left thigh"}
D = dt.date
STUDY_DATE = D(2026, 10, 1)


def run(fn: RuleFn, subject: Case, hook: Hook = Hook.PATIENT_VIEW) -> list[Recommendation]:
    """The recommendations ``fn`` yields for ``subject`` on ``hook``."""
    return fire(fn, subject, context(hook))


def limb(entity: Entity = Entity.STS, tumour_id: str = "cond-1", **fields: Any) -> Tumour:
    """A tumour of the lower limb with a body site."""
    fields.setdefault("site", fact(Site.LOWER_LIMB, f"Condition/{tumour_id}"))
    fields.setdefault("body_site", THIGH)
    return tumour(entity, tumour_id, **fields)


def longest(entity: Entity = Entity.NTRK, **fields: Any) -> Tumour:
    """The tumour with the longest summary label (entity name and site)."""
    fields.setdefault("site", fact(Site.RETROPERITONEUM))
    return tumour(entity, **fields)


def checked(rec: Recommendation) -> dict[str, Any]:
    """Render ``rec``, check the summary length and that created resources are valid R4."""
    card = render(rec)
    assert len(card["summary"]) < 140, card["summary"]
    assert rec.id == card["source"]["topic"]["code"]
    for suggestion in card.get("suggestions", []):
        for action in suggestion["actions"]:
            if action["type"] == "create":
                resource = action["resource"]
                get_fhir_model_class(resource["resourceType"]).model_validate(resource)
                assert resource["status"] == "draft" and resource["intent"] == "proposal"
    return card


def created(card: dict[str, Any]) -> list[dict[str, Any]]:
    """Resources the card's suggestions create."""
    return [a["resource"] for s in card.get("suggestions", []) for a in s["actions"]
            if a["type"] == "create"]


def deleted(card: dict[str, Any]) -> list[str]:
    """``resourceId`` of the card's delete actions."""
    return [a["resourceId"] for s in card.get("suggestions", []) for a in s["actions"]
            if a["type"] == "delete"]


def biopsy(kind: BiopsyKind, date: dt.date | None, adequacy: Adequacy | None = None,
           source: str = "Procedure/bx-1") -> Biopsy:
    """A biopsy."""
    return Biopsy(source=source, kind=kind, date=date,
                  adequacy=fact(adequacy, source) if adequacy else None)


def study(kind: ImagingKind, site: Site | None = Site.LOWER_LIMB,
          date: dt.date | None = STUDY_DATE) -> ImagingStudy:
    """An imaging study done."""
    return ImagingStudy(source="Procedure/img-1", kind=kind, date=date, site=site)


def resected(**fields: Any) -> Tumour:
    """A lower-limb sarcoma with one wide resection."""
    return limb(resections=(Resection(source="Procedure/res-1", kind=ResectionKind.WIDE,
                                      date=D(2026, 6, 1)),), **fields)


# --- sts-histologic-confirmation ------------------------------------------------------------------

def test_histologic_confirmation_fires_for_provisional_without_biopsy() -> None:
    """sts-histologic-confirmation: provisional, no tissue: info with a core-biopsy suggestion."""
    recs = run(confirm_histologically,
               case(limb(verification=Verification.PROVISIONAL,
                         biopsies=(biopsy(BiopsyKind.FNA, D(2026, 10, 20)),))))
    assert [(r.id, r.indicator, r.subject) for r in recs] == [
        ("sts-histologic-confirmation", Indicator.INFO, "cond-1")]
    assert [o.kind for s in recs[0].suggestions for o in s.creates] == ["core-biopsy"]
    card = checked(recs[0])
    assert deleted(card) == []
    assert created(card)[0]["bodySite"] == [THIGH]
    assert created(card)[0]["reasonReference"] == [{"reference": "Condition/cond-1"}]


@pytest.mark.parametrize("status", [Verification.DIFFERENTIAL, Verification.UNCONFIRMED])
def test_histologic_confirmation_counts_differential_and_unconfirmed(status: Verification) -> None:
    """sts-histologic-confirmation reading: "unconfirmed" (parent of provisional) counts too."""
    assert run(confirm_histologically, case(limb(verification=status)))


@pytest.mark.parametrize("fields", [
    {"verification": Verification.CONFIRMED},
    {"verification": None},
    {"verification": Verification.PROVISIONAL,
     "biopsies": (biopsy(BiopsyKind.CORE, D(2026, 10, 28)),)},
    {"verification": Verification.PROVISIONAL,
     "biopsies": (biopsy(BiopsyKind.INCISIONAL, None),)},
    {"verification": Verification.PROVISIONAL, "clinical_status": ClinicalStatus.REMISSION},
])
def test_histologic_confirmation_silent(fields: dict[str, Any]) -> None:
    """sts-histologic-confirmation: confirmed, unknown status, tissue sampled or history."""
    assert run(confirm_histologically, case(limb(**fields))) == []


def test_histologic_confirmation_resection_gives_histology() -> None:
    """sts-histologic-confirmation reading: a resection specimen is tissue, like a biopsy."""
    subject = case(resected(verification=Verification.PROVISIONAL))
    assert run(confirm_histologically, subject) == []


def test_histologic_confirmation_render_longest() -> None:
    """sts-histologic-confirmation: summary under 140 for the longest label."""
    rec = next(iter(run(confirm_histologically,
                        case(longest(verification=Verification.DIFFERENTIAL)))))
    assert "differential" in checked(rec)["summary"]


# --- sts-core-biopsy-after-fna ----------------------------------------------------------------

@pytest.mark.parametrize("adequacy", [Adequacy.SUSPICIOUS, Adequacy.NON_DIAGNOSTIC])
def test_core_after_fna_fires_when_nothing_follows(adequacy: Adequacy) -> None:
    """sts-core-biopsy-after-fna: inconclusive FNA, no later core: warning with core biopsy."""
    earlier_core = biopsy(BiopsyKind.CORE, D(2026, 9, 1), source="Procedure/core-0")
    recs = run(core_biopsy_after_fna, case(limb(biopsies=(
        earlier_core, biopsy(BiopsyKind.FNA, D(2026, 10, 20), adequacy)))))
    assert [(r.id, r.indicator, r.subject) for r in recs] == [
        ("sts-core-biopsy-after-fna", Indicator.WARNING, "cond-1")]
    assert recs[0].suggestions[0].creates[0].kind == "core-biopsy"
    assert any(f.sources == ("Procedure/bx-1",) for f in recs[0].facts)


@pytest.mark.parametrize("later", [
    biopsy(BiopsyKind.CORE, D(2026, 10, 28)),
    biopsy(BiopsyKind.EXCISIONAL, D(2026, 10, 20)),
    biopsy(BiopsyKind.INCISIONAL, None),
])
def test_core_after_fna_silent_when_tissue_follows(later: Biopsy) -> None:
    """sts-core-biopsy-after-fna: a core/surgical biopsy follows (undated counts: reading)."""
    fna = biopsy(BiopsyKind.FNA, D(2026, 10, 20), Adequacy.SUSPICIOUS)
    assert run(core_biopsy_after_fna, case(limb(biopsies=(fna, later)))) == []


def test_core_after_fna_resection_follows() -> None:
    """sts-core-biopsy-after-fna reading: a later resection is surgical tissue sampling."""
    fna = biopsy(BiopsyKind.FNA, D(2026, 5, 1), Adequacy.SUSPICIOUS)
    assert run(core_biopsy_after_fna, case(resected(biopsies=(fna,)))) == []


@pytest.mark.parametrize("adequacy", [Adequacy.DIAGNOSTIC, None])
def test_core_after_fna_silent_unless_inconclusive(adequacy: Adequacy | None) -> None:
    """sts-core-biopsy-after-fna: diagnostic or unrecorded FNA result does not fire."""
    fna = biopsy(BiopsyKind.FNA, D(2026, 10, 20), adequacy)
    assert run(core_biopsy_after_fna, case(limb(biopsies=(fna,)))) == []


def test_core_after_fna_render() -> None:
    """sts-core-biopsy-after-fna: rendered card."""
    fna = biopsy(BiopsyKind.FNA, None, Adequacy.NON_DIAGNOSTIC)
    rec = run(core_biopsy_after_fna, case(longest(biopsies=(fna,))))[0]
    card = checked(rec)
    assert card["indicator"] == "warning" and "non-diagnostic" in card["summary"]


# --- sts-mri-local-staging --------------------------------------------------------------------

def test_mri_staging_pv_fires_without_mri() -> None:
    """sts-mri-local-staging PV: no MRI of the primary site (an MRI elsewhere does not count)."""
    subject = case(limb(), imaging=(study(ImagingKind.MRI, Site.TRUNK),
                                     study(ImagingKind.ULTRASOUND)))
    recs = run(mri_local_staging, subject)
    assert [(r.id, r.indicator, r.subject, r.variant) for r in recs] == [
        ("sts-mri-local-staging", Indicator.INFO, "cond-1", "diagnosis")]
    card = checked(recs[0])
    assert created(card)[0]["code"]["coding"][0]["code"] == "73718"


@pytest.mark.parametrize("imaging", [
    (study(ImagingKind.MRI),),
    (study(ImagingKind.MRI, Site.FOOT),),  # reading: a foot MRI is of the lower limb region
    (study(ImagingKind.MRI, None),),  # reading: an unsited MRI counts for the sole tumour
])
def test_mri_staging_pv_silent_with_mri(imaging: tuple[ImagingStudy, ...]) -> None:
    """sts-mri-local-staging PV: an MRI of the primary site is on record."""
    assert run(mri_local_staging, case(limb(), imaging=imaging)) == []


def test_mri_staging_unsited_mri_does_not_count_with_two_tumours() -> None:
    """sts-mri-local-staging reading: with several tumours an unsited MRI is attributed to none."""
    subject = case(limb(), limb(tumour_id="cond-2", site=fact(Site.TRUNK)),
                   imaging=(study(ImagingKind.MRI, None),))
    assert [r.subject for r in run(mri_local_staging, subject)] == ["cond-1", "cond-2"]


def test_mri_staging_pv_ignores_history_tumour() -> None:
    """sts-mri-local-staging: work-up rules consider active tumours only."""
    subject = case(limb(clinical_status=ClinicalStatus.REMISSION))
    assert run(mri_local_staging, subject) == []


@pytest.mark.parametrize("hook", [Hook.ORDER_SELECT, Hook.ORDER_SIGN])
@pytest.mark.parametrize("kind", [ImagingKind.CT, ImagingKind.ULTRASOUND])
def test_mri_staging_order_replaces_draft(hook: Hook, kind: ImagingKind) -> None:
    """sts-mri-local-staging OS/OSN: CT or US of the primary site, no MRI: replace by MRI."""
    draft = order("ServiceRequest", "sr-7", kind=OrderKind.IMAGING, imaging=kind,
                  site=Site.LOWER_LIMB, label="CT right thigh")
    recs = run(mri_local_staging, case(limb(), draft_orders=(draft,)), hook)
    assert [(r.indicator, r.subject, r.variant, r.against_order) for r in recs] == [
        (Indicator.WARNING, "ServiceRequest/sr-7", "order-diagnosis", True)]
    spec = recs[0].suggestions[0]
    assert spec.deletes == ("ServiceRequest/sr-7",) and spec.creates[0].kind == "mri"
    card = checked(recs[0])
    assert deleted(card) == ["ServiceRequest/sr-7"]
    assert created(card)[0]["bodySite"] == [THIGH]
    assert {c["code"] for c in card["overrideReasons"]} >= {"mri-contraindicated"}


@pytest.mark.parametrize("fields", [
    {"imaging": ImagingKind.CT_CHEST, "site": Site.CHEST},
    {"imaging": ImagingKind.CT, "site": Site.CHEST},
    {"imaging": ImagingKind.PET_CT, "site": Site.LOWER_LIMB},
    {"imaging": ImagingKind.CT, "site": Site.TRUNK},
    {"imaging": ImagingKind.CT, "site": None},  # reading: unknown site is not the primary site
    {"imaging": ImagingKind.CT, "site": Site.LOWER_LIMB, "reason_refs": ("Condition/dvt",)},
    {"imaging": ImagingKind.CT, "site": Site.LOWER_LIMB, "selected": False},
])
def test_mri_staging_order_silent(fields: dict[str, Any]) -> None:
    """sts-mri-local-staging OS: chest/PET imaging, another or unknown site, other reason."""
    draft = order("ServiceRequest", kind=OrderKind.IMAGING, **fields)
    assert run(mri_local_staging, case(limb(), draft_orders=(draft,)),
               Hook.ORDER_SELECT) == []


def test_mri_staging_chest_ct_is_never_local_staging() -> None:
    """sts-mri-local-staging reading: "CT (not chest)" excludes a chest CT even for a chest-wall
    tumour, however the draft is classified."""
    draft = order("ServiceRequest", kind=OrderKind.IMAGING, imaging=ImagingKind.CT,
                  site=Site.CHEST)
    subject = case(limb(site=fact(Site.CHEST)), draft_orders=(draft,))
    assert run(mri_local_staging, subject, Hook.ORDER_SIGN) == []
    assert run(mri_local_staging, subject)  # PV still asks for the MRI


def test_mri_staging_order_silent_when_mri_on_record() -> None:
    """sts-mri-local-staging OSN: an MRI of the site exists."""
    draft = order("ServiceRequest", kind=OrderKind.IMAGING, imaging=ImagingKind.CT,
                  site=Site.LOWER_LIMB)
    subject = case(limb(), imaging=(study(ImagingKind.MRI),), draft_orders=(draft,))
    assert run(mri_local_staging, subject, Hook.ORDER_SIGN) == []


def test_mri_staging_co_drafted_mri_is_not_on_record() -> None:
    """sts-mri-local-staging: an MRI drafted in the same request does not count (conventions)."""
    ct = order("ServiceRequest", "ct", kind=OrderKind.IMAGING, imaging=ImagingKind.CT,
               site=Site.LOWER_LIMB)
    mri = order("ServiceRequest", "mri", kind=OrderKind.IMAGING, imaging=ImagingKind.MRI,
                site=Site.LOWER_LIMB)
    recs = run(mri_local_staging, case(limb(), draft_orders=(ct, mri)), Hook.ORDER_SIGN)
    assert [r.subject for r in recs] == ["ServiceRequest/ct"]


def test_mri_staging_draft_without_id_gets_no_delete() -> None:
    """sts-mri-local-staging: a draft without an id is named by its label, nothing deleted."""
    draft = order("ServiceRequest", None, kind=OrderKind.IMAGING, imaging=ImagingKind.CT,
                  site=Site.FOOT, label="CT left foot")
    recs = run(mri_local_staging, case(longest(site=fact(Site.FOOT)),
                                             draft_orders=(draft,)), Hook.ORDER_SIGN)
    assert recs[0].subject == "CT left foot" and recs[0].suggestions[0].deletes == ()
    assert deleted(checked(recs[0])) == []


# --- sts-chest-ct-staging ---------------------------------------------------------------------

def test_chest_ct_fires_for_high_grade_sarcoma() -> None:
    """sts-chest-ct-staging: high-grade sarcoma, chest X-ray only: info with a chest CT."""
    subject = case(limb(grade=fact(3), diagnosis_date=D(2026, 10, 1)),
                   imaging=(study(ImagingKind.XRAY_CHEST, Site.CHEST),
                            study(ImagingKind.CT_CHEST, Site.CHEST, D(2026, 1, 1))))
    recs = run(chest_ct_staging, subject)
    assert [(r.id, r.indicator, r.subject) for r in recs] == [
        ("sts-chest-ct-staging", Indicator.INFO, "cond-1")]
    assert recs[0].values["risks"] == "high grade"
    card = checked(recs[0])
    assert created(card)[0]["code"]["coding"][0]["code"] == "71250"


@pytest.mark.parametrize("fields", [
    {"size_cm": fact(6.2)},
    {"entity": Entity.ILMS, "rms_component": fact(True)},
    {"entity": Entity.PECOMA, "necrosis": fact(True)},
])
def test_chest_ct_other_risks(fields: dict[str, Any]) -> None:
    """sts-chest-ct-staging: large, ilms with RMS component, high-risk pecoma."""
    entity = fields.pop("entity", Entity.STS)
    assert run(chest_ct_staging, case(limb(entity, **fields)))


@pytest.mark.parametrize("fields", [
    {"grade": fact(1), "size_cm": fact(4.0)},
    {},  # grade and size unknown: unknown is not a risk
    {"entity": Entity.PECOMA, "necrosis": fact(False)},  # indeterminate risk: not for staging
    {"entity": Entity.ILMS, "rms_component": fact(False), "grade": fact(1)},
    {"entity": Entity.ASCMN, "size_cm": fact(8.0)},  # not a sarcoma
    {"entity": Entity.SFT, "behaviour": Behaviour.UNCERTAIN, "grade": fact(3)},
    {"grade": fact(3), "clinical_status": ClinicalStatus.RESOLVED},
])
def test_chest_ct_silent(fields: dict[str, Any]) -> None:
    """sts-chest-ct-staging: no risk, unknown risk, not a sarcoma, or history."""
    entity = fields.pop("entity", Entity.STS)
    assert run(chest_ct_staging, case(limb(entity, **fields))) == []


@pytest.mark.parametrize("date", [D(2026, 10, 1), D(2026, 10, 2), None])
def test_chest_ct_silent_after_ct_since_diagnosis(date: dt.date | None) -> None:
    """sts-chest-ct-staging: a chest CT since (or on) diagnosis; an undated one counts (reading)."""
    subject = case(limb(grade=fact(2), diagnosis_date=D(2026, 10, 1)),
                   imaging=(study(ImagingKind.CT_CHEST, Site.CHEST, date),))
    assert run(chest_ct_staging, subject) == []


def test_chest_ct_render_longest() -> None:
    """sts-chest-ct-staging: every risk named in the detail; summary under 140."""
    rec = run(chest_ct_staging,
              case(longest(Entity.ILMS, grade=fact(3), size_cm=fact(9.0),
                           rms_component=fact(True))))[0]
    card = checked(rec)
    assert "rhabdomyosarcomatous component" in card["detail"]


# --- ascmn-ihc-panel --------------------------------------------------------------------------

def ihc(marker: IhcMarker, positive: bool | None = True) -> IhcResult:
    """An IHC result."""
    return IhcResult(marker=marker, positive=positive, source=f"Observation/{marker.value}")


@pytest.mark.parametrize(("results", "missing"), [
    ((), "CD34, S-100 and desmin"),
    ((ihc(IhcMarker.CD34), ihc(IhcMarker.S100, False)), "desmin"),
    ((ihc(IhcMarker.DESMIN),), "CD34 and S-100"),
])
def test_ascmn_ihc_panel_lists_missing(results: tuple[IhcResult, ...], missing: str) -> None:
    """ascmn-ihc-panel: the missing markers are listed."""
    recs = run(ascmn.ascmn_ihc_panel, case(limb(Entity.ASCMN, ihc=results)))
    assert [(r.id, r.indicator) for r in recs] == [("ascmn-ihc-panel", Indicator.INFO)]
    assert recs[0].values["missing"] == missing
    assert missing in checked(recs[0])["summary"]


@pytest.mark.parametrize(("entity", "results"), [
    (Entity.ASCMN, (ihc(IhcMarker.CD34), ihc(IhcMarker.S100), ihc(IhcMarker.DESMIN, None))),
    (Entity.STS, ()),
])
def test_ascmn_ihc_panel_silent(entity: Entity, results: tuple[IhcResult, ...]) -> None:
    """ascmn-ihc-panel: complete (a recorded but unread result counts: reading), or not ascmn."""
    assert run(ascmn.ascmn_ihc_panel, case(limb(entity, ihc=results))) == []


def test_ascmn_ihc_panel_render_longest() -> None:
    """ascmn-ihc-panel: summary under 140 with all three markers missing."""
    checked(run(ascmn.ascmn_ihc_panel, case(longest(Entity.ASCMN)))[0])


# --- ascmn-mdm2-testing -----------------------------------------------------------------------

def mdm2(detected: bool | None) -> MolecularResult:
    """An MDM2 FISH result."""
    return MolecularResult(gene="gene/mdm2", finding="amplification", detected=detected,
                           method=AssayMethod.FISH, source="Observation/mdm2")


def test_mdm2_untested_info_with_fish() -> None:
    """ascmn-mdm2-testing: untested ascmn: info suggesting MDM2 FISH."""
    recs = run(ascmn.ascmn_mdm2_testing, case(longest(Entity.ASCMN)))
    assert [(r.indicator, r.variant) for r in recs] == [(Indicator.INFO, "default")]
    card = checked(recs[0])
    assert created(card)[0]["code"]["coding"][0]["code"] == "93808-4"


def test_mdm2_amplified_warning() -> None:
    """ascmn-mdm2-testing: amplified: warning to reconsider the diagnosis, no suggestion."""
    recs = run(ascmn.ascmn_mdm2_testing, case(longest(Entity.ASCMN, molecular=(mdm2(True),))))
    assert [(r.indicator, r.variant, r.suggestions) for r in recs] == [
        (Indicator.WARNING, "amplified", ())]
    card = checked(recs[0])
    assert "ALT" in card["summary"] and "Observation/mdm2" in card["detail"]


@pytest.mark.parametrize("fields", [
    {"molecular": (mdm2(False),)},
    {"molecular": (mdm2(None),)},  # reading: a result whose value is unread is not "untested"
    {"entity": Entity.STS},
    {"clinical_status": ClinicalStatus.REMISSION},
])
def test_mdm2_silent(fields: dict[str, Any]) -> None:
    """ascmn-mdm2-testing: not amplified, unread result, not ascmn, or history."""
    entity = fields.pop("entity", Entity.ASCMN)
    assert run(ascmn.ascmn_mdm2_testing, case(limb(entity, **fields))) == []


# --- sts-wide-excision ------------------------------------------------------------------------

@pytest.mark.parametrize(("entity", "variant"), [
    (Entity.NTRK, "ntrk"), (Entity.PECOMA, "pecoma"), (Entity.ASCMN, "ascmn"),
    (Entity.STS, "default"), (Entity.ILMS, "default"), (Entity.SFT, "default"),
])
def test_wide_excision_variants(entity: Entity, variant: str) -> None:
    """sts-wide-excision: localized, not excised: info with the entity's detail variant."""
    recs = run(ascmn.wide_excision, case(longest(entity)))
    assert [(r.id, r.indicator, r.variant) for r in recs] == [
        ("sts-wide-excision", Indicator.INFO, variant)]
    card = checked(recs[0])
    if variant == "ntrk":
        assert "fat" in card["detail"] and "vascular" in card["detail"]


@pytest.mark.parametrize("fields", [
    {"metastases": (Metastasis(source="Condition/met", lung=True),)},
    {"unresectable": fact(True)},
    {"resections": (Resection(source="Procedure/r", kind=ResectionKind.MARGINAL),)},
    {"biopsies": (biopsy(BiopsyKind.EXCISIONAL, D(2026, 9, 1)),)},  # reading: an excision
    {"verification": Verification.PROVISIONAL},  # reading: confirm before definitive surgery
    {"clinical_status": ClinicalStatus.REMISSION},
])
def test_wide_excision_silent(fields: dict[str, Any]) -> None:
    """sts-wide-excision: advanced, excised, unconfirmed or history."""
    assert run(ascmn.wide_excision, case(limb(**fields))) == []


def test_wide_excision_nodal_spread_is_still_localized() -> None:
    """sts-wide-excision: regional nodes are not distant metastasis (conventions)."""
    node = Metastasis(source="Condition/n", lung=None, nodal=True)
    assert run(ascmn.wide_excision, case(limb(metastases=(node,))))


# --- ascmn-acral-function ---------------------------------------------------------------------

@pytest.mark.parametrize(("entity", "site"), [(Entity.ASCMN, Site.HAND),
                                              (Entity.NTRK, Site.FOOT)])
def test_acral_function_fires(entity: Entity, site: Site) -> None:
    """ascmn-acral-function: any tumour at the hand or foot, not excised."""
    recs = run(ascmn.acral_function, case(tumour(entity, site=fact(site))))
    assert [(r.id, r.indicator, r.subject) for r in recs] == [
        ("ascmn-acral-function", Indicator.INFO, "cond-1")]
    assert site.value in checked(recs[0])["detail"]


@pytest.mark.parametrize("fields", [
    {"site": fact(Site.UPPER_LIMB)},
    {},
    {"site": fact(Site.HAND), "resections": (Resection(source="Procedure/r",
                                                       kind=ResectionKind.WIDE),)},
    {"site": fact(Site.FOOT), "clinical_status": ClinicalStatus.RESOLVED},
])
def test_acral_function_silent(fields: dict[str, Any]) -> None:
    """ascmn-acral-function: forearm, unknown site, excised or history."""
    assert run(ascmn.acral_function, case(tumour(Entity.ASCMN, **fields))) == []


# --- ascmn-mohs-cutaneous ---------------------------------------------------------------------

def test_mohs_fires_for_cutaneous_ascmn() -> None:
    """ascmn-mohs-cutaneous: cutaneous ascmn not excised."""
    recs = run(ascmn.mohs_for_cutaneous_ascmn, case(tumour(Entity.ASCMN, site=fact(Site.SKIN))))
    assert [(r.id, r.indicator) for r in recs] == [("ascmn-mohs-cutaneous", Indicator.INFO)]
    assert checked(recs[0])["summary"].startswith("Atypical spindle cell neoplasm of the skin")


@pytest.mark.parametrize(("entity", "fields"), [
    (Entity.STS, {"site": fact(Site.SKIN)}),
    (Entity.ASCMN, {"site": fact(Site.HAND)}),
    (Entity.ASCMN, {"site": fact(Site.SKIN),
                    "resections": (Resection(source="Procedure/m", kind=ResectionKind.MOHS),)}),
])
def test_mohs_silent(entity: Entity, fields: dict[str, Any]) -> None:
    """ascmn-mohs-cutaneous: not ascmn, not cutaneous, or excised."""
    assert run(ascmn.mohs_for_cutaneous_ascmn, case(tumour(entity, **fields))) == []


# --- fracture-no-internal-fixation ------------------------------------------------------------

def fracture(site: Site | None = Site.LOWER_LIMB, *, neoplastic: bool = True,
             splint: str | None = None) -> Fracture:
    """A recorded pathological fracture."""
    return Fracture(source="Condition/fx-1", site=site, date=D(2026, 11, 18),
                    in_neoplastic_disease=neoplastic, splint=splint)


def fixation(site: Site | None = Site.LOWER_LIMB, **fields: Any) -> Any:
    """A draft internal fixation order."""
    return order("ServiceRequest", "ortho-1", kind=OrderKind.INTERNAL_FIXATION, site=site,
                 label="Intramedullary nailing, femoral shaft", **fields)


@pytest.mark.parametrize("frac", [fracture(), fracture(None), fracture(neoplastic=False)])
def test_fracture_pv_warning(frac: Fracture) -> None:
    """fracture-no-internal-fixation PV: a fracture at the primary's site (neoplastic or not),
    or a neoplastic one with no site and a sole primary (revised)."""
    recs = run(ascmn.fracture_no_internal_fixation, case(limb(), fractures=(frac,)))
    assert [(r.id, r.indicator, r.subject, r.suggestions) for r in recs] == [
        ("fracture-no-internal-fixation", Indicator.WARNING, "cond-1", ())]
    assert "Condition/fx-1" in checked(recs[0])["detail"]


@pytest.mark.parametrize("subject", [
    case(limb(), fractures=(fracture(Site.UPPER_LIMB, neoplastic=False),)),
    case(limb(), fractures=(fracture(Site.UPPER_LIMB),)),  # revised: not at the primary's site
    case(fractures=(fracture(),)),
    case(limb(clinical_status=ClinicalStatus.REMISSION), fractures=(fracture(),)),
    case(limb()),
])
def test_fracture_pv_silent(subject: Case) -> None:
    """fracture-no-internal-fixation PV: a fracture elsewhere than the primary (revised), no
    tumour, history only (reading: "has a tumour" means an active one), or no fracture."""
    assert run(ascmn.fracture_no_internal_fixation, subject) == []


@pytest.mark.parametrize("hook", [Hook.ORDER_SELECT, Hook.ORDER_SIGN])
def test_fracture_order_critical_with_splint(hook: Hook) -> None:
    """fracture-no-internal-fixation OS/OSN: critical; recommended delete + external splint."""
    subject = case(limb(), fractures=(fracture(splint="long-leg"),), draft_orders=(fixation(),))
    recs = run(ascmn.fracture_no_internal_fixation, subject, hook)
    assert [(r.indicator, r.subject, r.variant, r.against_order) for r in recs] == [
        (Indicator.CRITICAL, "ServiceRequest/ortho-1", "order", True)]
    spec = recs[0].suggestions[0]
    assert spec.recommended and spec.deletes == ("ServiceRequest/ortho-1",)
    assert [o.kind for o in spec.creates] == ["splint"]
    card = checked(recs[0])
    assert card["suggestions"][0]["isRecommended"] is True
    assert deleted(card) == ["ServiceRequest/ortho-1"]
    assert created(card)[0]["code"]["coding"][0]["code"] == "29505"
    assert {c["code"] for c in card["overrideReasons"]} == {
        "fixation-mdt-approved", "already-splinted", "not-applicable"}


@pytest.mark.parametrize("subject", [
    case(limb(), draft_orders=(fixation(),)),  # prophylactic: no recorded fracture
    case(limb(), fractures=(fracture(),), draft_orders=(
        order("ServiceRequest", kind=OrderKind.EXTERNAL_FIXATION, site=Site.LOWER_LIMB),)),
    case(limb(), fractures=(fracture(),), draft_orders=(fixation(selected=False),)),
    case(limb(), fractures=(fracture(),), draft_orders=(fixation(Site.UPPER_LIMB),)),
    case(limb(), fractures=(fracture(),),
         draft_orders=(fixation(reason_refs=("Condition/hip-fracture",)),)),
])
def test_fracture_order_silent(subject: Case) -> None:
    """fracture-no-internal-fixation OS: prophylactic fixation, external fixation, unselected,
    fixation of another region or for another condition (readings)."""
    assert run(ascmn.fracture_no_internal_fixation, subject, Hook.ORDER_SELECT) == []


def test_fracture_order_for_named_fracture_without_id() -> None:
    """fracture-no-internal-fixation: a draft naming the fracture, without id: no delete."""
    draft = order("ServiceRequest", None, kind=OrderKind.INTERNAL_FIXATION, label="ORIF femur",
                  reason_refs=("Condition/fx-1",))
    recs = run(ascmn.fracture_no_internal_fixation,
               case(longest(), fractures=(fracture(None),), draft_orders=(draft,)),
               Hook.ORDER_SIGN)
    assert recs[0].subject == "ORIF femur" and recs[0].suggestions[0].deletes == ()
    assert deleted(checked(recs[0])) == []


def test_fracture_pv_render_longest() -> None:
    """fracture-no-internal-fixation PV: summary under 140."""
    checked(run(ascmn.fracture_no_internal_fixation,
                case(longest(), fractures=(fracture(None),)))[0])


# --- ascmn-no-systemic-therapy ----------------------------------------------------------------

def chemo(drug_class: DrugClass | None = DrugClass.ANTHRACYCLINE, **fields: Any) -> Any:
    """A draft chemotherapy MedicationRequest."""
    return order(kind=OrderKind.DRUG, drug_class=drug_class, label="doxorubicin 75 mg/m2",
                 **fields)


def test_no_systemic_therapy_warns() -> None:
    """ascmn-no-systemic-therapy: cytotoxic draft for a non-advanced ascmn: warning, overrides."""
    recs = run(ascmn.ascmn_no_systemic_therapy,
               case(longest(Entity.ASCMN), draft_orders=(chemo(),)), Hook.ORDER_SIGN)
    assert [(r.id, r.indicator, r.subject, r.against_order) for r in recs] == [
        ("ascmn-no-systemic-therapy", Indicator.WARNING, "MedicationRequest/draft-1", True)]
    card = checked(recs[0])
    assert {c["code"] for c in card["overrideReasons"]} == {
        "advanced-disease", "mdt-decision", "not-applicable"}


def test_no_systemic_therapy_named_ascmn_beside_other_tumour() -> None:
    """ascmn-no-systemic-therapy: a draft naming the ascmn fires despite another tumour."""
    subject = case(limb(Entity.ASCMN), limb(tumour_id="cond-2"),
                   draft_orders=(chemo(DrugClass.ALKYLATING, reason_refs=("Condition/cond-1",)),))
    assert [r.subject for r in run(ascmn.ascmn_no_systemic_therapy, subject, Hook.ORDER_SIGN)] \
        == ["MedicationRequest/draft-1"]


@pytest.mark.parametrize("subject", [
    case(limb(Entity.ASCMN, unresectable=fact(True)), draft_orders=(chemo(),)),
    case(limb(Entity.ASCMN), limb(tumour_id="cond-2"), draft_orders=(chemo(),)),
    case(limb(Entity.ASCMN), draft_orders=(chemo(None),)),
    case(limb(Entity.ASCMN), draft_orders=(chemo(reason_refs=("Condition/breast-ca",)),)),
    case(limb(), draft_orders=(chemo(),)),
])
def test_no_systemic_therapy_silent(subject: Case) -> None:
    """ascmn-no-systemic-therapy: advanced, unnamed with another tumour (reading), unknown
    class, for another condition, or not ascmn."""
    assert run(ascmn.ascmn_no_systemic_therapy, subject, Hook.ORDER_SIGN) == []


@pytest.mark.parametrize(("drug_class", "words"), [
    (DrugClass.ANTHRACYCLINE, "cytotoxic chemotherapy"),
    (DrugClass.CYTOTOXIC, "cytotoxic chemotherapy"),
    (DrugClass.TARGETED, "a targeted agent"),
    (DrugClass.TRK_INHIBITOR, "a targeted agent"),
    (DrugClass.MTOR_INHIBITOR, "an mTOR inhibitor"),
])
def test_no_systemic_therapy_for_every_systemic_class(drug_class: DrugClass, words: str) -> None:
    """ascmn-no-systemic-therapy: any systemic anticancer drug (cytotoxic, targeted, mTOR
    inhibitor: catalogue "Drug classes (revised)"), the detail naming which."""
    recs = run(ascmn.ascmn_no_systemic_therapy,
               case(limb(Entity.ASCMN), draft_orders=(chemo(drug_class),)), Hook.ORDER_SIGN)
    assert [r.id for r in recs] == ["ascmn-no-systemic-therapy"]
    assert f"is {words}," in checked(recs[0])["detail"]


# --- shared helpers ---------------------------------------------------------------------------

def test_every_summary_under_140_for_the_longest_label() -> None:
    """All ASCMN cards: rendered summaries stay under 140 characters for the longest label."""
    longest_ascmn = longest(Entity.ASCMN)
    assert len(tumour_values(longest())["tumour"]) == 68
    staging = [("sts-mri-local-staging", v) for v in
               ("diagnosis", "reexcision", "recurrence", "order-diagnosis", "order-reexcision",
                "order-recurrence")]
    for rec_id, variant in [*staging,
                            ("fracture-no-internal-fixation", "order"),
                            ("fracture-no-internal-fixation", "order-metastatic"),
                            ("fracture-no-internal-fixation", "metastatic"),
                            ("ascmn-no-systemic-therapy", "default"),
                            ("ascmn-acral-function", "default"),
                            ("ascmn-mohs-cutaneous", "default"),
                            ("sts-wide-excision", "ascmn")]:
        values = tumour_values(longest_ascmn if "ascmn" in rec_id else longest(),
                               order="x" * 200, site="foot", since="2026-01-01",
                               therapy="cytotoxic chemotherapy")
        checked(Recommendation(id=rec_id, indicator=Indicator.INFO, subject="s",
                               variant=variant, values=values))
