"""Pydantic models of the terminology data files, so bad content is refused with its location."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated
from typing import Any
from typing import Literal

from pydantic import AfterValidator
from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import StrictBool
from pydantic import StrictInt
from pydantic import StrictStr

CONCEPT_ID = re.compile(r"^[a-z][a-z0-9-]*/[a-z0-9][a-z0-9-]*$")
"""Concept ids are kebab-case and namespaced by domain: ``entity/pecoma``."""

_SYNONYM = re.compile(r"^[^\sA-Z](?:[^A-Z]*[^\sA-Z])?$")


def _synonym(value: str) -> str:
    if not _SYNONYM.match(value) or "  " in value:
        raise ValueError("a synonym is lower case, without outer or double spaces")
    return value


NonEmptyStr = Annotated[StrictStr, Field(min_length=1)]
Synonym = Annotated[StrictStr, AfterValidator(_synonym)]


class CodeForm(StrEnum):
    """How a code system's codes are written: selects the normaliser and the shape check."""

    SNOMED = "snomed"
    LOINC = "loinc"
    ICD10CM = "icd10cm"
    ICDO3 = "icdo3"
    RXNORM = "rxnorm"
    CPT = "cpt"
    HGNC = "hgnc"
    NCIT = "ncit"
    SO = "so"
    FHIR_CODE = "fhir-code"


class DrugClass(StrEnum):
    """The drug classes the rules tell apart (attribute ``class`` of ``drug/*``)."""

    MTOR_INHIBITOR = "mtor-inhibitor"
    ANTHRACYCLINE = "anthracycline"
    ALKYLATING = "alkylating"
    TRK_INHIBITOR = "trk-inhibitor"
    CYTOTOXIC = "cytotoxic"
    TARGETED = "targeted"
    """A targeted agent that is neither an mTOR nor a TRK inhibitor (tyrosine-kinase inhibitors)."""


class EntityKey(StrEnum):
    """Tumour entities of recommendations.md (attribute ``entity`` of ``entity/*``)."""

    ASCMN = "ascmn"
    NTRK = "ntrk"
    PECOMA = "pecoma"
    ILMS = "ilms"
    STS = "sts"
    SFT = "sft"
    ASPS = "asps"
    SPINDLE_NOS = "spindle-nos"


class Region(StrEnum):
    """Body regions that body-site concepts roll up to (attribute ``region`` of ``site/*``)."""

    UPPER_LIMB = "upper-limb"
    LOWER_LIMB = "lower-limb"
    TRUNK = "trunk"
    ABDOMEN = "abdomen"
    PELVIS = "pelvis"
    HEAD_NECK = "head-neck"
    UTERUS = "uterus"
    SKIN = "skin"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class CodeRef(_Strict):
    """One code of a concept."""

    system: NonEmptyStr
    """Code system URI: the canonical one or an alias listed in systems.json."""
    code: NonEmptyStr
    """The code as the code system writes it."""
    source: NonEmptyStr
    """Source key of terminology.md §0 (optionally ``KEY:detail``) or ``project``."""
    display: NonEmptyStr | None = None
    """Our own short label (CPT descriptors are AMA text and are not copied)."""
    status: Literal["V", "V1"] = "V"
    """Verification status as in terminology.md: V1 (single source) codes are recognised, and
    emitted in a suggestion only where terminology.md section 5 names them."""
    shared: StrictBool = False
    """Allow this code to map to another concept of the same domain too."""


class PrefixRule(_Strict):
    """A code prefix: every code of ``system`` starting with it maps to the concept."""

    system: NonEmptyStr
    """Code system URI (canonical or alias)."""
    prefix: NonEmptyStr
    """The prefix as written in the code system, e.g. ``C49.`` or ``M84.5``."""
    source: NonEmptyStr
    """Source key, as for codes."""


class Concept(_Strict):
    """One concept: its codes, prefix rules, text synonyms and data attributes."""

    display: NonEmptyStr
    """Human-readable name, used in card explanations."""
    codes: list[CodeRef] = []
    """Exact codes."""
    prefixes: list[PrefixRule] = []
    """Prefix rules; within a domain the longest matching prefix wins."""
    synonyms: list[Synonym] = []
    """Whole-word phrases (lower case) recognised in text; spelling variants are automatic."""
    attributes: dict[str, Any] = {}
    """Optional data read by mappers and rules (behaviour, drug class, region, order codes...)."""
    note: NonEmptyStr | None = None
    """Why the concept is mapped the way it is."""


def _concept_id(value: str) -> str:
    if not CONCEPT_ID.match(value):
        raise ValueError("a concept id looks like 'domain/kebab-name'")
    return value


ConceptId = Annotated[StrictStr, AfterValidator(_concept_id)]


class ValueSetFile(_Strict):
    """One ``valuesets/*.json`` file."""

    description: NonEmptyStr
    """What the file holds."""
    concepts: dict[ConceptId, Concept]
    """Concepts by id."""


class SystemDef(_Strict):
    """A code system the service recognises."""

    uri: NonEmptyStr
    """Canonical URI; concepts name systems by it."""
    aliases: list[NonEmptyStr] = []
    """Other URIs real EHRs send for the same system (OIDs, variants)."""
    form: CodeForm
    """How codes are written (normaliser and shape check)."""
    match_display: StrictBool = True
    """Whether a coding's display may be read as text (false for HGNC: displays are unreliable)."""
    source: NonEmptyStr
    """Where the URI and aliases come from."""


class SystemsFile(_Strict):
    """``systems.json``: code systems and the source keys codes may cite."""

    description: NonEmptyStr
    """What the file holds."""
    sources: dict[str, NonEmptyStr]
    """Source key -> description (terminology.md §0 plus our own verifications)."""
    systems: dict[str, SystemDef]
    """Short name -> system."""


class NegationCues(_Strict):
    """Cue phrases (lower case) that decide whether a recognised phrase is negated or hedged."""

    pre: list[Synonym]
    """Negate a phrase that follows them in the same clause (``no``, ``without``...)."""
    post: list[Synonym]
    """Negate a phrase they follow closely in the same segment (``negative``, ``not detected``)."""
    post_terminal: list[Synonym]
    """Like ``post``, but only when they end the segment (``necrosis: no``)."""
    affirm: list[Synonym]
    """Affirm, and so stop a negation's reach (``positive``, ``present``)."""
    pseudo: list[Synonym]
    """Look like negations but are not (``not otherwise specified``, ``cannot be excluded``)."""
    hedge_pre: list[Synonym] = []
    """Hedge a phrase that follows them like a ``pre`` cue (``possible``, ``suspicious for``):
    the phrase is uncertain, neither present nor absent."""
    hedge_post: list[Synonym] = []
    """Hedge a phrase they follow closely in the same segment (``cannot be excluded``)."""


class LanguageFile(_Strict):
    """``language.json``: spelling variants and the negation model."""

    description: NonEmptyStr
    """What the file holds."""
    spelling: list[tuple[Synonym, Synonym]]
    """Pairs of interchangeable spellings inside words (British first)."""
    clause_breaks: list[Synonym]
    """Words that end a clause, like punctuation (``but``, ``however``)."""
    post_window_words: Annotated[StrictInt, Field(ge=1, le=20)]
    """How many words after a phrase a post-cue may stand."""
    negation: NegationCues
    """The cue lists."""


class ResourcesFile(_Strict):
    """``resources.json``: which concept domains make a resource of each type worth reading."""

    description: NonEmptyStr
    """What the file holds."""
    candidate_domains: dict[NonEmptyStr, list[NonEmptyStr]]
    """FHIR resource type -> domains; other types are checked against every domain."""
