"""Lookups by code, prefix and morphology, per domain (terminology.md sections 1-2, 5)."""

from __future__ import annotations

import pytest

from cds_service.terminology import Match
from cds_service.terminology import Terminology
from cds_service.terminology import UnknownConceptError
from tests.systems import CLINICAL
from tests.systems import VERIFICATION
from tests.terminology.common import CPT
from tests.terminology.common import HGNC
from tests.terminology.common import HGNC_GENE_ID
from tests.terminology.common import ICD10CM
from tests.terminology.common import ICDO3
from tests.terminology.common import LOINC
from tests.terminology.common import NCIT
from tests.terminology.common import RXNORM
from tests.terminology.common import SNOMED
from tests.terminology.common import cc

MALIGNANT = "disease/malignant-neoplasm"
"""Every ICD-10-CM C code (C00-C96) also reads as a malignant neoplasm (a reason's disease)."""
STS_LEFT_LOWER_LIMB = {"entity/sts", "site/lower-limb", "laterality/left", "behaviour/malignant",
                       MALIGNANT}


@pytest.mark.parametrize("value", ["C49.22", "C4922", "c49.22", "c4922", " C49.22 "])
def test_icd10cm_c49_22_is_sts_of_the_left_lower_limb(terminology: Terminology, value: str) -> None:
    assert terminology.concepts_for_coding(ICD10CM, value) == STS_LEFT_LOWER_LIMB


@pytest.mark.parametrize(
    "system", ["urn:oid:2.16.840.1.113883.6.90", "https://hl7.org/fhir/sid/icd-10-cm/"]
)
def test_icd10cm_system_variants(terminology: Terminology, system: str) -> None:
    assert terminology.concepts_for_coding(system, "C49.22") == STS_LEFT_LOWER_LIMB


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("C49.11", {"entity/sts", "site/upper-limb", "laterality/right", "behaviour/malignant",
                    MALIGNANT}),
        ("C49.9", {"entity/sts", "behaviour/malignant", MALIGNANT}),
        # GIST: the longer prefix beats C49
        ("C49.A0", {"entity/gist", "behaviour/malignant", MALIGNANT}),
        (
            "C78.01",
            {"finding/lung-metastasis", "site/lung", "laterality/right", "behaviour/metastatic",
             MALIGNANT},
        ),
        # C79.51: the longer prefix beats C79.
        ("C79.51", {"finding/bone-metastasis", "behaviour/metastatic", MALIGNANT}),
        ("C79.9", {"finding/secondary-malignancy", "behaviour/metastatic", MALIGNANT}),
        ("C77.0", {"finding/nodal-metastasis", "behaviour/metastatic", MALIGNANT}),
        ("C54.2", {"site/uterus", "behaviour/malignant", MALIGNANT}),  # never an entity on its own
        ("C57.12", {"site/broad-ligament", "laterality/left", "behaviour/malignant", MALIGNANT}),
        ("M84.552A", {"finding/pathological-fracture", "site/femur", "laterality/left"}),
        ("M84.541D", {"finding/pathological-fracture", "site/hand", "laterality/right"}),
        ("M84.452A", {"finding/pathological-fracture-other", "site/femur", "laterality/left"}),
        ("Z85.831", {"finding/history-of-sts"}),
        ("C50.911", {MALIGNANT}),  # breast: another cancer, never a tumour of ours
        ("C80.1", {"disease/malignant-neoplasm-unspecified"}),  # longer prefix: site not named
        ("L03.115", {"disease/infection"}),
        ("Z08", {"finding/history-of-malignancy"}),
        ("I10", set()),
    ],
)
def test_icd10cm_prefix_rules(terminology: Terminology, value: str, expected: set[str]) -> None:
    assert terminology.concepts_for_coding(ICD10CM, value) == expected


def test_pathological_fractures_share_a_kind(terminology: Terminology) -> None:
    neoplastic = terminology.attributes("finding/pathological-fracture")
    other = terminology.attributes("finding/pathological-fracture-other")
    assert (neoplastic["kind"], neoplastic["neoplastic"]) == ("pathological-fracture", True)
    assert (other["kind"], other["neoplastic"]) == ("pathological-fracture", False)
    assert terminology.attributes("site/femur")["region"] == "lower-limb"


@pytest.mark.parametrize("value", ["8714/3", "87143", "8714-3", "M-8714/3"])
def test_icdo_8714_3_is_a_malignant_pecoma(terminology: Terminology, value: str) -> None:
    morphology = terminology.morphology(value)
    assert morphology is not None
    assert (morphology.entity, morphology.behaviour_concept) == (
        "entity/pecoma",
        "behaviour/malignant",
    )
    assert (morphology.code, morphology.histology, morphology.behaviour) == ("8714/3", "8714", "3")
    assert terminology.concepts_for_coding(ICDO3, value) == {"entity/pecoma", "behaviour/malignant"}


@pytest.mark.parametrize(
    ("value", "entity", "behaviour"),
    [
        ("8714/0", "entity/pecoma", "behaviour/benign"),
        ("8857/0", "entity/spindle-cell-lipoma", "behaviour/benign"),
        ("8857/3", "entity/sts", "behaviour/malignant"),  # fibroblastic liposarcoma
        ("8890/3", "entity/sts", "behaviour/malignant"),
        ("8801/3", "entity/spindle-cell-sarcoma", "behaviour/malignant"),
        ("8815/1", "entity/sft", "behaviour/uncertain"),
        ("9581/3", "entity/asps", "behaviour/malignant"),
        ("8890/6", "entity/sts", "behaviour/metastatic"),
        ("8850/1", "entity/alt-wdlps", "behaviour/uncertain"),
        ("8140/3", None, "behaviour/malignant"),  # adenocarcinoma: not a known histology
        ("8857", None, None),  # no behaviour: 8857 alone cannot be placed
    ],
)
def test_icdo_morphology(
    terminology: Terminology, value: str, entity: str | None, behaviour: str | None
) -> None:
    morphology = terminology.morphology(value)
    assert morphology is not None
    assert (morphology.entity, morphology.behaviour_concept) == (entity, behaviour)


@pytest.mark.parametrize("value", ["C49.2", "", "87", "abc", "8714/33"])
def test_non_morphology_codes_give_none(terminology: Terminology, value: str) -> None:
    assert terminology.morphology(value) is None


def test_8801_is_a_spindle_sarcoma_for_ntrk_testing(terminology: Terminology) -> None:
    attributes = terminology.attributes("entity/spindle-cell-sarcoma")
    assert (attributes["entity"], attributes["spindle"], attributes["sarcoma"]) == (
        "sts",
        True,
        True,
    )


def test_8857_0_alone_is_spindle_cell_lipoma_and_an_ascmn_name_wins(
    terminology: Terminology,
) -> None:
    # recommendations.md: ICD-O 8857/0 alone is a spindle cell lipoma, a benign lipoma (no card).
    coded = cc((ICDO3, "8857/0", "Spindle cell lipoma"))
    concepts = {m.concept for m in terminology.match_codeable_concept(coded, domain="entity")}
    assert terminology.most_specific(concepts) == "entity/spindle-cell-lipoma"
    assert terminology.attributes("entity/spindle-cell-lipoma")["entity"] is None
    named = cc((ICDO3, "8857/0"), text="Atypical spindle cell lipomatous tumour")
    concepts = {m.concept for m in terminology.match_codeable_concept(named, domain="entity")}
    assert terminology.most_specific(concepts) == "entity/ascmn"


@pytest.mark.parametrize(
    ("concepts", "winner"),
    [
        ({"entity/sts", "entity/ilms"}, "entity/ilms"),  # 8890/3 named inflammatory
        ({"entity/sts", "entity/pecoma"}, "entity/pecoma"),  # C49.x + PEComa
        ({"entity/spindle-nos", "entity/ntrk"}, "entity/ntrk"),
        ({"entity/sts", "site/hand"}, "entity/sts"),
        ({"site/hand", "nothing/here"}, None),
    ],
)
def test_most_specific_entity(
    terminology: Terminology, concepts: set[str], winner: str | None
) -> None:
    assert terminology.most_specific(concepts) == winner


@pytest.mark.parametrize("system", [RXNORM, "urn:oid:2.16.840.1.113883.6.88"])
def test_rxnorm_fyarro_product_is_nab_sirolimus(terminology: Terminology, system: str) -> None:
    assert terminology.concepts_for_coding(system, "2586868") == {"drug/nab-sirolimus"}
    attributes = terminology.attributes("drug/nab-sirolimus")
    assert (attributes["class"], attributes["ingredient"]) == ("mtor-inhibitor", "drug/sirolimus")


@pytest.mark.parametrize(
    ("rxcui", "drug", "drug_class"),
    [
        ("35302", "drug/sirolimus", "mtor-inhibitor"),
        ("258355", "drug/sirolimus", "mtor-inhibitor"),
        ("141704", "drug/everolimus", "mtor-inhibitor"),
        ("1724306", "drug/temsirolimus", "mtor-inhibitor"),
        ("1790099", "drug/doxorubicin", "anthracycline"),
        ("3995", "drug/epirubicin", "anthracycline"),
        ("217701", "drug/ifosfamide", "alkylating"),
    ],
)
def test_rxnorm_products_roll_up_to_ingredients(
    terminology: Terminology, rxcui: str, drug: str, drug_class: str
) -> None:
    assert terminology.concepts_for_coding(RXNORM, rxcui) == {drug}
    assert terminology.attributes(drug)["class"] == drug_class


def test_trk_inhibitors_are_recognised_by_ncit_and_name(terminology: Terminology) -> None:
    assert terminology.concepts_for_coding(NCIT, "C115977") == {"drug/larotrectinib"}
    assert terminology.concepts_for_coding("http://ncit.nci.nih.gov", "C115977") == {
        "drug/larotrectinib"
    }
    found = terminology.match_codeable_concept(cc((RXNORM, "0000", "Vitrakvi 100 MG Oral Capsule")))
    assert [(m.concept, m.via) for m in found] == [("drug/larotrectinib", "text")]
    classes = {terminology.attributes(d)["class"] for d in terminology.concepts_in("drug")}
    assert classes == {
        "mtor-inhibitor",
        "anthracycline",
        "alkylating",
        "trk-inhibitor",
        "cytotoxic",
        "targeted",
    }


@pytest.mark.parametrize("system", [HGNC, HGNC_GENE_ID, "urn:oid:2.16.840.1.113883.6.281"])
def test_hgnc_8033_is_ntrk3_on_either_uri(terminology: Terminology, system: str) -> None:
    assert terminology.concepts_for_coding(system, "HGNC:8033") == {"gene/ntrk3"}


def test_hgnc_is_matched_by_code_never_by_display(terminology: Terminology) -> None:
    # terminology.md: mCODE examples label HGNC:7989 "KIT"; match HGNC by code only.
    wrong_display = cc((HGNC, "HGNC:7989", "NTRK3"))
    assert terminology.match_codeable_concept(wrong_display) == []
    assert not terminology.is_candidate("Observation", wrong_display)


@pytest.mark.parametrize(
    ("system", "value", "expected"),
    [
        (LOINC, "10441-4", {"ihc/cd34"}),
        (LOINC, "10487-7", {"ihc/hmb45"}),
        (LOINC, "10457-0", {"ihc/actin"}),
        (LOINC, "93808-4", {"test/mdm2-fish"}),
        (LOINC, "84892-9", {"obs/margin"}),
        (LOINC, "33728-7", {"obs/greatest-dimension"}),
        (NCIT, "C18000", {"obs/grade"}),
        (LOINC, "33732-9", {"obs/grade"}),
        (LOINC, "31206-6", {"obs/histology-behaviour"}),
        (LOINC, "69548-6", {"obs/genomic-variant"}),
        (LOINC, "LA9633-4", {"value/present"}),
        (LOINC, "la9634-2", {"value/absent"}),
        (SNOMED, "1155707008", {"grade/3"}),
        (SNOMED, "1286893008", {"grade/2"}),
        (NCIT, "C139579", {"margin/r1"}),
        (NCIT, "C25240", {"depth/deep"}),
        (SNOMED, "399409002", {"finding/distant-metastasis"}),
        (SNOMED, "426757001", {"method/fnclcc"}),
        ("urn:oid:2.16.840.1.113883.6.1", "97509-4", {"obs/disease-status"}),
    ],
)
def test_observation_codes(
    terminology: Terminology, system: str, value: str, expected: set[str]
) -> None:
    assert terminology.concepts_for_coding(system, value) == expected


@pytest.mark.parametrize(
    ("system", "value", "expected"),
    [
        (CPT, "71250", {"img/ct-chest"}),
        (CPT, "71046", {"img/xray-chest"}),
        (CPT, "73718", {"img/mri", "site/lower-limb"}),
        (CPT, "73220", {"img/mri", "site/upper-limb"}),
        (CPT, "78815", {"img/pet-ct"}),
        (SNOMED, "113091000", {"img/mri"}),
        (CPT, "27495", {"proc/internal-fixation", "site/femur"}),
        (CPT, "20690", {"proc/external-fixation"}),
        (CPT, "29505", {"proc/splint", "site/lower-limb"}),
        (CPT, "17313", {"proc/mohs"}),
        (CPT, "27364", {"proc/wide-excision", "site/lower-limb"}),
        (CPT, "32666", {"proc/metastasectomy"}),
        (CPT, "77385", {"proc/radiotherapy"}),
        ("urn:oid:2.16.840.1.113883.6.12", "71260", {"img/ct-chest"}),
        (SNOMED, "3457005", {"proc/referral"}),
    ],
)
def test_procedure_and_imaging_codes(
    terminology: Terminology, system: str, value: str, expected: set[str]
) -> None:
    assert terminology.concepts_for_coding(system, value) == expected


def test_status_codes(terminology: Terminology) -> None:
    assert terminology.concepts_for_coding(CLINICAL, "recurrence") == {"status/recurrence"}
    assert terminology.attributes("status/recurrence")["active"] is True
    assert terminology.attributes("status/remission")["active"] is False
    assert terminology.concepts_for_coding(VERIFICATION, "entered-in-error") == {
        "verification/entered-in-error"
    }
    assert terminology.attributes("verification/differential")["provisional"] is True


@pytest.mark.parametrize(
    ("system", "value"),
    [
        (None, "C49.22"),
        (ICD10CM, None),
        ("http://example.org/local", "C49.22"),
        (ICD10CM, ""),
        (SNOMED, "not-a-code"),
        (123, "C49.22"),
    ],
)
def test_unrecognised_codings_give_nothing(
    terminology: Terminology, system: object, value: object
) -> None:
    assert terminology.concepts_for_coding(system, value) == frozenset()  # type: ignore[arg-type]


def test_codeable_concept_uses_codes_then_displays_then_text(terminology: Terminology) -> None:
    concept = cc(
        (ICD10CM, "C49.22", "Malignant neoplasm of connective and soft tissue of left lower limb"),
        text="PEComa of the left thigh",
    )
    matches = terminology.match_codeable_concept(concept, domain=["entity", "site"])
    assert set(matches[:2]) == {
        Match("entity/sts", "prefix", False, ICD10CM, "C49.22"),
        Match("site/lower-limb", "prefix", False, ICD10CM, "C49.22"),
    }
    assert matches[2:] == [Match("entity/pecoma", "text", False, None, None, "PEComa")]
    assert [m.concept for m in matches].count("entity/sts") == 1  # display match folded in


def test_display_matches_record_their_coding(terminology: Terminology) -> None:
    matches = terminology.match_codeable_concept(
        cc(("http://example.org/local", "X1", "Pan-TRK IHC"))
    )
    assert matches[0] == Match("ihc/pan-trk", "text", False, None, "X1", "Pan-TRK")


def test_suggestion_codes_are_data(terminology: Terminology) -> None:
    # terminology.md section 5: the codes suggestions create.
    mri = terminology.attributes("img/mri")["order"]
    assert [c["code"] for c in mri["lower-limb"]["codes"]] == ["73718"]
    assert [c["code"] for c in mri["upper-limb"]["codes"]] == ["73218"]
    assert [c["code"] for c in mri["default"]["codes"]] == ["113091000"]
    ct = terminology.attributes("img/ct-chest")["order"]["default"]["codes"]
    assert {(c["system"], c["code"]) for c in ct} == {(CPT, "71250"), (LOINC, "29252-4")}
    splint = terminology.attributes("proc/splint")["order"]
    assert (splint["lower-limb"]["codes"][0]["code"], splint["upper-limb"]["codes"][0]["code"]) == (
        "29505",
        "29105",
    )
    assert terminology.attributes("test/rna-ngs-fusion")["order"]["default"]["codes"] == ()
    assert (
        terminology.attributes("drug/sirolimus")["order"]["default"]["codes"][0]["code"] == "35302"
    )


def test_display_codes_and_domains(terminology: Terminology) -> None:
    assert terminology.display("entity/pecoma") == "Perivascular epithelioid cell tumour (PEComa)"
    assert {"ihc/cd34", "ihc/s100", "ihc/desmin", "ihc/pan-trk"} <= terminology.concepts_in("ihc")
    assert terminology.concepts_in("nowhere") == frozenset()
    assert [(c.system, c.code) for c in terminology.codes("gene/ntrk3")] == [(HGNC, "HGNC:8033")]
    assert terminology.canonical_system("urn:oid:2.16.840.1.113883.6.96") == SNOMED
    assert terminology.canonical_system("http://example.org") is None


@pytest.mark.parametrize("method", ["display", "attributes", "codes"])
def test_unknown_concepts_raise(terminology: Terminology, method: str) -> None:
    with pytest.raises(UnknownConceptError):
        getattr(terminology, method)("entity/unknown")


def test_every_card_entity_is_defined(terminology: Terminology) -> None:
    keys = {terminology.attributes(c).get("entity") for c in terminology.concepts_in("entity")}
    assert keys >= {"ascmn", "ntrk", "pecoma", "ilms", "sts", "sft", "asps", "spindle-nos"}


# --- soft tissue sarcoma morphologies (ICD-O-3.2 2020 load file, source IO) ---------------------

@pytest.mark.parametrize(
    "value",
    [
        "8811/3",  # myxofibrosarcoma
        "8802/3",  # pleomorphic cell sarcoma
        "8805/3",  # undifferentiated sarcoma
        "8804/3",  # epithelioid sarcoma
        "8810/3",  # fibrosarcoma NOS
        "8830/3",  # malignant fibrous histiocytoma
        "8840/3",  # myxosarcoma / low-grade fibromyxoid sarcoma
        "8852/3",  # myxoid liposarcoma
        "8854/3",  # pleomorphic liposarcoma
        "8850/3",  # liposarcoma NOS (8850 itself is ALT)
        "8825/3",  # myofibroblastic sarcoma (8825 itself is IMT)
        "8990/3",  # malignant mesenchymoma
        "9040/3",  # synovial sarcoma
        "9043/3",  # biphasic synovial sarcoma
        "9044/3",  # clear cell sarcoma
        "9120/3",  # angiosarcoma
        "9133/3",  # epithelioid haemangioendothelioma
        "9540/3",  # MPNST
        "88113",  # the same code written without a slash
    ],
)
def test_soft_tissue_sarcoma_morphologies_without_display_are_sts(
    terminology: Terminology, value: str
) -> None:
    # recommendations.md: sts is "any other soft tissue sarcoma"; an EHR often sends the code
    # alone, so the code (not a display) must say so.
    morphology = terminology.morphology(value)
    assert morphology is not None
    expected = ("entity/sts", "behaviour/malignant")
    assert (morphology.entity, morphology.behaviour_concept) == expected
    assert terminology.concepts_for_coding(ICDO3, value) == set(expected)


@pytest.mark.parametrize(
    ("value", "entity"),
    [
        ("8811/0", None),  # fibromyxoma
        ("8811/1", None),  # myxoinflammatory fibroblastic sarcoma is /1 in ICD-O-3.2
        ("8802/1", None),  # pleomorphic hyalinizing angiectatic tumour
        ("8810/0", None),  # fibroma
        ("9040/0", None),  # synovioma, benign
        ("9120/0", None),  # haemangioma
        ("9540/0", None),  # neurofibroma
        ("8890/0", None),  # leiomyoma
        ("8800/0", None),  # soft tissue tumour, benign
        ("8851/1", None),  # lipofibromatosis
        ("8900/0", None),  # rhabdomyoma
        ("8850/1", "entity/alt-wdlps"),  # atypical lipomatous tumour stays ALT
        ("8825/1", "entity/imt"),  # inflammatory myofibroblastic tumour stays IMT
        ("8854/0", "entity/spindle-cell-lipoma"),  # pleomorphic lipoma
        ("8857/0", "entity/spindle-cell-lipoma"),
        ("8714/0", "entity/pecoma"),  # every PEComa is followed up, whatever its behaviour
        ("8815/1", "entity/sft"),
    ],
)
def test_benign_and_borderline_codes_of_sarcoma_histologies_are_no_sarcoma(
    terminology: Terminology, value: str, entity: str | None
) -> None:
    morphology = terminology.morphology(value)
    assert morphology is not None and morphology.entity == entity
    found = {c for c in terminology.concepts_for_coding(ICDO3, value) if c.startswith("entity/")}
    assert found == ({entity} if entity else set())


@pytest.mark.parametrize(
    ("value", "entity"),
    [("8811/6", "entity/sts"), ("8811", "entity/sts"), ("8902/3", "entity/rhabdomyosarcoma")],
)
def test_metastatic_and_behaviourless_sarcoma_codes_keep_the_entity(
    terminology: Terminology, value: str, entity: str
) -> None:
    morphology = terminology.morphology(value)
    assert morphology is not None and morphology.entity == entity


def test_the_special_sarcoma_mappings_are_kept(terminology: Terminology) -> None:
    # The brief: 8714 pecoma, 8815 sft, 9581 asps, 8801 spindle cell sarcoma, 89xx RMS.
    expected = {
        "8714/3": "entity/pecoma",
        "8815/3": "entity/sft",
        "9581/3": "entity/asps",
        "8801/3": "entity/spindle-cell-sarcoma",
        "8910/3": "entity/rhabdomyosarcoma",
        "8890/3": "entity/sts",
    }
    assert {v: getattr(terminology.morphology(v), "entity", None) for v in expected} == expected


def test_snomed_sarcoma_of_soft_tissue_is_sts(terminology: Terminology) -> None:
    # SNOMED 424952003 "Sarcoma of soft tissue (disorder)", two public lists (MISC).
    assert terminology.concepts_for_coding(SNOMED, "424952003") == {"entity/sts"}


def test_snomed_255470001_is_not_read_as_local_recurrence(terminology: Terminology) -> None:
    # Most public sources give 255470001 as "Local (qualifier value)": not a recurrence.
    assert terminology.concepts_for_coding(SNOMED, "255470001") == frozenset()


@pytest.mark.parametrize("value", ["27235", "27506", "27507"])
def test_femur_fracture_fixation_codes_are_internal_fixation_of_the_femur(
    terminology: Terminology, value: str
) -> None:
    # CPT (AMA descriptors quoted by codingahead.com; mirahealth.care / openpayer.com).
    assert terminology.concepts_for_coding(CPT, value) == {"proc/internal-fixation", "site/femur"}


def test_match_stays_constructible_by_position(terminology: Terminology) -> None:
    # Match gained ``uncertain`` last, with a default: older positional calls still work.
    match = Match("entity/sts", "text", False, None, None, "sarcoma")
    assert match.uncertain is False
    assert terminology.match_text("sarcoma") == [match]
