"""The data-quality rule: missing facts that keep recommendations silent, unreadable resources."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from functools import cache
from typing import NamedTuple

from cds_service.case.model import Case
from cds_service.case.model import Entity
from cds_service.case.model import Tumour
from cds_service.guidelines.catalogue import load_catalogue
from cds_service.guidelines.context import RuleContext
from cds_service.guidelines.conventions import ENTITY_NAMES
from cds_service.guidelines.conventions import NTRK_GENES
from cds_service.guidelines.conventions import PecomaRisk
from cds_service.guidelines.conventions import chest_cts_since_diagnosis
from cds_service.guidelines.conventions import has_rms_component
from cds_service.guidelines.conventions import is_advanced
from cds_service.guidelines.conventions import is_deep
from cds_service.guidelines.conventions import is_high_grade
from cds_service.guidelines.conventions import is_inadequate
from cds_service.guidelines.conventions import is_large
from cds_service.guidelines.conventions import is_recurrent
from cds_service.guidelines.conventions import is_sarcoma
from cds_service.guidelines.conventions import last_surgery
from cds_service.guidelines.conventions import on_trk_inhibitor
from cds_service.guidelines.conventions import pecoma_features
from cds_service.guidelines.conventions import pecoma_risk
from cds_service.guidelines.conventions import tumour_facts
from cds_service.guidelines.recommendation import Advice
from cds_service.guidelines.recommendation import UsedFact
from cds_service.guidelines.rules.common import surgery_words
from cds_service.guidelines.rules.common import where
from cds_service.vocabulary import Indicator

Missing = Callable[[Tumour, Case], bool]
"""True when the fact is missing and the tumour's known facts leave the blocked ids possible."""


class Gap(NamedTuple):
    """One row of the gap table.

    Attributes:
        fact: the missing fact, as the card names it.
        missing: when the gap counts.
        blocks: the recommendation ids it keeps from firing.
    """

    fact: str
    missing: Missing
    blocks: tuple[str, ...]


def _possible(value: bool | None) -> bool:
    return value is not False


def _rt_open(tumour: Tumour, case: Case) -> bool:
    """sts-adjuvant-radiotherapy could still fire: resected sarcoma, not pecoma, no RT on record."""
    return is_sarcoma(tumour) and tumour.entity.value is not Entity.PECOMA \
        and last_surgery(tumour) is not None and not case.radiotherapy \
        and (tumour.entity.value is not Entity.ILMS or _possible(has_rms_component(tumour)))


def _rt_gap(tumour: Tumour, case: Case, attribute: str) -> bool:
    others = {"grade": is_high_grade(tumour), "size_cm": is_large(tumour), "depth": is_deep(tumour)}
    others.pop(attribute)
    return getattr(tumour, attribute) is None and _rt_open(tumour, case) \
        and all(_possible(value) for value in others.values())


def _staging_open(tumour: Tumour, case: Case) -> bool:
    """sts-chest-ct-staging could still fire: an active sarcoma with no chest CT since diagnosis."""
    return tumour.is_active and is_sarcoma(tumour) and not chest_cts_since_diagnosis(case, tumour)


def _staging_gap(tumour: Tumour, case: Case, attribute: str) -> bool:
    """A grade, size or rms gap blocks chest staging unless another criterion already fires it."""
    entity = tumour.entity.value
    criteria = {"grade": is_high_grade(tumour), "size_cm": is_large(tumour),
                "rms_component": has_rms_component(tumour) if entity is Entity.ILMS else False}
    criteria.pop(attribute)
    return getattr(tumour, attribute) is None and entity is not Entity.PECOMA \
        and _staging_open(tumour, case) and not any(value is True for value in criteria.values())


def _pecoma_gap(feature: str, *, staging: bool = False) -> Missing:
    def missing(tumour: Tumour, case: Case) -> bool:
        # Stratification decides nothing in advanced disease (catalogue, revised).
        return tumour.entity.value is Entity.PECOMA and pecoma_features(tumour)[feature] is None \
            and pecoma_risk(tumour) is PecomaRisk.INDETERMINATE \
            and (_staging_open(tumour, case) if staging else not is_advanced(tumour))
    return missing


def _margin_gap(tumour: Tumour, case: Case) -> bool:
    surgery = last_surgery(tumour)
    return surgery is not None and is_inadequate(surgery) is None


def _resection_date_gap(tumour: Tumour, case: Case) -> bool:
    surgery = last_surgery(tumour)
    return surgery is not None and surgery.date is None


_NTRK_CANDIDATES = (Entity.NTRK, Entity.SPINDLE_NOS, Entity.SFT, Entity.ASPS)


def _fusion_gap(tumour: Tumour, case: Case) -> bool:
    """No NTRK fusion result for an advanced or recurrent candidate with no TRK inhibitor."""
    known = any(m.gene in NTRK_GENES and m.finding == "fusion" and m.detected is not None
                for m in tumour.molecular)
    return tumour.entity.value in _NTRK_CANDIDATES and not known \
        and (is_advanced(tumour) or is_recurrent(tumour)) and not on_trk_inhibitor(case)


def _ilms_rms_gap(tumour: Tumour, case: Case) -> bool:
    return tumour.entity.value is Entity.ILMS and tumour.rms_component is None


def _ilms_rms_rt_gap(tumour: Tumour, case: Case) -> bool:
    return _ilms_rms_gap(tumour, case) and _rt_open(tumour, case) \
        and all(_possible(v) for v in (is_high_grade(tumour), is_deep(tumour), is_large(tumour)))


_RT = "sts-adjuvant-radiotherapy"
_STAGING = "sts-chest-ct-staging"
_PEC_RISK = "pecoma-risk-stratification"

GAPS: tuple[Gap, ...] = (
    Gap("histologic grade", lambda t, c: _rt_gap(t, c, "grade"), (_RT,)),
    Gap("histologic grade", lambda t, c: _staging_gap(t, c, "grade"), (_STAGING,)),
    Gap("size", lambda t, c: _rt_gap(t, c, "size_cm"), (_RT,)),
    Gap("size", lambda t, c: _staging_gap(t, c, "size_cm"), (_STAGING,)),
    Gap("size", _pecoma_gap("size > 5 cm"), (_PEC_RISK,)),
    Gap("size", _pecoma_gap("size > 5 cm", staging=True), (_STAGING,)),
    Gap("depth", lambda t, c: _rt_gap(t, c, "depth"), (_RT,)),
    Gap("margin of the latest resection", _margin_gap, ("sts-reexcision",)),
    Gap("date of the latest resection", _resection_date_gap, ("sts-surveillance-plan",)),
    *(Gap(feature, _pecoma_gap(feature), (_PEC_RISK,)) for feature in
      ("necrosis", "infiltrative growth", "high nuclear grade and cellularity")),
    *(Gap(feature, _pecoma_gap(feature, staging=True), (_STAGING,)) for feature in
      ("necrosis", "infiltrative growth", "high nuclear grade and cellularity")),
    Gap("rhabdomyosarcomatous component", _ilms_rms_gap,
        ("ilms-rt-chemo-reserved", "ilms-rms-transformation")),
    Gap("rhabdomyosarcomatous component",
        lambda t, c: _ilms_rms_gap(t, c) and _staging_gap(t, c, "rms_component"), (_STAGING,)),
    Gap("rhabdomyosarcomatous component", _ilms_rms_rt_gap, (_RT,)),
    Gap("NTRK fusion status", _fusion_gap, ("ntrk-trk-inhibitor",)),
)
"""Fact, when its absence blocks guidance, and the blocked ids; a card merges rows of one fact."""


def tumour_gaps(tumour: Tumour, case: Case) -> dict[str, tuple[str, ...]]:
    """Each missing fact of ``tumour`` with the recommendation ids it blocks, in table order."""
    gaps: dict[str, tuple[str, ...]] = {}
    for gap in GAPS:
        if gap.missing(tumour, case):
            known = gaps.get(gap.fact, ())
            gaps[gap.fact] = known + tuple(i for i in gap.blocks if i not in known)
    return gaps


def data_incomplete(case: Case, ctx: RuleContext) -> Iterator[Advice]:
    """Per tumour, the facts whose absence blocks guidance; per record, the unreadable resources."""
    for tumour in case.tumours:
        gaps, entity = tumour_gaps(tumour, case), ENTITY_NAMES[tumour.entity.value]
        conflicts = _grade_conflict(tumour)
        if gaps or conflicts:
            names = list(gaps) + [_CONFLICT] * bool(conflicts)
            yield Advice(
                indicator=Indicator.INFO, subject=tumour.id,
                values={"entity": entity, "where": where(tumour),
                        "gaps": "\n".join(filter(None, (_gap_lines(gaps), conflicts))),
                        "facts": _short_list(names, _SUMMARY_BUDGET - len(entity))},
                facts=(*tumour_facts(tumour), *_context_facts(tumour),
                       *(UsedFact(fact, "not recorded") for fact in gaps),
                       *(UsedFact(_CONFLICT, f"grade {g.value}", g.date, g.sources)
                         for g in tumour.grade_conflicts)),
            )
    if case.unreadable:
        yield Advice(
            indicator=Indicator.INFO, subject="record",
            variant="unreadable",
            values={"count": str(len(case.unreadable)),
                    "resources": "\n".join(f"- `{ref}`" for ref in case.unreadable)},
            facts=tuple(UsedFact("unreadable resource", "could not be read, skipped",
                                 sources=(ref,)) for ref in case.unreadable),
        )


_CONFLICT = "histologic grade (conflicting records)"


def _grade_conflict(tumour: Tumour) -> str:
    """Two different grades recorded on one date (one lesion recorded twice): named, not settled."""
    if not tumour.grade_conflicts:
        return ""
    found = ", ".join(f"grade {g.value} ({', '.join(g.sources)}, {g.date})"
                      for g in tumour.grade_conflicts)
    return (f"- **{_CONFLICT}** — recorded on the same date as {found}; the highest is used "
            "until the record settles which is right")


@cache
def _titles() -> dict[str, str]:
    return {spec.id: spec.title for spec in load_catalogue()}


def _gap_lines(gaps: dict[str, tuple[str, ...]]) -> str:
    titles = _titles()
    return "\n".join(
        f"- **{fact}** — blocks: " + "; ".join(f"{titles.get(i, i)} (`{i}`)" for i in blocked)
        for fact, blocked in gaps.items())


_SUMMARY_BUDGET = 100
"""Characters the summary leaves for the entity name and the list of missing facts."""


def _short_list(names: list[str], limit: int) -> str:
    """Names joined for a summary, shortened to "a, b and 2 more" to stay within ``limit``."""
    for shown in range(len(names), 0, -1):
        rest = len(names) - shown
        text = ", ".join(names[:shown]) + (f" and {rest} more" if rest else "")
        if len(text) <= limit or shown == 1:
            return text
    return ""


def _context_facts(tumour: Tumour) -> list[UsedFact]:
    facts = [UsedFact.of(name, fact) for name, fact in
             (("histologic grade", tumour.grade), ("size (cm)", tumour.size_cm),
              ("depth", tumour.depth)) if fact is not None]
    surgery = last_surgery(tumour)
    if surgery is not None:
        facts.append(UsedFact("latest resection", surgery_words(surgery, tumour), surgery.date,
                              (surgery.source,)))
    return facts
