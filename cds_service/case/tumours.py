"""Assemble one tumour from its Condition and the findings attached to it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any
from typing import TypeVar

from cds_service.case.concepts import site_of
from cds_service.case.concepts import splint_of
from cds_service.case.findings import Finding
from cds_service.case.findings import TumourSeed
from cds_service.case.model import Adequacy
from cds_service.case.model import Behaviour
from cds_service.case.model import Biopsy
from cds_service.case.model import BiopsyKind
from cds_service.case.model import ClinicalStatus
from cds_service.case.model import Depth
from cds_service.case.model import Entity
from cds_service.case.model import Fact
from cds_service.case.model import Fracture
from cds_service.case.model import IhcMarker
from cds_service.case.model import IhcResult
from cds_service.case.model import Margin
from cds_service.case.model import Metastasis
from cds_service.case.model import MolecularResult
from cds_service.case.model import Resection
from cds_service.case.model import Tumour
from cds_service.case.model import Verification
from cds_service.terminology import Terminology

T = TypeVar("T")

# Each parametrised Fact class is built once here: pydantic keeps them only in a weak cache, so a
# Fact[Any] written inline would be rebuilt (≈ 2 ms) whenever the cyclic collector had freed it.
_AnyFact = Fact[Any]
_BoolFact = Fact[bool]
_EntityFact = Fact[Entity]

_BEHAVIOUR = {"behaviour/benign": Behaviour.BENIGN, "behaviour/uncertain": Behaviour.UNCERTAIN,
              "behaviour/malignant": Behaviour.MALIGNANT}
_VERIFICATION = {"verification/confirmed": Verification.CONFIRMED,
                 "verification/provisional": Verification.PROVISIONAL,
                 "verification/differential": Verification.DIFFERENTIAL,
                 "verification/unconfirmed": Verification.UNCONFIRMED}
_STATUS = {"status/active": ClinicalStatus.ACTIVE,
           "status/recurrence": ClinicalStatus.RECURRENCE,
           "status/relapse": ClinicalStatus.RECURRENCE,
           "status/remission": ClinicalStatus.REMISSION,
           "status/resolved": ClinicalStatus.RESOLVED,
           "status/inactive": ClinicalStatus.RESOLVED}
_ADEQUACY = {"result/diagnostic": Adequacy.DIAGNOSTIC, "result/benign": Adequacy.DIAGNOSTIC,
             "result/suspicious": Adequacy.SUSPICIOUS,
             "result/non-diagnostic": Adequacy.NON_DIAGNOSTIC}
_MARGIN = {"margin/r0": Margin.R0, "margin/r1": Margin.R1, "margin/r2": Margin.R2}
_DEPTH = {"depth/deep": Depth.DEEP, "depth/superficial": Depth.SUPERFICIAL}


def resolve_entity(seed: TumourSeed, morphology: list[Finding],
                   terminology: Terminology) -> Fact[Entity] | None:
    """The tumour's entity from its Condition and morphology results; None if not a tumour."""
    best = entity_concept(seed, morphology, terminology)
    if best is None:
        return None
    key = terminology.attributes(best).get("entity")
    sources = [*(seed.records or (seed.ref,))] + [f.source for f in morphology if best in f.value]
    # From text only when no source names the entity by a code.
    from_text = all([seed.from_text] * (best in seed.concepts)
                    + [f.from_text for f in morphology if best in f.value])
    return _EntityFact(value=Entity(str(key)), sources=tuple(dict.fromkeys(sources)),
                       date=seed.diagnosis_date, from_text=from_text)


def entity_concept(seed: TumourSeed, morphology: list[Finding],
                   terminology: Terminology) -> str | None:
    """The most specific entity concept of a seed and its morphology results, when it names an
    entity of the catalogue; None when it names none (not a tumour)."""
    concepts = [c for c in seed.concepts if c.startswith("entity/")]
    for finding in morphology:
        concepts += [c for c in finding.value if c.startswith("entity/")]
    best = terminology.most_specific(concepts)
    key = terminology.attributes(best).get("entity") if best else None
    return best if isinstance(key, str) and key in Entity._value2member_map_ else None


def build_tumour(seed: TumourSeed, entity: Fact[Entity], findings: list[Finding],
                 terminology: Terminology) -> Tumour:
    """One tumour with every attached fact; facts the record lacks stay None."""
    by_kind: dict[str, list[Finding]] = {}
    for finding in findings:
        by_kind.setdefault(finding.kind, []).append(finding)
    molecular = tuple(_molecular(by_kind.get("molecular", [])))
    site = site_of(seed.sites, terminology)
    concept = entity_concept(seed, by_kind.get("morphology", []), terminology)
    spindle = bool(concept and terminology.attributes(concept).get("spindle"))
    return Tumour(
        id=seed.ref.split("/", 1)[1],
        source=seed.ref,
        entity=_ntrk_if_fused(entity, molecular, spindle),
        behaviour=_behaviour(seed, by_kind.get("morphology", [])),
        verification=_VERIFICATION.get(seed.verification or ""),
        clinical_status=_STATUS.get(seed.status or ""),
        diagnosis_date=seed.diagnosis_date,
        site=_AnyFact(value=site, sources=(seed.ref,)) if site else None,
        body_site=seed.body_site,
        laterality=seed.laterality.split("/")[1] if seed.laterality else None,
        depth=_latest(by_kind.get("depth", []), lambda v: _DEPTH.get(v)),
        size_cm=_extreme(by_kind.get("size", [])),
        grade=_extreme(by_kind.get("grade", [])),
        necrosis=_any_present(by_kind.get("necrosis", [])),
        infiltrative_growth=_any_present(by_kind.get("infiltrative", [])),
        high_nuclear_grade=_any_present(by_kind.get("nuclear-grade", [])),
        rms_component=_any_present(by_kind.get("rms", [])),
        positive_nodes=_any_present(by_kind.get("nodes", [])),
        unresectable=_any_present(by_kind.get("unresectable", [])),
        resections=tuple(_resections(by_kind.get("resection", []), by_kind.get("margin", []))),
        biopsies=tuple(_biopsies(by_kind.get("biopsy", []))),
        metastases=tuple(_metastases(by_kind.get("metastasis", []))),
        local_recurrences=tuple(_recurrences(by_kind.get("recurrence", []))),
        ihc=tuple(_ihc(by_kind.get("ihc", []))),
        molecular=molecular,
        records=seed.records if len(seed.records) > 1 else (),
        grade_conflicts=tuple(_conflicts(by_kind.get("grade", []))),
    )


def fractures_of(findings: Iterable[Finding], tumours: list[Tumour],
                 terminology: Terminology) -> Iterable[Fracture]:
    """Pathological fractures on record (only where the patient has a tumour)."""
    if not tumours:
        return
    for finding in findings:
        if finding.kind == "fracture":
            yield Fracture(source=finding.source, date=finding.date,
                           site=site_of(finding.value["sites"], terminology),
                           splint=splint_of(finding.value["sites"], terminology),
                           in_neoplastic_disease=bool(finding.value["neoplastic"]),
                           from_text=finding.from_text)


def _fact(finding: Finding, value: T) -> Fact[T]:
    return _AnyFact(value=value, sources=(finding.source,), date=finding.date,
                    from_text=finding.from_text)


def _latest(findings: list[Finding], convert: Any) -> Fact[Any] | None:
    known = [(f, convert(f.value)) for f in findings if convert(f.value) is not None]
    if not known:
        return None
    finding, value = max(known, key=lambda item: item[0].date or dt.date.min)
    return _fact(finding, value)


def _extreme(findings: list[Finding]) -> Fact[Any] | None:
    # The largest size and the highest grade recorded: the conservative reading of the record.
    if not findings:
        return None
    finding = max(findings, key=lambda f: f.value)
    return _fact(finding, finding.value)


def _conflicts(findings: list[Finding]) -> Iterable[Fact[Any]]:
    # Two different grades recorded on one date: the highest is used, the conflict is named.
    by_date: dict[dt.date, dict[Any, Finding]] = {}
    for finding in findings:
        if finding.date is not None:
            by_date.setdefault(finding.date, {}).setdefault(finding.value, finding)
    for values in by_date.values():
        if len(values) > 1:
            yield from (_fact(f, value) for value, f in sorted(values.items()))


def _any_present(findings: list[Finding]) -> Fact[bool] | None:
    known = [f for f in findings if isinstance(f.value, bool)]
    if not known:
        return None
    present = [f for f in known if f.value]
    chosen = present or known
    return _BoolFact(value=bool(present), sources=tuple(dict.fromkeys(f.source for f in chosen)),
                     date=max((f.date for f in chosen if f.date), default=None),
                     from_text=all(f.from_text for f in chosen))


def _behaviour(seed: TumourSeed, morphology: list[Finding]) -> Behaviour | None:
    for finding in morphology:
        for concept in finding.value:
            if concept in _BEHAVIOUR:
                return _BEHAVIOUR[concept]
    return _BEHAVIOUR.get(seed.behaviour or "")


def _resections(found: list[Finding], margins: list[Finding]) -> Iterable[Resection]:
    ordered = sorted(_unique(found), key=lambda f: f.date or dt.date.min)
    for index, finding in enumerate(ordered):
        kind, outcome_margin = finding.value
        margin = None
        if outcome_margin and outcome_margin[0] in _MARGIN:
            margin = _fact(finding, _MARGIN[outcome_margin[0]])
        later = ordered[index + 1].date if index + 1 < len(ordered) else None
        for candidate in margins:
            if candidate.value in _MARGIN and _margin_belongs(candidate, finding, later,
                                                              len(ordered)):
                margin = _fact(candidate, _MARGIN[candidate.value])
        yield Resection(source=finding.source, kind=kind, date=finding.date, margin=margin,
                        from_text=finding.from_text)


def _margin_belongs(margin: Finding, resection: Finding, next_date: dt.date | None,
                    count: int) -> bool:
    if margin.procedures:
        return resection.source in margin.procedures
    if count == 1:
        return True
    if margin.date is None or resection.date is None:
        return False
    return resection.date <= margin.date and (next_date is None or margin.date < next_date)


def _biopsies(found: list[Finding]) -> Iterable[Biopsy]:
    for finding in _unique(found):
        kind, adequacy = finding.value
        yield Biopsy(source=finding.source, kind=BiopsyKind(kind), date=finding.date,
                     adequacy=_fact(finding, _ADEQUACY[adequacy]) if adequacy else None)


def _metastases(found: list[Finding]) -> Iterable[Metastasis]:
    # One record may say "secondary malignancy" and "of lung" at once: one metastasis, in the lung.
    by_source: dict[str, list[Finding]] = {}
    for finding in found:
        by_source.setdefault(finding.source, []).append(finding)
    for source, findings in by_source.items():
        places = [f.value["lung"] for f in findings]
        lung = True if True in places else (False if False in places else None)
        status = next((f.value["status"] for f in findings if f.value.get("status")), None)
        yield Metastasis(source=source, lung=lung, date=findings[0].date,
                         nodal=all(f.value["nodal"] for f in findings),
                         bone=any(f.value.get("bone") for f in findings),
                         clinical_status=_STATUS.get(status or ""))


def _recurrences(found: list[Finding]) -> Iterable[Fact[dt.date | None]]:
    # A "recurrence" clinical status carries no date; a dated recurrence record says the same.
    unique = _unique(found)
    dated = [f for f in unique if f.date is not None]
    for finding in dated or unique[:1]:
        yield _AnyFact(value=finding.date, sources=(finding.source,), date=finding.date,
                       from_text=finding.from_text)


def _ihc(found: list[Finding]) -> Iterable[IhcResult]:
    for finding in found:
        concept, positive = finding.value
        marker = concept.split("/")[1]
        if marker in IhcMarker._value2member_map_:
            yield IhcResult(marker=IhcMarker(marker), positive=positive, source=finding.source,
                            date=finding.date, from_text=finding.from_text)


def _molecular(found: list[Finding]) -> Iterable[MolecularResult]:
    for finding in found:
        value = finding.value
        yield MolecularResult(gene=value["gene"], finding=value["finding"],
                              detected=value["detected"], method=value["method"],
                              source=finding.source, date=finding.date, partner=value["partner"])


def _ntrk_if_fused(entity: Fact[Entity], molecular: tuple[MolecularResult, ...],
                   spindle: bool) -> Fact[Entity]:
    # An NTRK1/2/3 fusion reported present makes a spindle cell tumour an ntrk tumour. Whether
    # the tumour is a spindle cell one is an attribute of its most specific concept (8801/3
    # spindle cell sarcoma folds into the entity sts, which as a whole is not).
    fused = [m for m in molecular if m.finding == "fusion" and m.detected]
    if not fused or not spindle or entity.value is Entity.NTRK:
        return entity
    return _EntityFact(value=Entity.NTRK, sources=(*entity.sources, *(m.source for m in fused)),
                       date=entity.date, from_text=entity.from_text)


def _unique(findings: list[Finding]) -> list[Finding]:
    seen: dict[tuple[str, str], Finding] = {}
    for finding in findings:
        seen.setdefault((finding.source, repr(finding.value)), finding)
    return list(seen.values())
