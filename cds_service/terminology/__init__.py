"""Terminology: value sets as data files under this package, and one lookup API over them.

``load_terminology()`` reads ``systems.json`` (code systems and their aliases),
``language.json`` (spelling variants, negation and hedge cues), ``resources.json`` (which domains
make a resource worth reading) and ``valuesets/*.json`` (concepts with codes, prefix rules, text
synonyms and attributes), validates them and builds the indexes once. Mapping and rule code asks
the returned ``Terminology`` and never holds a code literal. Free text is read up to
``MAX_TEXT_CHARS`` characters per string.
"""

from cds_service.terminology.limits import MAX_TEXT_CHARS
from cds_service.terminology.loader import DATA_DIR
from cds_service.terminology.loader import TerminologyError
from cds_service.terminology.loader import load_terminology
from cds_service.terminology.lookup import Terminology
from cds_service.terminology.records import ConceptCode
from cds_service.terminology.records import Match
from cds_service.terminology.records import Morphology
from cds_service.terminology.records import UnknownConceptError
from cds_service.terminology.records import Via

__all__ = [
    "DATA_DIR",
    "MAX_TEXT_CHARS",
    "ConceptCode",
    "Match",
    "Morphology",
    "Terminology",
    "TerminologyError",
    "UnknownConceptError",
    "Via",
    "load_terminology",
]
