"""Code normalisation and shape checks, one per code form (SNOMED, LOINC, ICD-10-CM, ICD-O-3...)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from cds_service.terminology.models import CodeForm

_VERHOEFF_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8),
    (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2),
    (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_VERHOEFF_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 6, 8, 7, 0),
    (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5),
    (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)

_SNOMED = re.compile(r"^[1-9][0-9]{5,17}$")
_LOINC = re.compile(r"^(LA|LL|LP)?([0-9]{1,7})-([0-9])$")
_ICD10CM = re.compile(r"^[A-Z][0-9][0-9A-Z][0-9A-Z]{0,4}$")
_ICDO3 = re.compile(r"^M?-?([0-9]{4})(?:[/-]?([0-9]))?$")
_DIGITS = re.compile(r"^[0-9]{1,9}$")
_CPT = re.compile(r"^[0-9]{4}[0-9FTU]$")
_HGNC = re.compile(r"^(?:HGNC:)?([0-9]{1,6})$")
_NCIT = re.compile(r"^(?:NCIT:)?(C[0-9]{1,7})$")
_SO = re.compile(r"^SO:[0-9]{7}$")
_FHIR_CODE = re.compile(r"^[a-z][a-z0-9-]*$")
_SPACES = re.compile(r"\s+")


def verhoeff_valid(digits: str) -> bool:
    """Return whether a digit string ends with a correct Verhoeff check digit (SNOMED CT ids)."""
    check = 0
    for position, char in enumerate(reversed(digits)):
        check = _VERHOEFF_D[check][_VERHOEFF_P[position % 8][int(char)]]
    return check == 0


def loinc_check_digit(number: str) -> int:
    """Return the LOINC mod-10 check digit of the digits before the hyphen."""
    total = 0
    for position, char in enumerate(reversed(number)):
        value = int(char) * (2 if position % 2 == 0 else 1)
        total += value // 10 + value % 10
    return (10 - total % 10) % 10


def system_key(uri: str) -> str:
    """Return the comparison key of a system URI: case, scheme and a trailing slash ignored."""
    key = uri.strip().lower().rstrip("/")
    for scheme in ("http://", "https://"):
        if key.startswith(scheme):
            return key[len(scheme) :]
    return key


@dataclass(frozen=True, slots=True)
class IcdoCode:
    """An ICD-O-3 morphology code split into its parts.

    Attributes:
        histology: the four-digit histology (cell type), e.g. ``8714``.
        behaviour: the behaviour digit, or None when the code has none.
    """

    histology: str
    behaviour: str | None

    @property
    def canonical(self) -> str:
        """The code written ``hhhh/b`` (or ``hhhh`` without a behaviour)."""
        return self.histology if self.behaviour is None else f"{self.histology}/{self.behaviour}"


def parse_icdo(code: str) -> IcdoCode | None:
    """Parse ``8714/3``, ``87143``, ``8714-3``, ``M-8714/3`` or ``8714``; None if not that shape."""
    match = _ICDO3.match(_SPACES.sub("", code).upper())
    if match is None:
        return None
    return IcdoCode(match.group(1), match.group(2))


def normalise_code(form: CodeForm, code: str) -> str | None:
    """Return the comparison form of ``code`` in a system of ``form``, or None if it cannot be one.

    ICD-10-CM codes lose their dot (``c49.22`` and ``C4922`` both become ``C4922``); ICD-O-3 becomes
    ``hhhh/b``; HGNC gains its ``HGNC:`` prefix; NCIt loses an ``NCIT:`` prefix.
    """
    text = code.strip()
    if form is CodeForm.ICD10CM:
        text = _SPACES.sub("", text).replace(".", "").upper()
        return text if _ICD10CM.match(text) else None
    if form is CodeForm.ICDO3:
        parsed = parse_icdo(text)
        return parsed.canonical if parsed else None
    if form is CodeForm.HGNC:
        hgnc = _HGNC.match(text.upper())
        return f"HGNC:{hgnc.group(1)}" if hgnc else None
    if form is CodeForm.NCIT:
        ncit = _NCIT.match(text.upper())
        return ncit.group(1) if ncit else None
    if form is CodeForm.FHIR_CODE:
        text = text.lower()
        return text if _FHIR_CODE.match(text) else None
    text = text.upper()
    pattern = {
        CodeForm.SNOMED: _SNOMED,
        CodeForm.LOINC: _LOINC,
        CodeForm.RXNORM: _DIGITS,
        CodeForm.CPT: _CPT,
        CodeForm.SO: _SO,
    }[form]
    return text if pattern.match(text) else None


def shape_problem(form: CodeForm, code: str) -> str | None:
    """Check a code shipped in our data: its shape and, where the system has one, its check digit.

    Returns:
        What is wrong, or None when the code passes.
    """
    normalised = normalise_code(form, code)
    if normalised is None:
        return f"{code!r} is not a {form.value} code"
    if form is CodeForm.SNOMED and not verhoeff_valid(normalised):
        return f"{code!r} fails the SNOMED CT Verhoeff check digit"
    if form is CodeForm.LOINC:
        loinc = _LOINC.match(normalised)
        # Answer (LA), list (LL) and part (LP) codes carry no mod-10 check digit of this kind.
        plain = loinc is not None and loinc.group(1) is None
        if plain and loinc and loinc_check_digit(loinc.group(2)) != int(loinc.group(3)):
            return f"{code!r} fails the LOINC mod-10 check digit"
    return None


def display_code(form: CodeForm, normalised: str) -> str:
    """Return a normalised code as people write it (ICD-10-CM regains its dot)."""
    if form is CodeForm.ICD10CM and len(normalised) > 3:
        return f"{normalised[:3]}.{normalised[3:]}"
    return normalised


def lookup_keys(form: CodeForm, code: str) -> tuple[str, ...]:
    """Return the index keys to try for an incoming code, most specific first.

    An ICD-O-3 code is tried as ``hhhh/b`` first (e.g. ``8857/0`` spindle cell lipoma) and then
    by its histology alone (``8714`` PEComa whatever the behaviour).
    """
    normalised = normalise_code(form, code)
    if normalised is None:
        return ()
    if form is CodeForm.ICDO3 and "/" in normalised:
        return (normalised, normalised.split("/", 1)[0])
    return (normalised,)
