"""Rules from the case series of NTRK-rearranged spindle cell neoplasms (source NTRK)."""

from __future__ import annotations

from collections.abc import Iterator

from cds_service.case.model import AssayMethod
from cds_service.case.model import Case
from cds_service.case.model import DraftOrder
from cds_service.case.model import Entity
from cds_service.case.model import IhcMarker
from cds_service.case.model import MolecularResult
from cds_service.case.model import OrderKind
from cds_service.case.model import Tumour
from cds_service.guidelines.context import RuleContext
from cds_service.guidelines.conventions import NTRK_GENES
from cds_service.guidelines.conventions import current_metastases
from cds_service.guidelines.conventions import is_metastatic
from cds_service.guidelines.conventions import is_recurrent
from cds_service.guidelines.conventions import no_drug_on_record
from cds_service.guidelines.conventions import on_trk_inhibitor
from cds_service.guidelines.conventions import tumour_facts
from cds_service.guidelines.recommendation import Advice
from cds_service.guidelines.recommendation import UsedFact
from cds_service.guidelines.rules.common import order_fact
from cds_service.guidelines.rules.common import order_subject
from cds_service.guidelines.rules.common import propose
from cds_service.guidelines.rules.common import tumour_values
from cds_service.guidelines.rules.common import tumours_for_order
from cds_service.vocabulary import Hook
from cds_service.vocabulary import Indicator

_RNA_CANDIDATES = (Entity.SPINDLE_NOS, Entity.SFT, Entity.ASPS, Entity.NTRK)
_MISSABLE = (AssayMethod.IHC, AssayMethod.DNA_PANEL)
_METHOD_WORDS = {AssayMethod.IHC: "pan-TRK IHC", AssayMethod.DNA_PANEL: "DNA panel"}


def ntrk_fusion(tumour: Tumour) -> MolecularResult | None:
    """The NTRK1/2/3 fusion detected in the tumour, if any.

    Pan-TRK immunohistochemistry shows protein expression, not a fusion: it does not count.
    """
    return next((m for m in tumour.molecular if m.gene in NTRK_GENES and m.finding == "fusion"
                 and m.detected is True and m.method is not AssayMethod.IHC), None)


def _ntrk_tests(tumour: Tumour) -> list[UsedFact]:
    """The NTRK tests on record, each as a fact."""
    tests = [UsedFact(f"{m.gene.removeprefix('gene/').upper()} fusion",
                      f"{_result_word(m.detected)} by {_METHOD_WORDS.get(m.method, m.method)}",
                      m.date, (m.source,))
             for m in tumour.molecular if m.gene in NTRK_GENES and m.finding == "fusion"]
    tests += [UsedFact("pan-TRK immunohistochemistry", _result_word(r.positive, "positive"),
                       r.date, (r.source,)) for r in tumour.ihc if r.marker is IhcMarker.PAN_TRK]
    return tests


def _result_word(value: bool | None, yes: str = "detected") -> str:
    return "not recorded" if value is None else (yes if value else f"not {yes}")


def _tested_by(tumour: Tumour) -> str | None:
    """How NTRK was tested when RNA-based NGS is still needed (None when it is not).

    Any RNA-NGS fusion result counts as RNA testing done (even of another gene: the panel ran).
    An NTRK result by FISH or an unrecorded method is neither of the assays the source says can
    miss fusions, so it does not call for RNA testing either.
    """
    if not tumour.is_active or tumour.entity.value not in _RNA_CANDIDATES or ntrk_fusion(tumour):
        return None
    if any(m.method is AssayMethod.RNA_NGS and m.finding == "fusion" for m in tumour.molecular):
        return None
    methods = {m.method for m in tumour.molecular if m.gene in NTRK_GENES}
    if any(r.marker is IhcMarker.PAN_TRK for r in tumour.ihc):
        methods.add(AssayMethod.IHC)
    if not methods <= set(_MISSABLE):
        return None
    return " and ".join(_METHOD_WORDS[m] for m in _MISSABLE if m in methods) + " only" \
        if methods else "untested"


def ntrk_rna_ngs(case: Case, ctx: RuleContext) -> Iterator[Advice]:
    """A candidate tumour without RNA fusion testing (PV); a draft IHC or DNA-panel order (OSN)."""
    if ctx.hook is not Hook.PATIENT_VIEW:
        yield from _ntrk_orders(case, ctx)
        return
    for tumour in case.tumours:
        tested = _tested_by(tumour)
        if tested is None:
            continue
        yield Advice(
            indicator=Indicator.INFO, subject=tumour.id,
            values=tumour_values(tumour, tested=tested),
            facts=(*tumour_facts(tumour), *_ntrk_tests(tumour),
                   UsedFact("NTRK fusion testing", tested),
                   UsedFact("RNA-based fusion result", "none on record")),
            suggestions=(propose("rna-fusion-panel", "rna-fusion-panel", tumour),),
        )


def _is_missable_order(order: DraftOrder) -> bool:
    """A draft pan-TRK immunohistochemistry or DNA-panel order."""
    if order.kind is OrderKind.IHC_TEST:
        return order.marker is IhcMarker.PAN_TRK
    return order.kind is OrderKind.MOLECULAR_TEST and order.assay is AssayMethod.DNA_PANEL


def _ntrk_orders(case: Case, ctx: RuleContext) -> Iterator[Advice]:
    # The trigger asks for no RNA fusion assay "ordered or resulted": an RNA panel drafted in the
    # same request is being ordered now, so the advice is already followed and the card stays quiet.
    if any(o.kind is OrderKind.MOLECULAR_TEST and o.assay is AssayMethod.RNA_NGS
           for o in case.draft_orders):
        return
    for order in ctx.orders(case):
        if not _is_missable_order(order):
            continue
        tumour = next((t for t in tumours_for_order(order, case.tumours) if _tested_by(t)), None)
        if tumour is None:
            continue
        yield Advice(
            indicator=Indicator.WARNING, subject=order_subject(order),
            variant="order", values=tumour_values(tumour, order=order.label),
            facts=(order_fact(order), *tumour_facts(tumour), *_ntrk_tests(tumour),
                   UsedFact("RNA-based fusion result", "none on record")),
            suggestions=(propose("rna-fusion-panel", "rna-fusion-panel", tumour),),
            against_order=True,
        )


def _treatment_states(tumour: Tumour) -> list[str]:
    """Why the tumour needs systemic treatment: metastatic, unresectable or recurrent."""
    states = []
    if is_metastatic(tumour):
        states.append("metastatic")
    if tumour.unresectable is not None and tumour.unresectable.value:
        states.append("unresectable")
    if is_recurrent(tumour):
        states.append("recurrent")
    return states


def ntrk_trk_inhibitor(case: Case, ctx: RuleContext) -> Iterator[Advice]:
    """An active NTRK fusion-positive tumour, advanced or recurrent, with no TRK inhibitor."""
    if on_trk_inhibitor(case):
        return
    for tumour in case.tumours:
        fusion = ntrk_fusion(tumour) if tumour.is_active else None
        states = _treatment_states(tumour) if fusion else []
        if fusion is None or not states:
            continue
        gene = fusion.gene.removeprefix("gene/").upper()
        partner = (fusion.partner or "").removeprefix("gene/").upper()
        fused = f"{partner}::{gene}" if partner else gene
        yield Advice(
            indicator=Indicator.WARNING, subject=tumour.id,
            values=tumour_values(tumour, fusion=fused, state=" and ".join(states)),
            facts=(*tumour_facts(tumour),
                   UsedFact(f"{gene} fusion", f"{fused} detected", fusion.date, (fusion.source,)),
                   *(UsedFact("distant metastasis", "recorded", m.date, (m.source,))
                     for m in current_metastases(tumour)),
                   *([UsedFact.of("unresectable", tumour.unresectable, "yes")]
                     if "unresectable" in states else []),
                   *(UsedFact.of("local recurrence", r, "recorded")
                     for r in tumour.local_recurrences),
                   no_drug_on_record(case, "TRK inhibitor")),
        )
