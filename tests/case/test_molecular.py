"""Gene-level results: NTRK fusions, MDM2 amplification, the assay, and the ntrk entity."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from cds_service.case.model import AssayMethod
from cds_service.case.model import Entity
from cds_service.case.model import MolecularResult
from cds_service.case.model import Tumour
from tests.case.common import HGNC
from tests.case.common import ICD10CM
from tests.case.common import ICDO3
from tests.case.common import LOINC
from tests.case.common import MORPHOLOGY_URL
from tests.case.common import CaseBuilder
from tests.case.common import bundle
from tests.case.common import cc
from tests.case.common import find
from tests.case.common import observation
from tests.case.common import ref
from tests.case.common import resource

SPINDLE = "spindle-nos-pan-trk-only"  # spindle cell neoplasm NOS, pan-TRK IHC positive only
PRESENT = cc((LOINC, "LA9633-4", "Present"))
ABSENT = cc((LOINC, "LA9634-2", "Absent"))


def _variant(condition: str, *, value: dict[str, Any], genes: tuple[str, ...] = ("HGNC:8033",),
             method: str = "RNA-based NGS fusion panel") -> dict[str, Any]:
    """An mCODE genomic variant (69548-6) about ``condition``, from the ntrk-on-larotrectinib
    fusion Observation, with its gene-studied components replaced."""
    variant = resource("ntrk-on-larotrectinib", "n15-obs-1")
    variant.update(id="gx-1", focus=[ref(f"Condition/{condition}")], valueCodeableConcept=value,
                   method=cc(text=method), effectiveDateTime="2026-10-30")
    gene_studied = cc((LOINC, "48018-6", "Gene studied [ID]"))
    variant["component"] = [{"code": gene_studied, "valueCodeableConcept": cc((HGNC, gene))}
                            for gene in genes]
    return variant


def _tumour(case_of: CaseBuilder, record: list[dict[str, Any]] | str) -> Tumour:
    (tumour,) = case_of(record).tumours
    return tumour


def test_an_ntrk_fusion_variant_is_read_with_gene_assay_source_and_date(
        case_of: CaseBuilder) -> None:
    """The issue: "genomic variant 69548-6 with gene-studied components"."""
    (fusion,) = _tumour(case_of, "ntrk-fusion-metastatic").molecular
    assert fusion == MolecularResult(
        gene="gene/ntrk1", finding="fusion", detected=True, method=AssayMethod.RNA_NGS,
        source="Observation/n14-obs-4", date=dt.date(2026, 8, 20), partner=None)


def test_the_fusion_partner_is_the_other_gene_studied(case_of: CaseBuilder) -> None:
    """mCODE fusion pattern: "two gene-studied components" (ETV6::NTRK3)."""
    (fusion,) = _tumour(case_of, "ntrk-on-larotrectinib").molecular
    assert (fusion.gene, fusion.partner, fusion.detected) == ("gene/ntrk3", "gene/etv6", True)


def test_an_absent_fusion_is_a_negative_result_not_a_missing_one(case_of: CaseBuilder) -> None:
    """The issue: "Unknown is not false"; LA9634-2 Absent is a tested negative."""
    record = bundle(SPINDLE) + [_variant("snt1-cond-spindle", value=ABSENT)]
    tumour = _tumour(case_of, record)
    (fusion,) = tumour.molecular
    assert (fusion.gene, fusion.detected, fusion.method) == (
        "gene/ntrk3", False, AssayMethod.RNA_NGS)
    assert tumour.entity.value is Entity.SPINDLE_NOS


def test_genes_are_matched_by_hgnc_code_never_by_display(case_of: CaseBuilder) -> None:
    """terminology.md §1: "match HGNC by code, never by display" (HGNC:8032 shown as NTRK1)."""
    variant = _variant("snt1-cond-spindle", value=PRESENT, genes=("8032",))
    variant["component"][0]["valueCodeableConcept"]["coding"][0]["display"] = "NTRK1"
    (fusion,) = _tumour(case_of, bundle(SPINDLE) + [variant]).molecular
    assert fusion.gene == "gene/ntrk2"


@pytest.mark.parametrize(("method", "expected"), [
    ("RNA-based NGS fusion panel", AssayMethod.RNA_NGS),
    ("DNA-based NGS panel", AssayMethod.DNA_PANEL),
    ("NTRK3 break-apart FISH", AssayMethod.FISH),
    ("Send-out test", AssayMethod.UNKNOWN),
])
def test_the_assay_is_read_from_the_method(case_of: CaseBuilder, method: str,
                                           expected: AssayMethod) -> None:
    """recommendations.md ntrk-rna-ngs: pan-TRK IHC or a DNA panel "can miss fusions", so the
    assay that gave a result is kept."""
    record = bundle(SPINDLE) + [_variant("snt1-cond-spindle", value=ABSENT, method=method)]
    (fusion,) = _tumour(case_of, record).molecular
    assert fusion.method is expected


def test_a_present_ntrk_fusion_makes_a_spindle_cell_neoplasm_an_ntrk_tumour(
        case_of: CaseBuilder) -> None:
    """The issue: "An NTRK1/2/3 fusion reported present makes a spindle cell tumour an ntrk
    tumour"; the entity then cites the fusion result too."""
    record = bundle(SPINDLE) + [_variant("snt1-cond-spindle", value=PRESENT)]
    entity = _tumour(case_of, record).entity
    assert entity.value is Entity.NTRK
    assert entity.sources == ("Condition/snt1-cond-spindle", "Observation/gx-1")
    assert entity.date == dt.date(2026, 10, 6)  # the diagnosis, not the test


def test_pan_trk_ihc_alone_does_not_make_an_ntrk_tumour(case_of: CaseBuilder) -> None:
    """recommendations.md ntrk-rna-ngs: a tumour "tested only by pan-TRK IHC" still needs RNA
    testing; a positive pan-TRK stain is not a fusion."""
    tumour = _tumour(case_of, SPINDLE)
    assert tumour.entity.value is Entity.SPINDLE_NOS
    assert tumour.molecular == ()
    # The stain is on record twice: its Observation, and the diagnosis's own note ("Pan-TRK
    # positive"), which counts like the result recorded alone (recommendations.md, "The patient
    # as a whole (revised)").
    assert {(r.marker, r.positive, r.source) for r in tumour.ihc if r.marker == "pan-trk"} == {
        ("pan-trk", True, "Observation/snt1-obs-pantrk"),
        ("pan-trk", True, "Condition/snt1-cond-spindle")}


def test_a_fusion_in_a_spindle_cell_sarcoma_makes_an_ntrk_tumour(case_of: CaseBuilder) -> None:
    """The issue: a spindle cell tumour with an NTRK fusion is ntrk; ICD-O 8801/3 (spindle cell
    sarcoma, the fallback terminology.md names for NTRK-rearranged neoplasms) is one."""
    record = bundle(SPINDLE) + [_variant("snt1-cond-spindle", value=PRESENT)]
    condition = find(record, "snt1-cond-spindle")
    condition["code"] = cc((ICD10CM, "C49.12"))
    condition["extension"] = [{"url": MORPHOLOGY_URL,
                               "valueCodeableConcept": cc((ICDO3, "8801/3"))}]
    entity = _tumour(case_of, record).entity
    assert entity.value is Entity.NTRK
    assert entity.from_text is False


@pytest.mark.parametrize(("code", "morphology", "entity"), [
    ("C49.12", "8890/3", Entity.STS),  # leiomyosarcoma: not a spindle cell neoplasm NOS
    ("C49.12", "8714/3", Entity.PECOMA),
])
def test_a_fusion_does_not_change_a_named_non_spindle_entity(
        case_of: CaseBuilder, code: str, morphology: str, entity: Entity) -> None:
    """The issue: the fusion makes a *spindle cell* tumour ntrk, not every tumour."""
    record = bundle(SPINDLE) + [_variant("snt1-cond-spindle", value=PRESENT)]
    condition = find(record, "snt1-cond-spindle")
    condition["code"] = cc((ICD10CM, code))
    condition["extension"] = [{"url": MORPHOLOGY_URL,
                               "valueCodeableConcept": cc((ICDO3, morphology))}]
    tumour = _tumour(case_of, record)
    assert tumour.entity.value is entity
    assert [m.detected for m in tumour.molecular] == [True]


def test_an_ntrk_fusion_reported_in_words_is_read(case_of: CaseBuilder) -> None:
    """terminology.md: NTRK fusion tests have no verified LOINC; the issue: such concepts are
    recognised from code.text and string values. The gene named in the result is kept."""
    report = observation("o-fusion", cc(text="NTRK fusion"), focus=[ref(
        "Condition/snt1-cond-spindle")], effectiveDateTime="2026-11-02",
                         valueString="ETV6::NTRK3 fusion detected by RNA-based NGS")
    tumour = _tumour(case_of, bundle(SPINDLE) + [report])
    assert [(m.gene, m.detected, m.method, m.source) for m in tumour.molecular] == [
        ("gene/ntrk3", True, AssayMethod.RNA_NGS, "Observation/o-fusion")]
    assert tumour.entity.value is Entity.NTRK


def test_no_ntrk_fusion_in_words_is_negative_for_all_three_genes(case_of: CaseBuilder) -> None:
    """The issue: negations respected; an RNA result negative for NTRK fusion covers
    NTRK1/2/3."""
    report = observation("o-fusion", cc(text="NTRK fusion"), focus=[ref(
        "Condition/snt1-cond-spindle")], valueString="No NTRK fusion detected (RNA NGS)")
    tumour = _tumour(case_of, bundle(SPINDLE) + [report])
    assert {(m.gene, m.detected, m.method) for m in tumour.molecular} == {
        ("gene/ntrk1", False, AssayMethod.RNA_NGS), ("gene/ntrk2", False, AssayMethod.RNA_NGS),
        ("gene/ntrk3", False, AssayMethod.RNA_NGS)}
    assert tumour.entity.value is Entity.SPINDLE_NOS


@pytest.mark.parametrize(("scenario", "detected", "source"), [
    ("ascmn-cutaneous-mdm2-amplified", True, "Observation/a2-obs-5"),
    ("ascmn-resected-mri-overdue", False, "Observation/a4-obs-6"),
])
def test_mdm2_fish_amplified_or_not(case_of: CaseBuilder, scenario: str, detected: bool,
                                    source: str) -> None:
    """terminology.md §2b: MDM2 FISH 93808-4 valued "Amplified" / "Not amplified";
    recommendations.md ascmn-mdm2-testing tells untested from amplified from not amplified."""
    (result,) = _tumour(case_of, scenario).molecular
    assert (result.gene, result.finding, result.detected, result.method, result.source) == (
        "gene/mdm2", "amplification", detected, AssayMethod.FISH, source)


def test_an_mdm2_fish_without_a_result_is_untested_not_negative(case_of: CaseBuilder) -> None:
    """The issue: "Unknown is not false"."""
    record = bundle("ascmn-resected-mri-overdue")
    fish = find(record, "a4-obs-6")
    del fish["valueCodeableConcept"]
    fish["dataAbsentReason"] = cc(text="Pending")
    assert [(m.gene, m.detected) for m in _tumour(case_of, record).molecular] == [
        ("gene/mdm2", None)]
