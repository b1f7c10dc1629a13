"""Observation mapping: size, grade, margins, depth, risk features, staging, IHC, narrative."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from cds_service.case.model import Depth
from cds_service.case.model import Entity
from cds_service.case.model import IhcMarker
from cds_service.case.model import Margin
from cds_service.case.model import Tumour
from cds_service.case.observations import map_observation
from cds_service.terminology import Terminology
from tests.case.common import ICDO3
from tests.case.common import LOINC
from tests.case.common import MCODE_RELATED_URL
from tests.case.common import NCIT
from tests.case.common import SNOMED
from tests.case.common import CaseBuilder
from tests.case.common import bundle
from tests.case.common import cc
from tests.case.common import find
from tests.case.common import quantity
from tests.case.common import ref
from tests.case.common import resource

LMS = "sts-thigh-high-grade-r1"
PECOMA = "pecoma-broad-ligament-resected"
GRADE_LOINC = cc((LOINC, "33732-9", "Histology grade [Identifier] in Cancer specimen"))
GRADE_NCIT = cc((NCIT, "C18000", "Histologic Grade"))


def _tumour(case_of: CaseBuilder, record: list[dict[str, Any]] | str) -> Tumour:
    (tumour,) = case_of(record).tumours
    return tumour


# --- tumour size -------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "unit"), [(85, "mm"), (8.5, "cm")])
def test_the_size_panel_is_read_in_mm_and_in_cm(case_of: CaseBuilder, value: float,
                                                unit: str) -> None:
    """The issue: "tumour size panel 21889-1 with the 33728-7 component ... in mm or cm
    (UCUM)"; the fact keeps its source and date."""
    record = bundle(LMS)
    find(record, "lms3-obs-2")["component"][0]["valueQuantity"] = quantity(value, unit)
    size = _tumour(case_of, record).size_cm
    assert size is not None
    assert size.value == 8.5
    assert size.sources == ("Observation/lms3-obs-2",)
    assert size.date == dt.date(2026, 8, 14)
    assert size.from_text is False


def test_the_greatest_dimension_alone_is_a_size(case_of: CaseBuilder) -> None:
    """The issue: "... or 33728-7 alone"."""
    size = _tumour(case_of, "pecoma-uterine-advanced").size_cm
    assert size is not None
    assert (size.value, size.sources) == (9.4, ("Observation/p6-obs-5",))


def test_other_dimensions_are_not_the_size(case_of: CaseBuilder) -> None:
    """mCODE tumour size: the longest dimension is 33728-7; 33729-5 is another dimension."""
    record = bundle("pecoma-localized-low-risk")
    find(record, "p8-obs-1")["component"][1]["valueQuantity"] = quantity(90, "mm")
    size = _tumour(case_of, record).size_cm
    assert size is not None and size.value == 3.2


@pytest.mark.parametrize("quantity_value", [
    {"value": 85, "unit": "mm[Hg]", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"},
    {"value": 85},
    {"unit": "mm", "code": "mm"},
])
def test_a_size_without_a_length_unit_is_unknown(case_of: CaseBuilder,
                                                 quantity_value: dict[str, Any]) -> None:
    """The issue: "Unknown is not false": a size with no length unit (or no value) is not read
    as some number of centimetres."""
    record = bundle(LMS)
    find(record, "lms3-obs-2")["component"][0]["valueQuantity"] = quantity_value
    assert _tumour(case_of, record).size_cm is None


def test_the_largest_recorded_size_is_kept_with_its_own_source(case_of: CaseBuilder) -> None:
    """Every fact keeps its provenance: of an MRI size and a larger pathology size, the larger
    one is reported with its own Observation and date."""
    record = bundle(LMS)
    mri = find(bundle(LMS), "lms3-obs-2")
    mri.update(id="lms3-obs-mri-size", effectiveDateTime="2026-07-06")
    mri["component"][0]["valueQuantity"] = quantity(9.1, "cm")
    record.append(mri)
    size = _tumour(case_of, record).size_cm
    assert size is not None
    assert (size.value, size.sources, size.date) == (
        9.1, ("Observation/lms3-obs-mri-size",), dt.date(2026, 7, 6))


# --- grade -------------------------------------------------------------------------------------

@pytest.mark.parametrize("code", [GRADE_LOINC, GRADE_NCIT], ids=["loinc-33732-9", "ncit-C18000"])
def test_the_grade_is_read_by_loinc_or_ncit_code(case_of: CaseBuilder,
                                                 code: dict[str, Any]) -> None:
    """The issue: "grade by LOINC 33732-9 or NCIt C18000"."""
    record = bundle(LMS)
    find(record, "lms3-obs-1")["code"] = code
    grade = _tumour(case_of, record).grade
    assert grade is not None
    assert (grade.value, grade.sources, grade.date, grade.from_text) == (
        3, ("Observation/lms3-obs-1",), dt.date(2026, 8, 14), False)


@pytest.mark.parametrize(("value", "expected"), [
    (cc((SNOMED, "1155708003", "Low grade")), 1),
    (cc((SNOMED, "1286893008", "Intermediate grade")), 2),
    (cc((SNOMED, "1155707008", "High grade")), 3),
    (cc((NCIT, "C41340", "Grade 3")), 3),
    (cc(text="FNCLCC grade 2"), 2),
    (cc(text="Grade III"), 3),
])
def test_grade_values_coded_or_written(case_of: CaseBuilder, value: dict[str, Any],
                                       expected: int) -> None:
    """terminology.md §2b: mCODE grade values (SNOMED low/intermediate/high) and NCIt grade 1-3,
    or the grade written as text ("FNCLCC grade 3")."""
    record = bundle(LMS)
    find(record, "lms3-obs-1")["valueCodeableConcept"] = value
    grade = _tumour(case_of, record).grade
    assert grade is not None and grade.value == expected


def test_a_grade_that_cannot_be_assessed_is_unknown(case_of: CaseBuilder) -> None:
    """The issue: "Unknown is not false": grade X is no grade, not grade 1."""
    record = bundle(LMS)
    find(record, "lms3-obs-1")["valueCodeableConcept"] = cc(text="GX - grade cannot be assessed")
    assert _tumour(case_of, record).grade is None


def test_the_grade_as_an_integer(case_of: CaseBuilder) -> None:
    """A grade sent as valueInteger 2 is FNCLCC grade 2."""
    record = bundle(LMS)
    grade_obs = find(record, "lms3-obs-1")
    del grade_obs["valueCodeableConcept"]
    grade_obs["valueInteger"] = 2
    grade = _tumour(case_of, record).grade
    assert grade is not None and grade.value == 2


# --- margins -----------------------------------------------------------------------------------

def test_the_margin_belongs_to_the_resection_it_is_part_of(case_of: CaseBuilder) -> None:
    """The issue: "margins 84892-9" (NCIt C139579 = R1), linked to the resection by partOf."""
    (resection,) = _tumour(case_of, LMS).resections
    assert resection.source == "Procedure/lms3-proc-excision"
    assert resection.margin is not None
    assert resection.margin.value is Margin.R1
    assert resection.margin.sources == ("Observation/lms3-obs-margin",)
    assert resection.margin.date == dt.date(2026, 8, 14)


@pytest.mark.parametrize(("value", "expected"), [
    ({"valueString": "R0"}, Margin.R0),
    ({"valueString": "R0 (closest margin 8 mm, deep)"}, Margin.R0),
    ({"valueCodeableConcept": cc(text="R2 - gross residual tumour")}, Margin.R2),
    ({"valueCodeableConcept": cc((NCIT, "C139578"))}, Margin.R0),
])
def test_margin_values_coded_or_written(case_of: CaseBuilder, value: dict[str, Any],
                                        expected: Margin) -> None:
    """The issue: margins 84892-9 valued R0/R1/R2 by code (NCIt) or in words."""
    record = bundle(LMS)
    margin_obs = find(record, "lms3-obs-margin")
    del margin_obs["valueCodeableConcept"]
    margin_obs.update(value)
    (resection,) = _tumour(case_of, record).resections
    assert resection.margin is not None and resection.margin.value is expected


def test_a_margin_without_a_procedure_link_goes_to_the_only_resection(
        case_of: CaseBuilder) -> None:
    """The issue: with one tumour, facts attach to it; a margin naming no Procedure belongs to
    the tumour's only resection."""
    record = bundle(LMS)
    del find(record, "lms3-obs-margin")["partOf"]
    (resection,) = _tumour(case_of, record).resections
    assert resection.margin is not None and resection.margin.value is Margin.R1


# --- depth and PEComa risk features ---------------------------------------------------------

def test_depth_coded_by_ncit(case_of: CaseBuilder) -> None:
    """recommendations.md "deep" = deep to the superficial fascia (NCIt C25240)."""
    depth = _tumour(case_of, LMS).depth
    assert depth is not None
    assert (depth.value, depth.sources, depth.from_text) == (
        Depth.DEEP, ("Observation/lms3-obs-3",), False)


def test_depth_written_in_words_is_from_text(case_of: CaseBuilder) -> None:
    """The issue: depth (no LOINC) is recognised in code.text and string values, "and the fact
    records that it came from text"."""
    depth = _tumour(case_of, "sts-ct-ordered-no-mri").depth
    assert depth is not None
    assert (depth.value, depth.sources, depth.from_text) == (
        Depth.DEEP, ("Observation/ct15-obs-4",), True)


def test_superficial_depth(case_of: CaseBuilder) -> None:
    """NCIt C25239 superficial is not deep."""
    depth = _tumour(case_of, "sts-unplanned-excisional-biopsy").depth
    assert depth is not None and depth.value is Depth.SUPERFICIAL


def test_risk_features_recorded_absent_are_false_not_unknown(case_of: CaseBuilder) -> None:
    """recommendations.md PEComa risk "low when all four are recorded absent"; necrosis coded
    by SNOMED 405921002, infiltrative growth and nuclear grade under local codes, so recognised
    from text."""
    tumour = _tumour(case_of, PECOMA)
    assert tumour.necrosis is not None and tumour.necrosis.value is False
    assert tumour.necrosis.sources == ("Observation/p12-obs-necr",)
    assert tumour.necrosis.date == dt.date(2026, 5, 19)
    assert tumour.necrosis.from_text is False
    assert tumour.infiltrative_growth is not None
    assert tumour.infiltrative_growth.value is False
    assert tumour.infiltrative_growth.from_text is True
    assert tumour.high_nuclear_grade is not None
    assert tumour.high_nuclear_grade.value is False
    assert tumour.high_nuclear_grade.sources == ("Observation/p12-obs-nuc",)


def test_a_risk_feature_not_recorded_is_unknown(case_of: CaseBuilder) -> None:
    """The issue: "Unknown is not false": a risk feature the record does not hold is None."""
    tumour = _tumour(case_of, "pecoma-risk-indeterminate")
    assert tumour.necrosis is None and tumour.high_nuclear_grade is None
    assert tumour.infiltrative_growth is not None
    assert tumour.infiltrative_growth.value is False


def test_a_feature_present_wins_over_an_earlier_absent_one(case_of: CaseBuilder) -> None:
    """recommendations.md: "high when at least one ... is recorded present"."""
    record = bundle(PECOMA)
    later = find(bundle(PECOMA), "p12-obs-necr")
    later.update(id="p12-obs-necr-review", effectiveDateTime="2026-06-02",
                 valueCodeableConcept=cc(text="Present"))
    record.append(later)
    necrosis = _tumour(case_of, record).necrosis
    assert necrosis is not None
    assert (necrosis.value, necrosis.sources) == (True, ("Observation/p12-obs-necr-review",))


# --- staging and disease status ---------------------------------------------------------------

def test_an_m1_category_is_a_metastasis(case_of: CaseBuilder) -> None:
    """The issue: "TNM M category (M1 means metastatic)"."""
    (metastasis,) = _tumour(case_of, "pecoma-uterine-advanced").metastases
    assert metastasis.source == "Observation/p6-obs-4"
    assert metastasis.date == dt.date(2026, 8, 20)
    assert metastasis.lung is None  # the category does not say where


@pytest.mark.parametrize("value", ["cM0", "M0", "MX"])
def test_an_m0_or_mx_category_is_no_metastasis(case_of: CaseBuilder, value: str) -> None:
    """The issue: only M1 means metastatic."""
    record = bundle("pecoma-uterine-advanced")
    find(record, "p6-obs-4")["valueCodeableConcept"] = cc(text=value)
    assert _tumour(case_of, record).metastases == ()


@pytest.mark.parametrize(("value", "expected"), [("pN1", True), ("pN0", False)])
def test_the_n_category_gives_positive_nodes(case_of: CaseBuilder, value: str,
                                             expected: bool) -> None:
    """recommendations.md pecoma-postoperative-therapy: "positive lymph nodes"."""
    record = bundle("pecoma-nodes-at-presentation")
    find(record, "p13-obs-4")["valueCodeableConcept"] = cc(text=value)
    nodes = _tumour(case_of, record).positive_nodes
    assert nodes is not None
    assert (nodes.value, nodes.sources) == (expected, ("Observation/p13-obs-4",))


def test_distant_metastasis_present_status_is_a_metastasis(case_of: CaseBuilder) -> None:
    """The issue: "cancer disease status 399409002"."""
    (metastasis,) = _tumour(case_of, "pecoma-advanced-on-sirolimus").metastases
    assert metastasis.source == "Observation/p7-obs-5"
    assert metastasis.date == dt.date(2025, 1, 20)


def test_an_improved_disease_status_is_no_metastasis(case_of: CaseBuilder) -> None:
    """A cancer disease status valued "improved" (268910001) says nothing about spread."""
    assert _tumour(case_of, "ntrk-on-larotrectinib").metastases == ()


# --- histology observations -----------------------------------------------------------------

@pytest.mark.parametrize("code", ["31206-6", "59847-4"])
def test_histology_observation_gives_the_entity(case_of: CaseBuilder, code: str) -> None:
    """The issue: "the 31206-6 / 59847-4 observations"; the entity cites the Observation."""
    record = bundle("pecoma-localized-low-risk")
    find(record, "p8-cond-1")["code"] = cc(text="Soft tissue tumour of left thigh, deep")
    find(record, "p8-obs-5")["code"] = cc((LOINC, code))
    tumour = _tumour(case_of, record)
    assert tumour.entity.value is Entity.PECOMA
    assert tumour.entity.sources == ("Condition/p8-cond-1", "Observation/p8-obs-5")
    assert tumour.entity.from_text is False


def test_histology_observation_linked_by_the_related_condition_extension(
        case_of: CaseBuilder) -> None:
    """The issue: facts attach "by reference (... the related-condition extension ...)"."""
    record = bundle("pecoma-advanced-on-sirolimus")
    histology = find(record, "p7-obs-1")
    assert histology["extension"][0]["url"] == MCODE_RELATED_URL and "focus" not in histology
    find(record, "p7-cond-1")["code"] = cc(text="Pelvic soft tissue mass")
    tumour = _tumour(case_of, record)
    assert tumour.entity.value is Entity.PECOMA
    assert "Observation/p7-obs-1" in tumour.entity.sources


@pytest.mark.parametrize("code", ["8811/3", "8802/3", "8805/3", "9040/3", "9044/3", "9120/3",
                                  "9540/3", "8804/3", "8852/3"])
def test_a_sarcoma_morphology_code_without_display_is_sts(case_of: CaseBuilder,
                                                          code: str) -> None:
    """The issue: morphology from the 31206-6 observation; recommendations.md sts = "any other
    soft tissue sarcoma" (ICD-O-3 /3 codes sent without a display: 8811/3 myxofibrosarcoma,
    9040/3 synovial sarcoma, 9540/3 MPNST...)."""
    record = bundle("sts-ct-ordered-no-mri")
    find(record, "ct15-cond-sarcoma")["code"] = cc(text="Soft tissue mass, right thigh")
    find(record, "ct15-obs-1")["valueCodeableConcept"] = cc((ICDO3, code))
    tumour = _tumour(case_of, record)
    assert tumour.entity.value is Entity.STS and tumour.entity.from_text is False
    assert tumour.entity.sources == ("Condition/ct15-cond-sarcoma", "Observation/ct15-obs-1")


@pytest.mark.parametrize("code", ["8811/0", "9040/0", "9540/0", "8890/0", "8802/1"])
def test_a_benign_code_of_a_sarcoma_histology_makes_no_tumour(case_of: CaseBuilder,
                                                               code: str) -> None:
    """recommendations.md: "sarcoma" = behaviour /3 entities; 8811/0 fibromyxoma, 9040/0
    benign synovioma, 9540/0 neurofibroma, 8890/0 leiomyoma are not soft tissue sarcomas, so a
    mass known only by them is no tumour of these recommendations."""
    record = bundle("sts-ct-ordered-no-mri")
    find(record, "ct15-cond-sarcoma")["code"] = cc(text="Soft tissue mass, right thigh")
    find(record, "ct15-obs-1")["valueCodeableConcept"] = cc((ICDO3, code))
    assert case_of(record).tumours == ()


# --- immunohistochemistry ---------------------------------------------------------------------

def test_a_loinc_coded_ihc_result(case_of: CaseBuilder) -> None:
    """terminology.md §2b IHC LOINC codes (desmin 10476-0) valued "Positive"."""
    tumour = _tumour(case_of, PECOMA)
    (desmin,) = [r for r in tumour.ihc if r.marker is IhcMarker.DESMIN]
    assert (desmin.positive, desmin.source, desmin.date, desmin.from_text) == (
        True, "Observation/p12-obs-5", dt.date(2026, 5, 19), False)


def test_an_ihc_marker_named_only_in_words_is_from_text(case_of: CaseBuilder) -> None:
    """The issue: concepts without a verified code (myogenin, MyoD1, ALK IHC) are recognised
    from code.text "and the fact records that it came from text"."""
    tumour = _tumour(case_of, "ilms-rms-component")
    results = {r.marker: (r.positive, r.source, r.from_text) for r in tumour.ihc}
    assert results[IhcMarker.MYOGENIN] == (True, "Observation/ilms1-obs-4", True)
    assert results[IhcMarker.ALK] == (False, "Observation/ilms1-obs-6", True)
    assert results[IhcMarker.DESMIN] == (True, "Observation/ilms1-obs-3", False)


@pytest.mark.parametrize(("code_text", "marker"), [
    ("Immunostain for desmin", IhcMarker.DESMIN),
    ("IHC: Melan-A", IhcMarker.MELAN_A),
    ("Immunohistochemistry - smooth muscle actin", IhcMarker.SMA),
])
def test_the_generic_word_immunostain_does_not_hide_the_marker(
        case_of: CaseBuilder, code_text: str, marker: IhcMarker) -> None:
    """The issue: synonyms in code.text; "immunostain" names the method, the marker is the
    other word, wherever it stands."""
    record = bundle(PECOMA)
    find(record, "p12-obs-5")["code"] = cc(text=code_text)
    results = {r.marker for r in _tumour(case_of, record).ihc
               if r.source == "Observation/p12-obs-5"}
    assert results == {marker}


@pytest.mark.parametrize(("value", "expected"), [
    ({"valueString": "Negative"}, False),
    ({"valueString": "Focally positive"}, True),
    ({"valueString": "Not performed"}, None),
    ({"valueCodeableConcept": cc((SNOMED, "260385009", "Negative"))}, False),
    ({"valueBoolean": True}, True),
])
def test_ihc_results_positive_negative_or_unknown(case_of: CaseBuilder, value: dict[str, Any],
                                                  expected: bool | None) -> None:
    """The issue: "Unknown is not false": a result that says neither is None."""
    record = bundle(PECOMA)
    stain = find(record, "p12-obs-5")
    del stain["valueCodeableConcept"]
    stain.update(value)
    (desmin,) = [r for r in _tumour(case_of, record).ihc if r.marker is IhcMarker.DESMIN]
    assert desmin.positive is expected


# --- narrative and negation -----------------------------------------------------------------

def test_a_negated_rhabdomyosarcomatous_component_is_false_from_text(
        case_of: CaseBuilder) -> None:
    """The issue: "negations such as 'no rhabdomyosarcomatous component' respected", and the
    fact records it came from text."""
    rms = _tumour(case_of, "ilms-no-rms-chemo-order").rms_component
    assert rms is not None
    assert (rms.value, rms.sources, rms.date, rms.from_text) == (
        False, ("Observation/ilms2-obs-pathdx",), dt.date(2026, 10, 13), True)


def test_a_stated_rhabdomyosarcomatous_component_is_true_from_text(
        case_of: CaseBuilder) -> None:
    """recommendations.md ilms-rms-transformation: "ilms with a rhabdomyosarcomatous
    component"."""
    rms = _tumour(case_of, "ilms-rms-component").rms_component
    assert rms is not None
    assert (rms.value, rms.sources, rms.from_text) == (
        True, ("Observation/ilms1-obs-pathdx",), True)


def test_ihc_results_written_as_prose_are_read_clause_by_clause(
        terminology: Terminology) -> None:
    """The issue: string values are read, negation-aware, one result per marker."""
    report = {"resourceType": "Observation", "id": "o-ihc", "status": "final",
              "code": cc(text="Immunohistochemistry panel"), "subject": ref("Patient/p"),
              "effectiveDateTime": "2026-01-02",
              "valueString": "Desmin positive, SMA positive, HMB-45 negative, myogenin negative"}
    found = {f.value: f.from_text for f in map_observation(report, terminology)
             if f.kind == "ihc"}
    assert found == {("ihc/desmin", True): True, ("ihc/sma", True): True,
                     ("ihc/hmb45", False): True, ("ihc/myogenin", False): True}


def _ilms_saying(case_of: CaseBuilder, narrative: str) -> Tumour:
    """The ILMS-with-RMS record whose final diagnosis narrative says ``narrative`` instead."""
    record = bundle("ilms-rms-component")
    find(record, "ilms1-obs-pathdx")["valueString"] = narrative
    return _tumour(case_of, record)


@pytest.mark.parametrize("narrative", [
    "Inflammatory leiomyosarcoma; a rhabdomyosarcomatous component cannot be excluded.",
    "Inflammatory leiomyosarcoma, rhabdomyosarcomatous component not entirely excluded.",
    "Inflammatory leiomyosarcoma. Suspicious for rhabdomyosarcomatous differentiation.",
    "Inflammatory leiomyosarcoma, possible rhabdomyosarcomatous component.",
])
def test_a_hedged_rhabdomyosarcomatous_component_is_not_recorded(case_of: CaseBuilder,
                                                                 narrative: str) -> None:
    """recommendations.md ilms-rms-transformation fires on "ilms with a rhabdomyosarcomatous
    component": a component that only "cannot be excluded" is neither present nor absent."""
    assert _ilms_saying(case_of, narrative).rms_component is None


@pytest.mark.parametrize(("narrative", "expected"), [
    ("Inflammatory leiomyosarcoma. Possible necrosis.", None),
    ("Inflammatory leiomyosarcoma. Necrosis cannot be excluded on this biopsy.", None),
    ("Inflammatory leiomyosarcoma. Tumour necrosis present (10%).", True),
    ("Inflammatory leiomyosarcoma. No necrosis.", False),
])
def test_hedged_necrosis_is_not_recorded(case_of: CaseBuilder, narrative: str,
                                         expected: bool | None) -> None:
    """recommendations.md pecoma risk: "recorded present" / "recorded absent" / "not
    recorded"; a hedge records neither."""
    necrosis = _ilms_saying(case_of, narrative).necrosis
    assert (necrosis.value if necrosis else None) is expected


@pytest.mark.parametrize("value", ["Possibly present", "Cannot be excluded",
                                   "Suspicious, equivocal"])
def test_a_hedged_observation_value_is_unknown(case_of: CaseBuilder, value: str) -> None:
    """The presence reader: a value that only hedges is neither True nor False."""
    record = bundle(PECOMA)
    stain = find(record, "p12-obs-5")
    del stain["valueCodeableConcept"]
    stain["valueString"] = value
    (desmin,) = [r for r in _tumour(case_of, record).ihc if r.marker is IhcMarker.DESMIN]
    assert desmin.positive is None


def _prose(terminology: Terminology, text: str) -> dict[str, bool | None]:
    report = {"resourceType": "Observation", "id": "o-ihc", "status": "final",
              "code": cc(text="Immunohistochemistry panel"), "subject": ref("Patient/p"),
              "valueString": text}
    return {f.value[0]: f.value[1] for f in map_observation(report, terminology)
            if f.kind == "ihc"}


@pytest.mark.parametrize(("text", "expected"), [
    ("HMB-45 and melan-A positive", {"ihc/hmb45": True, "ihc/melan-a": True}),
    ("HMB-45, melan-A and myogenin positive; desmin negative.",
     {"ihc/hmb45": True, "ihc/melan-a": True, "ihc/myogenin": True, "ihc/desmin": False}),
    ("Tumour cells are positive for desmin and SMA, negative for S-100 and CD34.",
     {"ihc/desmin": True, "ihc/sma": True, "ihc/s100": False, "ihc/cd34": False}),
    ("Desmin positive and MyoD1 negative", {"ihc/desmin": True, "ihc/myod1": False}),
    ("S-100 and CD34 negative, desmin focally positive",
     {"ihc/s100": False, "ihc/cd34": False, "ihc/desmin": True}),
    ("HMB-45 and melan-A: pending", {"ihc/hmb45": None, "ihc/melan-a": None}),
    ("Desmin positive. HMB-45 and melan-A equivocal.",
     {"ihc/desmin": True, "ihc/hmb45": None, "ihc/melan-a": None}),
])
def test_one_result_written_for_several_markers_applies_to_each(
        terminology: Terminology, text: str, expected: dict[str, bool | None]) -> None:
    """The issue: IHC results in prose, one result per marker: "HMB-45 and melan-A positive"
    says both are positive (recommendations.md pecoma-ihc-panel reads HMB-45)."""
    assert _prose(terminology, text) == expected


# --- status and dates -------------------------------------------------------------------------

@pytest.mark.parametrize("state", ["entered-in-error", "cancelled"])
def test_entered_in_error_and_cancelled_observations_are_ignored(case_of: CaseBuilder,
                                                                 state: str) -> None:
    """The issue: "Ignore entered-in-error, refuted and cancelled resources"."""
    record = bundle(LMS)
    find(record, "lms3-obs-2")["status"] = state
    find(record, "lms3-obs-1")["status"] = state
    tumour = _tumour(case_of, record)
    assert tumour.size_cm is None and tumour.grade is None


@pytest.mark.parametrize(("fields", "expected"), [
    ({"effectiveDateTime": "2026-08"}, dt.date(2026, 8, 1)),
    ({"effectivePeriod": {"start": "2026-08-12", "end": "2026-08-14"}}, dt.date(2026, 8, 12)),
    ({"effectiveInstant": "2026-08-13T09:30:00.000Z"}, dt.date(2026, 8, 13)),
    ({"issued": "2026-08-15T10:00:00Z"}, dt.date(2026, 8, 15)),
    ({}, None),
])
def test_observation_dates_in_every_shape(case_of: CaseBuilder, fields: dict[str, Any],
                                          expected: dt.date | None) -> None:
    """The issue: "Accept dateTime, Period and partial dates"; no date on record is None."""
    record = bundle(LMS)
    size_obs = find(record, "lms3-obs-2")
    del size_obs["effectiveDateTime"]
    size_obs.update(fields)
    size = _tumour(case_of, record).size_cm
    assert size is not None and size.date == expected


def test_map_observation_of_a_lab_is_empty(terminology: Terminology) -> None:
    """The Observation mapper: "empty when irrelevant"."""
    assert map_observation(resource(LMS, "lms3-obs-5"), terminology) == []
