"""What one reason says (recommendations.md "The patient as a whole (revised)"), swept over the
forms EHRs send: ICD-10-CM codes of each kind (with and without display), SNOMED, words alone.
Every ICD-10-CM code below was checked in the CMS ICD-10-CM April 2026 tabular (simple-icd-10-cm
1.5.0, the source terminology.md cites)."""

from __future__ import annotations

from typing import Any

import pytest

from cds_service.case.model import Entity
from cds_service.case.reasons import ReasonKind
from cds_service.case.reasons import read_reason_code
from cds_service.terminology import Terminology
from tests.case.common import ICD10CM
from tests.case.common import SNOMED
from tests.case.common import cc

OURS, OTHER, NONE = ReasonKind.OURS, ReasonKind.OTHER, ReasonKind.NONE

# (reason, kind, a cancer outside the knowledge base, generic (site and histology not named))
READINGS = [
    # another cancer, by organ code or by histology words
    (cc((ICD10CM, "C18.9")), OTHER, True, False),
    (cc((ICD10CM, "C34.90", "Malignant neoplasm of unspecified part of unspecified bronchus "
                            "or lung")), OTHER, True, False),
    (cc((ICD10CM, "C61")), OTHER, True, False),
    (cc((ICD10CM, "C81.90", "Hodgkin lymphoma, unspecified, unspecified site")), OTHER, True,
     False),
    (cc((ICD10CM, "C90.00")), OTHER, True, False),
    (cc((ICD10CM, "C43.9", "Malignant melanoma of skin, unspecified")), OTHER, True, False),
    (cc((ICD10CM, "C92.00")), OTHER, True, False),
    (cc((ICD10CM, "C44.91", "Basal cell carcinoma of skin, unspecified")), OTHER, True, False),
    (cc((ICD10CM, "C4A.9")), OTHER, True, False),
    (cc((ICD10CM, "C7A.00")), OTHER, True, False),
    (cc((ICD10CM, "C49.A0")), OTHER, True, False),  # GIST: outside the knowledge base
    (cc(text="Adenocarcinoma of the prostate"), OTHER, True, False),
    (cc(text="Diffuse large B-cell lymphoma"), OTHER, True, False),
    # a malignant neoplasm named by site alone, or the words alone: may be one of ours
    (cc((ICD10CM, "C80.1", "Malignant (primary) neoplasm, unspecified")), OTHER, True, True),
    (cc((ICD10CM, "C76.5")), OTHER, True, True),
    (cc((ICD10CM, "C48.0")), OTHER, True, True),
    (cc((SNOMED, "363346000", "Malignant neoplastic disease")), OTHER, True, True),
    (cc(text="Cancer"), OTHER, True, True),
    # infections and other disorders the value sets recognise
    (cc((ICD10CM, "B20")), OTHER, False, False),
    (cc((ICD10CM, "A15.0", "Tuberculosis of lung")), OTHER, False, False),
    (cc((ICD10CM, "J18.9")), OTHER, False, False),
    (cc((ICD10CM, "M86.9", "Osteomyelitis, unspecified")), OTHER, False, False),
    (cc(text="Cellulitis of the left calf"), OTHER, False, False),
    (cc((ICD10CM, "M05.79")), OTHER, False, False),
    (cc((ICD10CM, "M06.9")), OTHER, False, False),
    (cc((ICD10CM, "M34.9")), OTHER, False, False),
    (cc((ICD10CM, "D76.1")), OTHER, False, False),
    (cc((ICD10CM, "G35")), OTHER, False, False),
    (cc((ICD10CM, "N04.9")), OTHER, False, False),
    (cc((ICD10CM, "D89.811")), OTHER, False, False),
    (cc((ICD10CM, "T86.10")), OTHER, False, False),
    (cc(text="ANCA vasculitis"), OTHER, False, False),
    # history, follow-up, findings, complications, metastases and the unrecognised: no reason
    (cc((ICD10CM, "Z85.3", "Personal history of malignant neoplasm of breast")), NONE, False,
     False),
    (cc((ICD10CM, "Z80.3", "Family history of malignant neoplasm of breast")), NONE, False,
     False),
    (cc((ICD10CM, "Z08", "Encounter for follow-up examination after completed treatment for "
                         "malignant neoplasm")), NONE, False, False),
    (cc((ICD10CM, "Z85.831", "Personal history of malignant neoplasm of soft tissue")), NONE,
     False, False),
    (cc((ICD10CM, "M84.552A", "Pathological fracture in neoplastic disease, left femur")), NONE,
     False, False),
    (cc((ICD10CM, "R22.42", "Localized swelling, mass and lump, left lower limb")), NONE, False,
     False),
    (cc((ICD10CM, "C79.51", "Secondary malignant neoplasm of bone")), NONE, False, False),
    (cc((ICD10CM, "C78.01")), NONE, False, False),
    (cc((ICD10CM, "C77.0")), NONE, False, False),
    (cc((ICD10CM, "I10", "Essential (primary) hypertension")), NONE, False, False),
    (cc((ICD10CM, "E11.9")), NONE, False, False),
    (cc(("http://example.org/local-problems", "ONC-17", "Tumour board follow-up")), NONE, False,
     False),
    (cc(text="possible lymphoma"), NONE, False, False),  # hedged: not stated
    (cc(text="no evidence of cancer"), NONE, False, False),  # negated
    # words naming another cancer beside a finding: that cancer
    (cc(text="Pathological fracture through metastatic breast cancer"), OTHER, True, False),
]


@pytest.mark.parametrize(("reason", "kind", "cancer", "generic"), READINGS,
                         ids=[str(r[0])[:60] for r in READINGS])
def test_reason_readings(terminology: Terminology, reason: dict[str, Any], kind: ReasonKind,
                         cancer: bool, generic: bool) -> None:
    reading = read_reason_code(reason, terminology)
    assert (reading.kind, reading.cancer, reading.generic) == (kind, cancer, generic)
    assert bool(reading.name) is (kind is OTHER)


@pytest.mark.parametrize(("reason", "entities"), [
    (cc((ICD10CM, "C49.22")), (Entity.STS,)),
    (cc(text="PEComa of the uterus"), (Entity.PECOMA,)),
    (cc((ICD10CM, "C48.0"), text="Retroperitoneal PEComa"), (Entity.PECOMA,)),
    (cc(text="Inflammatory leiomyosarcoma, right arm"), (Entity.ILMS,)),
    (cc(text="Atypical spindle cell/pleomorphic lipomatous tumour"), (Entity.ASCMN,)),
])
def test_reasons_naming_our_entities(terminology: Terminology, reason: dict[str, Any],
                                     entities: tuple[Entity, ...]) -> None:
    reading = read_reason_code(reason, terminology)
    assert (reading.kind, reading.entities) == (OURS, entities)
