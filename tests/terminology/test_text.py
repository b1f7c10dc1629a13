"""Free-text recognition: whole words, any case, spelling and hyphen variants, negation."""

from __future__ import annotations

import pytest

from cds_service.terminology import Terminology


def _found(terminology: Terminology, text: str, domain: str | list[str]) -> list[tuple[str, bool]]:
    return [(m.concept, m.negated) for m in terminology.match_text(text, domain=domain)]


@pytest.mark.parametrize(
    ("text", "domain", "expected"),
    [
        # terminology.md section 5 / the issue: concepts without a verified code, from text.
        (
            "Atypical spindle cell lipomatous tumour of the left thumb",
            "entity",
            [("entity/ascmn", False)],
        ),
        ("ATYPICAL PLEOMORPHIC LIPOMATOUS TUMOR", "entity", [("entity/ascmn", False)]),
        (
            "atypical spindle cell/pleomorphic lipomatous neoplasm",
            "entity",
            [("entity/ascmn", False)],
        ),
        ("ASPLT, left foot", "entity", [("entity/ascmn", False)]),
        ("NTRK-rearranged spindle cell neoplasm", "entity", [("entity/ntrk", False)]),
        ("NTRK rearranged spindle cell tumor", "entity", [("entity/ntrk", False)]),
        ("Inflammatory leiomyosarcoma, deep thigh", "entity", [("entity/ilms", False)]),
        ("Leiomyosarcoma of the uterus", "entity", [("entity/sts", False)]),
        ("Perivascular epithelioid cell tumour (PEComa)", "entity", [("entity/pecoma", False)]),
        ("Spindle cell lipoma", "entity", [("entity/spindle-cell-lipoma", False)]),
        (
            "Spindle cell neoplasm, not otherwise specified",
            "entity",
            [("entity/spindle-nos", False)],
        ),
        ("Kaposi sarcoma of the foot", "entity", [("entity/other-malignancy", False)]),
        ("Haemangiopericytoma", "entity", [("entity/sft", False)]),
        ("hemangiopericytoma", "entity", [("entity/sft", False)]),
        ("Unresectable, locally advanced disease", "finding", [("finding/unresectable", False)]),
        (
            "impending pathological fracture of femur",
            "finding",
            [("finding/impending-fracture", False)],
        ),
        (
            "pathologic fracture of the left femur",
            "finding",
            [("finding/pathological-fracture-other", False)],
        ),
        ("Unplanned excision (whoops procedure)", "proc", [("proc/unplanned-excision", False)]),
        ("Re-excision of tumour bed", "proc", [("proc/re-excision", False)]),
        ("Reexcision", "proc", [("proc/re-excision", False)]),
        ("Ultrasound-guided core needle biopsy", "proc", [("proc/core-biopsy", False)]),
        ("Ultrasound-guided core needle biopsy", "img", [("img/guidance", False)]),
        ("FNA: suspicious for malignancy", "result", [("result/suspicious", False)]),
        ("Non-diagnostic specimen", "result", [("result/non-diagnostic", False)]),
        (
            "Referral to sarcoma reference center",
            "proc",
            [("proc/referral", False), ("proc/referral-sarcoma-centre", False)],
        ),
        ("Intramedullary nailing of the femur", "proc", [("proc/internal-fixation", False)]),
        ("ORIF left humerus", "proc", [("proc/internal-fixation", False)]),
        ("Long leg splint", "proc", [("proc/splint", False)]),
        ("CT chest/abdomen/pelvis", "img", [("img/ct-chest", False)]),
        ("CT of the left thigh", "img", [("img/ct", False)]),
        ("CXR PA and lateral", "img", [("img/xray-chest", False)]),
        ("PET/CT", "img", [("img/pet-ct", False)]),
        ("Sirolimus protein-bound particles (Fyarro)", "drug", [("drug/nab-sirolimus", False)]),
        (
            "Doxorubicin + ifosfamide",
            "drug",
            [("drug/doxorubicin", False), ("drug/ifosfamide", False)],
        ),
        ("grade 3/3 (FNCLCC)", "grade", [("grade/3", False)]),
        ("FNCLCC grade II", "grade", [("grade/2", False)]),
        ("Margins: R1", "margin", [("margin/r1", False)]),
        ("All surgical margins are negative for tumor", "margin", [("margin/r0", False)]),
        ("deep to the superficial fascia", "depth", [("depth/deep", False)]),
    ],
)
def test_curated_synonyms(
    terminology: Terminology, text: str, domain: str, expected: list[tuple[str, bool]]
) -> None:
    assert _found(terminology, text, domain) == expected


@pytest.mark.parametrize(
    ("text", "marker"),
    [
        ("pan-TRK", "ihc/pan-trk"),
        ("pan TRK", "ihc/pan-trk"),
        ("panTRK", "ihc/pan-trk"),
        ("S-100", "ihc/s100"),
        ("S100", "ihc/s100"),
        ("S 100 protein", "ihc/s100"),
        ("HMB-45", "ihc/hmb45"),
        ("HMB45", "ihc/hmb45"),
        ("Melan-A", "ihc/melan-a"),
        ("MART-1", "ihc/melan-a"),
        ("MelanA", "ihc/melan-a"),
        ("smooth muscle actin", "ihc/sma"),
        ("SMA", "ihc/sma"),
        ("MyoD1", "ihc/myod1"),
        ("myogenin", "ihc/myogenin"),
        ("CD34", "ihc/cd34"),
        ("desmin", "ihc/desmin"),
        ("ALK (D5F3)", "ihc/alk"),
        ("S\u2011100", "ihc/s100"),
    ],
)
def test_hyphen_and_space_variants(terminology: Terminology, text: str, marker: str) -> None:
    assert _found(terminology, text, "ihc") == [(marker, False)]


@pytest.mark.parametrize(
    "text", ["PEComas", "sarcomatoid carcinoma", "osteosarcoma", "chondrosarcoma", "ms100", "CD345"]
)
def test_only_whole_words_match(terminology: Terminology, text: str) -> None:
    found = {concept for concept, _ in _found(terminology, text, ["entity", "ihc"])}
    assert found <= {"entity/pecoma"}  # "PEComas" is a listed plural, nothing else matches


@pytest.mark.parametrize(
    ("text", "domain", "expected"),
    [
        (
            "no rhabdomyosarcomatous component identified",
            "finding",
            [("finding/rms-component", True)],
        ),
        ("No areas of rhabdomyosarcoma are present", "finding", [("finding/rms-component", True)]),
        ("with rhabdomyosarcomatous transformation", "finding", [("finding/rms-component", False)]),
        ("pan-TRK IHC positive", "ihc", [("ihc/pan-trk", False), ("ihc/study", False)]),
        ("pan-TRK: negative", "ihc", [("ihc/pan-trk", True)]),
        ("NTRK fusion: not detected", "finding", [("finding/ntrk-fusion", True)]),
        ("NTRK3 fusion detected (ETV6::NTRK3)", "finding", [("finding/ntrk-fusion", False)]),
        (
            "ETV6-NTRK3 fusion",
            "finding",
            [("finding/ntrk-fusion", False), ("finding/gene-fusion", False)],
        ),
        ("Negative for NTRK rearrangement", "finding", [("finding/ntrk-fusion", True)]),
        ("NTRK rearrangement cannot be excluded", "finding", [("finding/ntrk-fusion", False)]),
        (
            "No evidence of local recurrence or distant metastasis.",
            "finding",
            [("finding/local-recurrence", True), ("finding/distant-metastasis", True)],
        ),
        ("Free of metastases", "finding", [("finding/secondary-malignancy", True)]),
        ("Non-metastatic", "finding", [("finding/secondary-malignancy", True)]),
        ("Without MDM2 amplification", "finding", [("finding/mdm2-amplification", True)]),
        ("MDM2 amplification absent", "finding", [("finding/mdm2-amplification", True)]),
        ("MDM2-amplified", "finding", [("finding/mdm2-amplification", False)]),
        (
            "Local recurrence in 2023; no lung metastases",
            "finding",
            [("finding/local-recurrence", False), ("finding/lung-metastasis", True)],
        ),
        (
            "No local recurrence but new lung metastases",
            "finding",
            [("finding/local-recurrence", True), ("finding/lung-metastasis", False)],
        ),
    ],
)
def test_negation(
    terminology: Terminology, text: str, domain: str, expected: list[tuple[str, bool]]
) -> None:
    assert _found(terminology, text, domain) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "CD34 positive, S-100 negative, desmin negative",
            [("ihc/cd34", False), ("ihc/s100", True), ("ihc/desmin", True)],
        ),
        ("Negative for CD34, positive for S-100", [("ihc/cd34", True), ("ihc/s100", False)]),
        ("CD34 positive and S-100 negative", [("ihc/cd34", False), ("ihc/s100", True)]),
        (
            "Tumour cells are positive for desmin, MyoD1 and focally for myogenin",
            [("ihc/desmin", False), ("ihc/myod1", False), ("ihc/myogenin", False)],
        ),
        ("negative for HMB-45 and Melan-A", [("ihc/hmb45", True), ("ihc/melan-a", True)]),
    ],
)
def test_negation_of_stain_lists(
    terminology: Terminology, text: str, expected: list[tuple[str, bool]]
) -> None:
    assert _found(terminology, text, "ihc") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "No necrosis, infiltrative growth or high nuclear grade.",
            [
                ("obs/necrosis", True),
                ("obs/infiltrative-growth", True),
                ("obs/high-nuclear-grade", True),
            ],
        ),
        (
            "No necrosis, infiltrative growth present.",
            [("obs/necrosis", True), ("obs/infiltrative-growth", False)],
        ),
        ("Necrosis: No", [("obs/necrosis", True)]),
        ("Necrosis: no, mitoses: 3/10 HPF", [("obs/necrosis", True), ("obs/mitotic-count", False)]),
        (
            "Tumour necrosis negative, mitoses 5/10 HPF",
            [("obs/necrosis", True), ("obs/mitotic-count", False)],
        ),
        (
            "Necrosis present; infiltrative growth absent",
            [("obs/necrosis", False), ("obs/infiltrative-growth", True)],
        ),
        ("Necrosis: none identified", [("obs/necrosis", True)]),
    ],
)
def test_negation_of_pecoma_risk_features(
    terminology: Terminology, text: str, expected: list[tuple[str, bool]]
) -> None:
    assert _found(terminology, text, "obs") == expected


def test_matches_keep_the_original_text(terminology: Terminology) -> None:
    text = "Re\u2013excision of a PEComa"
    matched = {m.concept: m.matched for m in terminology.match_text(text)}
    assert matched["proc/re-excision"] == "Re\u2013excision"
    assert matched["entity/pecoma"] == "PEComa"
    assert all(m.via == "text" and m.system is None for m in terminology.match_text(text))


def test_domain_filter(terminology: Terminology) -> None:
    text = "PEComa of the left thigh"
    assert {m.concept for m in terminology.match_text(text, domain="entity")} == {"entity/pecoma"}
    everything = {m.concept for m in terminology.match_text(text)}
    assert everything == {"entity/pecoma", "site/lower-limb", "laterality/left"}
    assert terminology.match_text(text, domain="nowhere") == []


def test_one_match_per_concept_and_negation(terminology: Terminology) -> None:
    found = _found(terminology, "PEComa. PEComa again. No PEComa.", "entity")
    assert found == [("entity/pecoma", False), ("entity/pecoma", True)]


# --- hedged statements --------------------------------------------------------------------------

def _read(terminology: Terminology, text: str, domain: str) -> list[tuple[str, bool, bool]]:
    matches = terminology.match_text(text, domain=domain)
    return [(m.concept, m.negated, m.uncertain) for m in matches]


@pytest.mark.parametrize(
    ("text", "domain", "expected"),
    [
        (
            "Rhabdomyosarcomatous component cannot be excluded.",
            "finding",
            [("finding/rms-component", False, True)],
        ),
        (
            "A rhabdomyosarcomatous component can not be ruled out",
            "finding",
            [("finding/rms-component", False, True)],
        ),
        ("Possible necrosis", "obs", [("obs/necrosis", False, True)]),
        ("possible necrosis and infiltrative growth", "obs",
         [("obs/necrosis", False, True), ("obs/infiltrative-growth", False, True)]),
        ("Suspicious for rhabdomyosarcomatous differentiation", "finding",
         [("finding/rms-component", False, True)]),
        ("Cannot exclude necrosis", "obs", [("obs/necrosis", False, True)]),
        ("Can not exclude necrosis", "obs", [("obs/necrosis", False, True)]),  # not a "not"
        ("Pulmonary nodules, suspected metastases", "finding",
         [("finding/secondary-malignancy", False, True)]),
        ("Lung metastasis is suspected", "finding", [("finding/lung-metastasis", False, True)]),
        # statements stay statements
        ("Necrosis present", "obs", [("obs/necrosis", False, False)]),
        ("No necrosis", "obs", [("obs/necrosis", True, False)]),
        ("Rhabdomyosarcomatous component identified", "finding",
         [("finding/rms-component", False, False)]),
        # a hedge in one segment or clause leaves the others alone, and stops a negation there
        ("No necrosis, possible infiltrative growth", "obs",
         [("obs/necrosis", True, False), ("obs/infiltrative-growth", False, True)]),
        ("Possible necrosis. Infiltrative growth present.", "obs",
         [("obs/necrosis", False, True), ("obs/infiltrative-growth", False, False)]),
        # a statement of the same concept beats a hedge of it
        ("Possible necrosis on frozen section; necrosis confirmed on permanent sections", "obs",
         [("obs/necrosis", False, False)]),
    ],
)
def test_hedged_phrases_are_uncertain(
    terminology: Terminology, text: str, domain: str, expected: list[tuple[str, bool, bool]]
) -> None:
    assert _read(terminology, text, domain) == expected


# --- "neck" of a bone is not the head and neck -------------------------------------------------

@pytest.mark.parametrize(
    ("text", "site"),
    [
        ("Fracture of the femoral neck", "site/femur"),
        ("Fracture of neck of femur", "site/femur"),
        ("Fracture of the neck of the femur", "site/femur"),
        ("Fracture of surgical neck of humerus", "site/humerus"),
        ("Fracture of the surgical neck of the humerus", "site/humerus"),
        ("Percutaneous skeletal fixation of femoral fracture, proximal end, neck", "site/femur"),
        ("Closed treatment of proximal humeral (surgical or anatomical neck) fracture",
         "site/humerus"),
        ("Fracture of the radial neck", "site/forearm"),
    ],
)
def test_the_neck_of_a_bone_is_not_the_head_and_neck(
    terminology: Terminology, text: str, site: str
) -> None:
    found = {m.concept for m in terminology.match_text(text, domain="site")}
    assert site in found and "site/head-neck" not in found


@pytest.mark.parametrize("text", ["Soft tissue mass of the neck", "Sarcoma of head and neck",
                                  "Left neck mass"])
def test_the_neck_region_is_still_the_head_and_neck(terminology: Terminology, text: str) -> None:
    assert "site/head-neck" in {m.concept for m in terminology.match_text(text, domain="site")}


def test_text_beyond_the_length_cap_is_not_read(terminology: Terminology) -> None:
    # limits.MAX_TEXT_CHARS: one string is read up to its first 20,000 characters.
    filler = "x " * 10_000
    assert terminology.match_text("PEComa " + filler, domain="entity") != []
    assert terminology.match_text(filler + "PEComa", domain="entity") == []
    assert terminology.is_candidate("Condition", filler + "PEComa") is False


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Necrosis and possible infiltrative growth",
         [("obs/necrosis", False, False), ("obs/infiltrative-growth", False, True)]),
        ("Necrosis suspected", [("obs/necrosis", False, True)]),
    ],
)
def test_a_hedge_between_two_phrases_hedges_the_one_it_precedes(
    terminology: Terminology, text: str, expected: list[tuple[str, bool, bool]]
) -> None:
    assert _read(terminology, text, "obs") == expected
