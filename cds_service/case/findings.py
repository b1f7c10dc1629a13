"""What the mappers produce before assembly: tumour seeds and facts waiting to be attached."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from dataclasses import field
from typing import Any


@dataclass(frozen=True)
class TumourSeed:
    """A Condition that names a tumour entity (or may, once its morphology is known).

    Attributes:
        ref: ``Condition/<id>``.
        concepts: ``entity/*`` concepts recognised in its code, morphology extension or text.
        from_text: the entity was recognised only from text.
        behaviour: ``behaviour/*`` concept, if recorded.
        verification: ``verification/*`` concept, if recorded.
        status: ``status/*`` concept, if recorded.
        diagnosis_date: onset or recorded date.
        sites: ``site/*`` concepts of the code and bodySite.
        body_site: the first bodySite CodeableConcept, as JSON.
        laterality: ``laterality/*`` concept, if any.
        texts: the Condition's texts (code text, displays, notes) for text-borne facts.
        recurrence_record: the Condition records a local recurrence (its own code says so); it
            is folded into the primary tumour when the record has one.
        metastasis_record: the Condition names a tumour with its distant spread in words only
            ("leiomyosarcoma metastatic to lung"); when the record holds another primary tumour
            it is that tumour's metastasis, not a tumour of its own.
        components: ``finding/*`` concepts naming a component or transformation of a tumour
            (``finding/rms-component``) that the Condition states present.
        generic: its entity is named only generically (sarcoma NOS, the ICD-10-CM C49 site
            class, spindle cell neoplasm NOS): it may be a copy of any more specific diagnosis.
        records: every ``Condition/<id>`` merged into this seed (one lesion recorded several
            times), ``ref`` first; empty for a seed of one Condition.
    """

    ref: str
    concepts: tuple[str, ...]
    from_text: bool
    behaviour: str | None = None
    verification: str | None = None
    status: str | None = None
    diagnosis_date: dt.date | None = None
    sites: tuple[str, ...] = ()
    body_site: dict[str, Any] | None = None
    laterality: str | None = None
    texts: tuple[str, ...] = ()
    recurrence_record: bool = False
    metastasis_record: bool = False
    components: tuple[str, ...] = ()
    generic: bool = False
    records: tuple[str, ...] = ()


@dataclass(frozen=True)
class Finding:
    """A fact about a tumour, waiting to be attached to one.

    Attributes:
        kind: what it is (``size``, ``grade``, ``margin``, ``metastasis``, ``ihc``...).
        value: its value, typed by kind.
        source: ``Type/id`` it came from.
        date: when it was observed.
        targets: ``Condition/<id>`` references it names (focus, reasonReference, related
            condition); empty when it names none.
        from_text: recognised from free text.
        procedures: ``Procedure/<id>`` references it names (a margin's resection).
        sites: ``site/*`` concepts of its body site, to attach it when it names no Condition.
    """

    kind: str
    value: Any
    source: str
    date: dt.date | None = None
    targets: tuple[str, ...] = ()
    from_text: bool = False
    procedures: tuple[str, ...] = field(default=())
    sites: tuple[str, ...] = field(default=())
