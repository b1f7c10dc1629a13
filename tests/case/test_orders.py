"""Draft orders of the order hooks: what each one is, and which ones the clinician selected."""

from __future__ import annotations

from typing import Any

import pytest

from cds_service.case.model import AssayMethod
from cds_service.case.model import DraftOrder
from cds_service.case.model import DrugClass
from cds_service.case.model import IhcMarker
from cds_service.case.model import ImagingKind
from cds_service.case.model import OrderKind
from cds_service.case.model import Site
from cds_service.case.orders import map_draft_order
from cds_service.terminology import Terminology
from tests.case.common import CPT
from tests.case.common import RXNORM
from tests.case.common import SNOMED
from tests.case.common import CaseBuilder
from tests.case.common import bundle
from tests.case.common import cc
from tests.case.common import draft
from tests.case.common import draft_bundle
from tests.case.common import draft_orders
from tests.case.common import ref


def _orders(case_of: CaseBuilder, scenario: str, request: str,
            selections: list[str] | None = None) -> dict[str | None, DraftOrder]:
    case = case_of(scenario, draft_orders=draft_orders(scenario, request), selections=selections)
    return {order.id: order for order in case.draft_orders}


def _one(terminology: Terminology, order: dict[str, Any]) -> DraftOrder:
    return map_draft_order(order, None, terminology)


# --- drugs -------------------------------------------------------------------------------------

def test_a_drug_order_keeps_its_drug_class_label_and_reason(case_of: CaseBuilder) -> None:
    """recommendations.md pecoma-chemo-before-mtor: a draft order for an anthracycline, linked
    to the tumour it is for."""
    dox = _orders(case_of, "pecoma-lung-metastases-doxorubicin", "order-sign.json")["p5-draft-dox"]
    assert (dox.kind, dox.drug, dox.drug_class) == (
        OrderKind.DRUG, "drug/doxorubicin", DrugClass.ANTHRACYCLINE)
    assert dox.label == "Doxorubicin 75 mg/m2 IV"
    assert dox.reason_refs == ("Condition/p5-cond-1",)
    assert dox.reference == "MedicationRequest/p5-draft-dox"


def test_drug_classes_of_a_regimen(case_of: CaseBuilder) -> None:
    """recommendations.md pecoma-uterine-regimen: epirubicin (anthracycline) plus ifosfamide
    (alkylating); mesna is a drug of no class the rules read."""
    orders = _orders(case_of, "pecoma-uterine-advanced", "order-sign.json")
    assert {i: (o.kind, o.drug, o.drug_class) for i, o in orders.items()} == {
        "p6-draft-epi": (OrderKind.DRUG, "drug/epirubicin", DrugClass.ANTHRACYCLINE),
        "p6-draft-ifo": (OrderKind.DRUG, "drug/ifosfamide", DrugClass.ALKYLATING),
        "p6-draft-mesna": (OrderKind.DRUG, None, None),
    }


@pytest.mark.parametrize(("code", "drug", "drug_class"), [
    (cc((RXNORM, "141704", "everolimus")), "drug/everolimus", DrugClass.MTOR_INHIBITOR),
    (cc((RXNORM, "2586868")), "drug/nab-sirolimus", DrugClass.MTOR_INHIBITOR),
    (cc(text="Larotrectinib 100 mg twice daily"), "drug/larotrectinib", DrugClass.TRK_INHIBITOR),
    (cc(text="Trabectedin 1.5 mg/m2 24-h infusion"), "drug/trabectedin", DrugClass.CYTOTOXIC),
])
def test_drug_orders_by_code_or_text(terminology: Terminology, code: dict[str, Any], drug: str,
                                     drug_class: DrugClass) -> None:
    """The issue: "draft order classification: drug class" (RxNorm products rolled up, TRK
    inhibitors from text)."""
    order = _one(terminology, draft("MedicationRequest", "d-1", code))
    assert (order.kind, order.drug, order.drug_class) == (OrderKind.DRUG, drug, drug_class)


def test_chemotherapy_ordered_as_a_service_request_is_a_drug_order(
        terminology: Terminology) -> None:
    """The orders mapper: chemotherapy ordered as a ServiceRequest ("Chemotherapy cycle")."""
    order = _one(terminology, draft("ServiceRequest", "d-1", cc(
        text="Chemotherapy cycle 1: doxorubicin and ifosfamide")))
    assert (order.kind, order.drug_class) == (OrderKind.DRUG, DrugClass.ANTHRACYCLINE)


def test_a_radiotherapy_order_and_its_site(case_of: CaseBuilder) -> None:
    """recommendations.md ilms-rt-chemo-reserved: "a draft radiotherapy ... order" (CPT 77385
    IMRT delivery to the right upper arm)."""
    order = _orders(case_of, "ilms-no-rms-chemo-order", "order-sign.json")["ilms2-draft-rt"]
    assert (order.kind, order.site) == (OrderKind.RADIOTHERAPY, Site.UPPER_LIMB)


# --- imaging -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("scenario", "request_file", "order_id", "imaging", "site"), [
    ("sts-ct-ordered-no-mri", "order-sign.json", "ct15-draft-ct-thigh", ImagingKind.CT,
     Site.LOWER_LIMB),
    ("sts-ct-ordered-no-mri", "order-sign-ultrasound.json", "ct15-draft-us-thigh",
     ImagingKind.ULTRASOUND, Site.LOWER_LIMB),
    ("sts-ct-ordered-no-mri", "order-sign-chest-ct.json", "ct15-draft-ct-chest",
     ImagingKind.CT_CHEST, Site.CHEST),
    ("pecoma-localized-low-risk", "order-sign.json", "p8-draft-cxr", ImagingKind.XRAY_CHEST,
     Site.CHEST),
    ("pecoma-broad-ligament-resected", "order-sign.json", "p12-draft-cxr",
     ImagingKind.XRAY_CHEST, Site.CHEST),
    ("spindle-cell-lipoma-only", "order-sign.json", "l3-draft-us-neck", ImagingKind.ULTRASOUND,
     Site.HEAD_NECK),
])
def test_imaging_orders_by_kind_and_site(case_of: CaseBuilder, scenario: str,
                                         request_file: str, order_id: str,
                                         imaging: ImagingKind, site: Site) -> None:
    """The issue: "imaging kind and site" (sts-mri-local-staging replaces a CT or ultrasound of
    the primary site; pecoma-chest-ct-not-xray replaces a chest X-ray, coded or in words)."""
    order = _orders(case_of, scenario, request_file)[order_id]
    assert (order.kind, order.imaging, order.site) == (OrderKind.IMAGING, imaging, site)


def test_an_mri_order_of_the_upper_limb(terminology: Terminology) -> None:
    """terminology.md §2f: CPT 73218 MRI upper extremity, site from the body site."""
    order = _one(terminology, draft("ServiceRequest", "d-1", cc((CPT, "73218")),
                                    bodySite=[cc(text="Left forearm")]))
    assert (order.kind, order.imaging, order.site) == (
        OrderKind.IMAGING, ImagingKind.MRI, Site.UPPER_LIMB)


# --- fixation ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("scenario", "request_file", "order_id"), [
    ("pathological-fracture-femur", "order-select.json", "frx9-draft-orif"),
    ("pathological-fracture-femur", "order-sign.json", "frx9-draft-imn"),
    ("prophylactic-fixation-no-fracture", "order-sign.json", "pfx10-draft-prophylactic"),
])
def test_internal_fixation_orders(case_of: CaseBuilder, scenario: str, request_file: str,
                                  order_id: str) -> None:
    """recommendations.md fracture-no-internal-fixation: "a draft order for internal fixation /
    intramedullary nailing / plating / ORIF"."""
    order = _orders(case_of, scenario, request_file)[order_id]
    assert order.kind is OrderKind.INTERNAL_FIXATION
    assert order.site is Site.LOWER_LIMB


@pytest.mark.parametrize("code", [
    cc((CPT, "27235", "Percutaneous skeletal fixation of femoral fracture, proximal end, neck")),
    cc((CPT, "27235")),
    cc((CPT, "27506")),
    cc((CPT, "27507"), text="ORIF femoral shaft fracture"),
    cc(text="Cannulated screw fixation of femoral neck fracture"),
    cc(text="Dynamic hip screw, fracture of neck of femur"),
])
def test_femur_fracture_fixation_is_internal_fixation_of_the_lower_limb(
        terminology: Terminology, code: dict[str, Any]) -> None:
    """recommendations.md fracture-no-internal-fixation; the "neck" of the femur is no head
    and neck site (CPT 27235's descriptor ends "proximal end, neck"), so the splint suggested
    instead is a lower-limb one."""
    order = _one(terminology, draft("ServiceRequest", "d-1", code))
    assert (order.kind, order.site) == (OrderKind.INTERNAL_FIXATION, Site.LOWER_LIMB)


def test_fixation_of_the_surgical_neck_of_the_humerus_is_upper_limb(
        terminology: Terminology) -> None:
    """As above, for "surgical neck of humerus"."""
    order = _one(terminology, draft("ServiceRequest", "d-1", cc(
        text="ORIF surgical neck of humerus fracture")))
    assert (order.kind, order.site) == (OrderKind.INTERNAL_FIXATION, Site.UPPER_LIMB)


@pytest.mark.parametrize("code", [
    cc((CPT, "29505"), text="Long leg splint"),
    cc((CPT, "20690")),
    cc(text="Above-knee plaster cast immobilisation"),
])
def test_splints_casts_and_external_fixators_are_not_internal_fixation(
        terminology: Terminology, code: dict[str, Any]) -> None:
    """The issue: "internal fixation vs splint"; recommendations.md: use external splintage."""
    order = _one(terminology, draft("ServiceRequest", "d-1", code))
    assert order.kind is OrderKind.EXTERNAL_FIXATION


def test_an_x_ray_of_the_femur_is_not_a_fixation(case_of: CaseBuilder) -> None:
    """Only the fixation order of the pair is one (the X-ray of the limb is neither chest
    imaging nor surgery)."""
    order = _orders(case_of, "pathological-fracture-femur", "order-sign.json")["frx9-draft-xr"]
    assert order.kind not in (OrderKind.INTERNAL_FIXATION, OrderKind.EXTERNAL_FIXATION)
    assert order.imaging is not ImagingKind.XRAY_CHEST


# --- tests -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "kind", "assay", "marker"), [
    ("Pan-TRK immunohistochemistry", OrderKind.IHC_TEST, AssayMethod.IHC, IhcMarker.PAN_TRK),
    ("Desmin immunostain", OrderKind.IHC_TEST, None, IhcMarker.DESMIN),
    ("DNA-based NGS panel (solid tumour)", OrderKind.MOLECULAR_TEST, AssayMethod.DNA_PANEL, None),
    ("RNA-based NGS fusion panel including NTRK1, NTRK2, NTRK3", OrderKind.MOLECULAR_TEST,
     AssayMethod.RNA_NGS, None),
    ("MDM2 amplification by FISH", OrderKind.MOLECULAR_TEST, AssayMethod.FISH, None),
])
def test_pathology_test_orders(terminology: Terminology, text: str, kind: OrderKind,
                               assay: AssayMethod | None, marker: IhcMarker | None) -> None:
    """The issue: "pan-TRK IHC / DNA panel / RNA fusion test orders" (recommendations.md
    ntrk-rna-ngs on order-sign)."""
    order = _one(terminology, draft("ServiceRequest", "d-1", cc(text=text)))
    assert (order.kind, order.assay, order.marker) == (kind, assay, marker)


@pytest.mark.parametrize(("text", "assay"), [
    ("Hybrid capture NGS panel", AssayMethod.DNA_PANEL),
    ("Hybrid-capture comprehensive panel (solid tumour)", AssayMethod.DNA_PANEL),
    ("Targeted DNA NGS panel", AssayMethod.DNA_PANEL),
    ("Comprehensive genomic profiling (DNA)", AssayMethod.DNA_PANEL),
    ("NGS panel (hybrid capture)", AssayMethod.DNA_PANEL),
    ("RNA hybrid-capture fusion panel", AssayMethod.RNA_NGS),
    ("Hybrid capture RNA sequencing", AssayMethod.RNA_NGS),
    ("Comprehensive genomic profiling (RNA)", AssayMethod.RNA_NGS),
    ("DNA and RNA hybrid-capture panel", AssayMethod.RNA_NGS),
    ("Comprehensive genomic profiling", AssayMethod.UNKNOWN),
])
def test_dna_panels_by_their_usual_names_and_rna_panels_stay_rna(
        terminology: Terminology, text: str, assay: AssayMethod) -> None:
    """recommendations.md ntrk-rna-ngs (OSN): a draft "DNA-panel order" can miss fusions, an
    RNA-based assay is what it asks for; a panel that sequences RNA counts as RNA."""
    order = _one(terminology, draft("ServiceRequest", "d-1", cc(text=text)))
    assert (order.kind, order.assay) == (OrderKind.MOLECULAR_TEST, assay)


def test_the_scenario_dna_hybrid_capture_panel_is_a_dna_panel(case_of: CaseBuilder) -> None:
    """recommendations.md ntrk-rna-ngs (OSN): "a draft ... DNA-panel order"; the
    ntrk-fusion-metastatic order-sign drafts "DNA hybrid-capture NGS panel"."""
    order = _orders(case_of, "ntrk-fusion-metastatic", "order-sign.json")["n14-draft-dna-panel"]
    assert (order.kind, order.assay) == (OrderKind.MOLECULAR_TEST, AssayMethod.DNA_PANEL)


# --- selections, ids, labels ------------------------------------------------------------------

def test_on_order_select_only_the_selected_orders_are_selected(case_of: CaseBuilder) -> None:
    """recommendations.md: "for order-select, the selected ones"."""
    orders = _orders(case_of, "ilms-no-rms-chemo-order", "order-select.json",
                     selections=["MedicationRequest/ilms2-draft-doxo"])
    assert {i: o.selected for i, o in orders.items()} == {
        "ilms2-draft-doxo": True, "ilms2-draft-cbc": False}
    assert orders["ilms2-draft-cbc"].kind is OrderKind.OTHER
    assert orders["ilms2-draft-cbc"].label == "Complete blood count with differential"


def test_on_order_sign_every_draft_counts(case_of: CaseBuilder) -> None:
    """The orders mapper: "selections is None on order-sign (every order counts)"."""
    orders = _orders(case_of, "ilms-no-rms-chemo-order", "order-select.json")
    assert all(o.selected for o in orders.values()) and len(orders) == 2


def test_a_selection_names_type_and_id(case_of: CaseBuilder) -> None:
    """CDS Hooks order-select: selections are ``Type/id``; an id under another type is not a
    selection of this order."""
    orders = _orders(case_of, "ilms-no-rms-chemo-order", "order-select.json",
                     selections=["ServiceRequest/ilms2-draft-doxo"])
    assert orders["ilms2-draft-doxo"].selected is False


@pytest.mark.parametrize(("selections", "selected"), [(None, True), (["MedicationRequest/x"],
                                                                     False)])
def test_a_draft_without_an_id(case_of: CaseBuilder, selections: list[str] | None,
                               selected: bool) -> None:
    """recommendations.md: "A draft without an id gets the card without a delete action" (no
    reference to delete); it cannot be among order-select's selections."""
    orders = draft_bundle(draft("MedicationRequest", None, cc((RXNORM, "3639"),
                                                                   text="Doxorubicin")))
    (order,) = case_of(bundle("pecoma-uterine-advanced"), draft_orders=orders,
                       selections=selections).draft_orders
    assert (order.id, order.reference, order.selected) == (None, None, selected)
    assert order.drug_class is DrugClass.ANTHRACYCLINE


@pytest.mark.parametrize(("code", "label"), [
    (cc((SNOMED, "1217123003", "Radiotherapy course of treatment")),
     "Radiotherapy course of treatment"),
    (cc((CPT, "77385")), "77385"),
    (cc(), "ServiceRequest order"),
])
def test_the_label_falls_back_from_text_to_display_to_code(terminology: Terminology,
                                                           code: dict[str, Any],
                                                           label: str) -> None:
    """DraftOrder.label: "What the order says, for card text (its code text or display)"."""
    order = _one(terminology, draft("ServiceRequest", "d-1", code))
    assert order.label == label
    assert order.kind is (OrderKind.RADIOTHERAPY if code else OrderKind.OTHER)


def test_draft_orders_are_not_on_record(case_of: CaseBuilder) -> None:
    """recommendations.md: "an order drafted in the same request does not count as on
    record": a drafted mTOR inhibitor or chest CT is no medication or study of the case."""
    orders = draft_bundle(
        draft("MedicationRequest", "d-mtor", cc((RXNORM, "35302"))),
        draft("ServiceRequest", "d-ct", cc((CPT, "71250")), reasonReference=[
            ref("Condition/p6-cond-1")]))
    case = case_of(bundle("pecoma-uterine-advanced"), draft_orders=orders)
    assert case.medications == ()
    assert "ServiceRequest/d-ct" not in {s.source for s in case.imaging}
    assert [(o.id, o.kind) for o in case.draft_orders] == [
        ("d-mtor", OrderKind.DRUG), ("d-ct", OrderKind.IMAGING)]
    assert case.draft_orders[1].reason_refs == ("Condition/p6-cond-1",)


def test_entries_that_are_not_orders_are_ignored(case_of: CaseBuilder) -> None:
    """CDS Hooks draftOrders hold MedicationRequest/ServiceRequest resources (others are not
    orders the rules read)."""
    orders = draft_bundle({"resourceType": "Patient", "id": "p"},
                          draft("ServiceRequest", "d-1", cc((CPT, "71250"))))
    orders["entry"].append({"fullUrl": "urn:uuid:1"})
    assert [o.id for o in case_of([], draft_orders=orders).draft_orders] == ["d-1"]
