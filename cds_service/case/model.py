"""The case model the guideline engine reads: immutable, every fact with its FHIR provenance.

Unknown is not false: a fact the record does not hold is ``None`` (or an empty tuple for lists of
events), never a default value.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any
from typing import Generic
from typing import TypeVar

from pydantic import BaseModel
from pydantic import ConfigDict

# The entity and drug-class vocabularies are the terminology data's: one definition serves both the
# value-set validation and the case model.
from cds_service.terminology.models import DrugClass as DrugClass
from cds_service.terminology.models import EntityKey

Entity = EntityKey
"""Tumour entities of the catalogue (recommendations.md conventions)."""

T = TypeVar("T")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class Fact(_Frozen, Generic[T]):
    """A value read from the record, with where and when it came from."""

    value: T
    """The value."""
    sources: tuple[str, ...]
    """FHIR references (``Observation/obs-12``) the value came from."""
    date: dt.date | None = None
    """When it was observed or recorded, where the record says."""
    from_text: bool = False
    """True when it was recognised from free text rather than a code."""


class Behaviour(StrEnum):
    """ICD-O behaviour."""

    BENIGN = "benign"
    UNCERTAIN = "uncertain"
    MALIGNANT = "malignant"


class Verification(StrEnum):
    """Condition.verificationStatus (entered-in-error and refuted never reach the case)."""

    CONFIRMED = "confirmed"
    PROVISIONAL = "provisional"
    DIFFERENTIAL = "differential"
    UNCONFIRMED = "unconfirmed"


class ClinicalStatus(StrEnum):
    """Condition.clinicalStatus, folded as the catalogue uses it."""

    ACTIVE = "active"
    RECURRENCE = "recurrence"
    REMISSION = "remission"
    RESOLVED = "resolved"


class Site(StrEnum):
    """Body regions the recommendations distinguish."""

    UPPER_LIMB = "upper-limb"
    LOWER_LIMB = "lower-limb"
    HAND = "hand"
    FOOT = "foot"
    TRUNK = "trunk"
    RETROPERITONEUM = "retroperitoneum-abdomen"
    UTERUS = "uterus"
    BROAD_LIGAMENT = "broad-ligament"
    HEAD_NECK = "head-neck"
    SKIN = "skin"
    CHEST = "chest"
    OTHER = "other"


class Depth(StrEnum):
    """Depth relative to the superficial fascia."""

    SUPERFICIAL = "superficial"
    DEEP = "deep"


class Margin(StrEnum):
    """Residual tumour classification after a resection."""

    R0 = "R0"
    R1 = "R1"
    R2 = "R2"


class ResectionKind(StrEnum):
    """How a tumour was removed."""

    WIDE = "wide"
    MARGINAL = "marginal"
    UNPLANNED = "unplanned"
    MOHS = "mohs"
    RE_EXCISION = "re-excision"
    EXCISION = "excision"


class BiopsyKind(StrEnum):
    """How tissue was sampled."""

    FNA = "fna"
    CORE = "core"
    INCISIONAL = "incisional"
    EXCISIONAL = "excisional"
    UNSPECIFIED = "unspecified"
    """A biopsy whose kind the record does not say (never counted as core or FNA)."""


class Adequacy(StrEnum):
    """What a biopsy's result allowed."""

    DIAGNOSTIC = "diagnostic"
    SUSPICIOUS = "suspicious"
    NON_DIAGNOSTIC = "non-diagnostic"


class ImagingKind(StrEnum):
    """Imaging studies the recommendations count."""

    MRI = "mri"
    CT_CHEST = "ct-chest"
    XRAY_CHEST = "xray-chest"
    PET_CT = "pet-ct"
    CT = "ct"
    ULTRASOUND = "ultrasound"


class IhcMarker(StrEnum):
    """Immunohistochemistry markers the catalogue names."""

    CD34 = "cd34"
    S100 = "s100"
    DESMIN = "desmin"
    HMB45 = "hmb45"
    MELAN_A = "melan-a"
    SMA = "sma"
    MYOD1 = "myod1"
    MYOGENIN = "myogenin"
    ALK = "alk"
    PAN_TRK = "pan-trk"


class AssayMethod(StrEnum):
    """How a molecular result was obtained."""

    RNA_NGS = "rna-ngs"
    DNA_PANEL = "dna-panel"
    IHC = "ihc"
    FISH = "fish"
    UNKNOWN = "unknown"


class Resection(_Frozen):
    """One excision of the tumour."""

    source: str
    kind: ResectionKind
    date: dt.date | None = None
    margin: Fact[Margin] | None = None
    from_text: bool = False


class Biopsy(_Frozen):
    """One biopsy of the tumour."""

    source: str
    kind: BiopsyKind
    date: dt.date | None = None
    adequacy: Fact[Adequacy] | None = None


class ImagingStudy(_Frozen):
    """One imaging study done (a Procedure, or a completed ServiceRequest)."""

    source: str
    kind: ImagingKind
    date: dt.date | None = None
    site: Site | None = None
    images_pelvis: bool = False
    """Its site names the pelvis (which ``site`` folds into the trunk): it images the pelvic
    organs."""


class Metastasis(_Frozen):
    """Distant spread: a secondary-malignancy Condition, an M1 category or a status finding."""

    source: str
    lung: bool | None
    """True for lung, False for another distant site, None when the site is not recorded."""
    date: dt.date | None = None
    nodal: bool = False
    """True for regional lymph-node spread (not distant)."""
    bone: bool = False
    """True for a secondary bone Condition (ICD-10-CM C79.5-, a fracture through a metastasis)."""
    clinical_status: ClinicalStatus | None = None
    """The metastasis Condition's own clinical status (None: not recorded, read as active)."""
    resected_by: str | None = None
    """``Procedure/<id>`` of a metastasectomy that removed it, when the record shows one."""
    resected_on: dt.date | None = None
    """That metastasectomy's date."""


class IhcResult(_Frozen):
    """One immunohistochemistry result."""

    marker: IhcMarker
    positive: bool | None
    source: str
    date: dt.date | None = None
    from_text: bool = False


class MolecularResult(_Frozen):
    """One gene-level result: a fusion, an amplification, a mutation."""

    gene: str
    """Concept id of the gene (``gene/ntrk1``, ``gene/mdm2``...)."""
    finding: str
    """``fusion``, ``amplification`` or ``variant``."""
    detected: bool | None
    method: AssayMethod
    source: str
    date: dt.date | None = None
    partner: str | None = None


class Tumour(_Frozen):
    """One tumour: a Condition that maps to an entity, with every fact attached to it."""

    id: str
    """The Condition's id."""
    source: str
    entity: Fact[Entity]
    behaviour: Behaviour | None = None
    verification: Verification | None = None
    clinical_status: ClinicalStatus | None = None
    diagnosis_date: dt.date | None = None
    site: Fact[Site] | None = None
    body_site: dict[str, Any] | None = None
    """The Condition's first bodySite CodeableConcept, copied into suggested orders."""
    laterality: str | None = None
    depth: Fact[Depth] | None = None
    size_cm: Fact[float] | None = None
    grade: Fact[int] | None = None
    necrosis: Fact[bool] | None = None
    infiltrative_growth: Fact[bool] | None = None
    high_nuclear_grade: Fact[bool] | None = None
    rms_component: Fact[bool] | None = None
    positive_nodes: Fact[bool] | None = None
    unresectable: Fact[bool] | None = None
    resections: tuple[Resection, ...] = ()
    biopsies: tuple[Biopsy, ...] = ()
    metastases: tuple[Metastasis, ...] = ()
    local_recurrences: tuple[Fact[dt.date | None], ...] = ()
    ihc: tuple[IhcResult, ...] = ()
    molecular: tuple[MolecularResult, ...] = ()
    records: tuple[str, ...] = ()
    """Every Condition recording this one lesion (``source`` first) when it is recorded more than
    once (problem list and encounter diagnosis, ICD-10-CM and SNOMED, a component); else empty."""
    grade_conflicts: tuple[Fact[int], ...] = ()
    """Different grades recorded on one date: the record does not settle which is right (the
    highest is used; ``case-data-incomplete`` names the conflict)."""

    @property
    def conditions(self) -> tuple[str, ...]:
        """``Condition/<id>`` of every record of this tumour, ``source`` first."""
        return self.records or (self.source,)

    @property
    def is_active(self) -> bool:
        """Active, recurrence or relapse, or no status at all (catalogue conventions)."""
        return self.clinical_status in (None, ClinicalStatus.ACTIVE, ClinicalStatus.RECURRENCE)


class Medication(_Frozen):
    """A systemic drug on record (MedicationRequest or MedicationStatement)."""

    source: str
    drug: str
    """Concept id (``drug/sirolimus``) or, when unknown, the text as written."""
    drug_class: DrugClass | None
    date: dt.date | None = None
    from_text: bool = False


class Fracture(_Frozen):
    """A recorded pathological fracture."""

    source: str
    date: dt.date | None = None
    site: Site | None = None
    splint: str | None = None
    """The external splint its site takes (terminology.md §5): ``long-leg`` below the femur,
    ``long-arm`` in the upper limb, ``site-planned`` at the femur, hip or pelvis; None when the
    site is unknown or names no one bone."""
    in_neoplastic_disease: bool = True
    from_text: bool = False


class OrderKind(StrEnum):
    """What a draft order is, for the order hooks."""

    DRUG = "drug"
    RADIOTHERAPY = "radiotherapy"
    INTERNAL_FIXATION = "internal-fixation"
    EXTERNAL_FIXATION = "external-fixation"
    IMAGING = "imaging"
    IHC_TEST = "ihc-test"
    MOLECULAR_TEST = "molecular-test"
    OTHER = "other"


class DraftOrder(_Frozen):
    """One draft order of an order hook, classified."""

    resource_type: str
    id: str | None
    kind: OrderKind
    label: str
    """What the order says, for card text (its code text or display)."""
    selected: bool = True
    """For order-select: whether it is among ``selections``; always True on order-sign."""
    drug: str | None = None
    drug_class: DrugClass | None = None
    imaging: ImagingKind | None = None
    site: Site | None = None
    images_pelvis: bool = False
    """An imaging order whose site names the pelvis (as :attr:`ImagingStudy.images_pelvis`)."""
    assay: AssayMethod | None = None
    marker: IhcMarker | None = None
    reason_refs: tuple[str, ...] = ()
    """Conditions its ``reasonReference`` names that are tumours of ours or their metastases
    (before the record is read: every Condition it names)."""
    reason_entities: tuple[Entity, ...] = ()
    """Knowledge-base entities its reasons name by code or text (``reasonCode``, or a Condition
    that is another record of one of our tumours)."""
    reason_generic: bool = False
    """A reason names a malignant neoplasm without histology or organ site that may be one of
    our tumours (``C48.0 Malignant neoplasm of retroperitoneum`` for a retroperitoneal PEComa)."""
    other_reasons: tuple[Fact[str], ...] = ()
    """Other diseases its reasons name (a cancer outside the knowledge base, an infection...)."""

    @property
    def names_our_tumours(self) -> bool:
        """Its reasons name a tumour of ours (by reference, by entity, or generically)."""
        return bool(self.reason_refs or self.reason_entities or self.reason_generic)

    @property
    def for_other_condition(self) -> bool:
        """Its reasons name only other diseases: the order is not about our tumours."""
        return bool(self.other_reasons) and not self.names_our_tumours

    @property
    def has_reason(self) -> bool:
        """It states a reason this service recognises (ours or another disease)."""
        return self.names_our_tumours or bool(self.other_reasons)

    @property
    def reference(self) -> str | None:
        """``Type/id`` for delete actions, or None when the draft has no id."""
        return f"{self.resource_type}/{self.id}" if self.id else None


class OtherCondition(_Frozen):
    """A disease on record other than the tumours of the knowledge base (another cancer, an
    infection, another disorder the value sets recognise)."""

    source: str
    name: str
    """The disease in words (the Condition's code text or display)."""
    cancer: bool
    """A malignant neoplasm outside the knowledge base."""
    active: bool
    """Clinical status active, recurrence or relapse (or absent)."""
    date: dt.date | None = None


class Patient(_Frozen):
    """The patient, as far as the rules need."""

    id: str
    age_years: int | None = None
    sex: str | None = None
    deceased: bool = False
    """``Patient.deceasedBoolean`` is true."""
    deceased_date: dt.date | None = None
    """``Patient.deceasedDateTime``, where recorded."""

    def is_deceased(self, today: dt.date) -> bool:
        """Dead on ``today``: deceasedBoolean true, or deceasedDateTime on or before today."""
        return self.deceased or (self.deceased_date is not None and self.deceased_date <= today)


class Case(_Frozen):
    """Everything the engine reads about one patient and one hook call."""

    patient: Patient
    tumours: tuple[Tumour, ...] = ()
    imaging: tuple[ImagingStudy, ...] = ()
    medications: tuple[Medication, ...] = ()
    radiotherapy: tuple[Fact[dt.date | None], ...] = ()
    referrals: tuple[Fact[dt.date | None], ...] = ()
    fractures: tuple[Fracture, ...] = ()
    draft_orders: tuple[DraftOrder, ...] = ()
    other_conditions: tuple[OtherCondition, ...] = ()
    """Other diseases on record (what order reasons may name instead of our tumours)."""
    unreadable_drafts: tuple[str, ...] = ()
    """Draft orders whose used fields could not be read (``Type/id``, or their position in
    ``draftOrders``): left out, named in the response."""
    unreadable: tuple[str, ...] = ()
    """``Type/id`` of selected resources that failed validation, or of medications that name
    their drug in no readable way (contract partial-data policy)."""

    @property
    def other_cancers(self) -> tuple[OtherCondition, ...]:
        """Active cancers on record outside the knowledge base."""
        return tuple(c for c in self.other_conditions if c.cancer and c.active)
