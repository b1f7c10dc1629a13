"""Treatment rules from "Treatment of Perivascular Epithelioid Cell Tumor (PEComa)" (source PEC)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from cds_service.case.model import Case
from cds_service.case.model import ClinicalStatus
from cds_service.case.model import DraftOrder
from cds_service.case.model import DrugClass
from cds_service.case.model import Entity
from cds_service.case.model import Margin
from cds_service.case.model import Metastasis
from cds_service.case.model import OrderKind
from cds_service.case.model import Resection
from cds_service.case.model import Site
from cds_service.case.model import Tumour
from cds_service.guidelines.context import RuleContext
from cds_service.guidelines.conventions import current_metastases
from cds_service.guidelines.conventions import ever_received
from cds_service.guidelines.conventions import is_advanced
from cds_service.guidelines.conventions import is_resected
from cds_service.guidelines.conventions import latest_resection
from cds_service.guidelines.conventions import no_drug_on_record
from cds_service.guidelines.conventions import tumour_facts
from cds_service.guidelines.recommendation import Advice
from cds_service.guidelines.recommendation import UsedFact
from cds_service.guidelines.rules.common import CHEMOTHERAPY
from cds_service.guidelines.rules.common import TARGETED_AGENTS
from cds_service.guidelines.rules.common import describe
from cds_service.guidelines.rules.common import order_fact
from cds_service.guidelines.rules.common import order_subject
from cds_service.guidelines.rules.common import propose
from cds_service.guidelines.rules.common import tumours_for_order
from cds_service.vocabulary import Indicator

_DISEASE_FREE_DAYS = 365  # PEC: lung metastases after a disease-free interval of >= 1 year
_LABEL_MAX = 32


def _short_label(order: DraftOrder) -> str:
    """The draft order's label, cut to fit a summary."""
    label = order.label.strip() or "this order"
    return label if len(label) <= _LABEL_MAX else label[: _LABEL_MAX - 1].rstrip() + "…"


def _is_pecoma(tumour: Tumour) -> bool:
    return tumour.entity.value is Entity.PECOMA


def _first_dated_resection(tumour: Tumour) -> Resection | None:
    dated = [r for r in tumour.resections if r.date is not None]
    return min(dated, key=lambda r: r.date or dt.date.max) if dated else None


def _resection_fact(name: str, resection: Resection) -> UsedFact:
    return UsedFact(name, resection.kind.value, resection.date, (resection.source,))


def _metastasis_fact(metastasis: Metastasis) -> UsedFact:
    where = {True: "lung", False: "other distant site", None: "site not recorded"}[metastasis.lung]
    if metastasis.resected_by is not None:
        on = metastasis.resected_on.isoformat() if metastasis.resected_on else "date not recorded"
        where += f", resected ({on})"
        sources: tuple[str, ...] = (metastasis.source, metastasis.resected_by)
    else:
        sources = (metastasis.source,)
        if metastasis.clinical_status in (ClinicalStatus.REMISSION, ClinicalStatus.RESOLVED):
            where += f", {metastasis.clinical_status}"
    return UsedFact("regional lymph-node metastasis" if metastasis.nodal else "metastasis",
                    "lymph node" if metastasis.nodal else where, metastasis.date, sources)


def _advanced_facts(tumour: Tumour) -> list[UsedFact]:
    facts = [_metastasis_fact(m) for m in current_metastases(tumour)]
    if tumour.unresectable is not None and tumour.unresectable.value:
        facts.append(UsedFact.of("unresectable / locally advanced", tumour.unresectable, "yes"))
    return facts


def _months(start: dt.date, end: dt.date) -> int:
    return (end.year - start.year) * 12 + end.month - start.month - (end.day < start.day)


# --- surgery --------------------------------------------------------------------------------------

def _metachronous_lung(tumour: Tumour) -> tuple[Resection, dt.date] | None:
    """The primary resection and first lung metastasis date, when the disease-free interval holds
    and a lung metastasis is still present (not every one resected after its diagnosis, nor
    resolved).

    Conservative: any undated, nodal, non-lung or site-unknown metastasis blocks it.
    """
    primary = _first_dated_resection(tumour)
    if primary is None or primary.date is None or not tumour.metastases:
        return None
    if not any(m.lung is True for m in current_metastases(tumour)):
        return None
    if any(m.nodal or m.lung is not True or m.date is None for m in tumour.metastases):
        return None
    first_lung = min(m.date for m in tumour.metastases if m.date is not None)
    return (primary, first_lung) if (first_lung - primary.date).days >= _DISEASE_FREE_DAYS \
        else None


def pecoma_metastasectomy(case: Case, ctx: RuleContext) -> Iterator[Advice]:
    """A resected pecoma with lung-only metastases a year or more after the primary resection."""
    for tumour in case.tumours:
        found = _metachronous_lung(tumour) if _is_pecoma(tumour) else None
        if found is None:
            continue
        primary, first_lung = found
        assert primary.date is not None  # guaranteed by _metachronous_lung
        yield Advice(
            indicator=Indicator.INFO, subject=tumour.id,
            values={"tumour": describe(tumour),
                    "months": str(_months(primary.date, first_lung))},
            facts=(*tumour_facts(tumour), _resection_fact("primary resection", primary),
                   *(_metastasis_fact(m) for m in tumour.metastases)),
        )


# --- radiotherapy and systemic therapy ------------------------------------------------------------

def pecoma_adjuvant_radiotherapy(case: Case, ctx: RuleContext) -> Iterator[Advice]:
    """A resected pecoma with an R1/R2 margin or at the broad ligament, and no radiotherapy."""
    if case.radiotherapy:
        return
    for tumour in case.tumours:
        latest = latest_resection(tumour) if _is_pecoma(tumour) else None
        if latest is None:
            continue
        # "Uncertain" margins = a recorded R1/R2 of the latest resection; a margin that is not
        # recorded does not fire (unknown is not false; case-data-incomplete names the gap).
        margin = latest.margin.value if latest.margin is not None else None
        positive = margin in (Margin.R1, Margin.R2)
        broad = tumour.site is not None and tumour.site.value is Site.BROAD_LIGAMENT
        if not (positive or broad):
            continue
        yield Advice(
            indicator=Indicator.INFO, subject=tumour.id,
            variant="margin" if positive else "site",
            values={"tumour": describe(tumour), "margin": str(margin),
                    "site_note": " The broad ligament is also a high-risk site for PEComa."
                    if broad else ""},
            facts=(*tumour_facts(tumour), _resection_fact("latest resection", latest),
                   UsedFact.of("resection margin", latest.margin),
                   UsedFact("radiotherapy", "none on record")),
        )


def _spread_at_presentation(tumour: Tumour) -> list[UsedFact]:
    """Positive nodes, or metastases dated on or before the first resection (undated: not)."""
    found = []
    if tumour.positive_nodes is not None and tumour.positive_nodes.value:
        found.append(UsedFact.of("positive lymph nodes", tumour.positive_nodes, "yes"))
    # An undated resection could be the primary one: then "at presentation" cannot be dated.
    first = _first_dated_resection(tumour)
    if first is not None and first.date is not None and all(r.date for r in tumour.resections):
        found += [_metastasis_fact(m) for m in tumour.metastases
                  if m.date is not None and m.date <= first.date]
    return found


def pecoma_postoperative_therapy(case: Case, ctx: RuleContext) -> Iterator[Advice]:
    """A resected pecoma with positive nodes or metastasis at presentation."""
    for tumour in case.tumours:
        spread = _spread_at_presentation(tumour) if _is_pecoma(tumour) else []
        if not (spread and is_resected(tumour)):
            continue
        latest = latest_resection(tumour)
        assert latest is not None  # is_resected
        yield Advice(
            indicator=Indicator.INFO, subject=tumour.id,
            values={"tumour": describe(tumour)},
            facts=(*tumour_facts(tumour), _resection_fact("latest resection", latest), *spread),
        )


def _advanced_pecomas(case: Case) -> Iterator[Tumour]:
    # First-line treatment rules ignore history tumours (catalogue conventions).
    return (t for t in case.tumours if _is_pecoma(t) and t.is_active and is_advanced(t))


def pecoma_mtor_first_line(case: Case, ctx: RuleContext) -> Iterator[Advice]:
    """An active advanced pecoma and no mTOR inhibitor ever on record."""
    if ever_received(case, DrugClass.MTOR_INHIBITOR):
        return
    for tumour in _advanced_pecomas(case):
        yield Advice(
            indicator=Indicator.WARNING, subject=tumour.id,
            values={"tumour": describe(tumour)},
            facts=(*tumour_facts(tumour), *_advanced_facts(tumour),
                   no_drug_on_record(case, "mTOR inhibitor")),
        )


def _chemo_target(case: Case, order: DraftOrder) -> Tumour | None:
    """The advanced pecoma a chemotherapy or targeted-agent draft (not an mTOR inhibitor) is for,
    when every tumour it may be for is one."""
    if order.kind is not OrderKind.DRUG or order.drug_class not in CHEMOTHERAPY | TARGETED_AGENTS:
        return None
    targets = tumours_for_order(order, case.tumours, lambda t: t.is_active)
    advanced = {t.id for t in _advanced_pecomas(case)}
    return targets[0] if targets and all(t.id in advanced for t in targets) else None


def pecoma_chemo_before_mtor(case: Case, ctx: RuleContext) -> Iterator[Advice]:
    """A draft cytotoxic or targeted (not mTOR) order for an advanced pecoma, no mTOR on record."""
    if ever_received(case, DrugClass.MTOR_INHIBITOR):
        return
    for order in ctx.orders(case):
        tumour = _chemo_target(case, order)
        if tumour is None:
            continue
        uterine = tumour.site is not None and tumour.site.value is Site.UTERUS
        yield Advice(
            indicator=Indicator.WARNING,
            subject=order_subject(order), variant="uterine" if uterine else "default",
            values={"tumour": describe(tumour), "drug": _short_label(order),
                    "order": order.label,
                    "therapy": "chemotherapy" if order.drug_class in CHEMOTHERAPY
                    else "a targeted agent"},
            facts=(order_fact(order), *tumour_facts(tumour), *_advanced_facts(tumour),
                   no_drug_on_record(case, "mTOR inhibitor")),
            suggestions=(propose("sirolimus", "sirolimus", tumour, order),
                         propose("nab-sirolimus", "nab-sirolimus", tumour, order,
                                 recommended=False)),
            against_order=True,
        )


def pecoma_uterine_regimen(case: Case, ctx: RuleContext) -> Iterator[Advice]:
    """An active advanced pecoma of the uterus: the regimens reported for it."""
    for tumour in _advanced_pecomas(case):
        if tumour.site is not None and tumour.site.value is Site.UTERUS:
            yield Advice(
                indicator=Indicator.INFO, subject=tumour.id,
                values={"tumour": describe(tumour)},
                facts=(*tumour_facts(tumour), *_advanced_facts(tumour)),
            )
