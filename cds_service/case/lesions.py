"""One lesion recorded several times is one tumour: group tumour seeds, then merge each group.

recommendations.md "The patient as a whole (revised)", pinned: two primary-tumour Conditions are
one lesion when their entities are compatible (the same entity; or one is generic — sarcoma NOS,
spindle-nos, neoplasm NOS — or names a component or transformation of the other) and their sites
agree (the same site or one contains the other, laterality equal or unrecorded; an unrecorded site
agrees with any). The merged tumour takes the most certain verification, is active if any entry
is, takes the earliest onset, and names every Condition. Grade and size are findings: the tumour
assembly already takes the highest grade and the largest size of everything attached to it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from cds_service.case.concepts import attribute
from cds_service.case.concepts import site_of
from cds_service.case.findings import Finding
from cds_service.case.findings import TumourSeed
from cds_service.case.model import Site
from cds_service.terminology import Match
from cds_service.terminology import Terminology
from cds_service.terminology.codes import parse_icdo

_CERTAINTY = ("verification/confirmed", "verification/provisional", "verification/differential",
              "verification/unconfirmed")
"""Most certain first; an unrecorded verification never wins over a recorded one."""
_ACTIVITY = {"status/recurrence": 0, "status/relapse": 0, "status/active": 1, None: 2,
             "status/remission": 3, "status/resolved": 4, "status/inactive": 4}
"""Most active first: an absent clinicalStatus counts as active (catalogue conventions)."""
_BEHAVIOUR = ("behaviour/malignant", "behaviour/uncertain", "behaviour/benign")
_Value = TypeVar("_Value")


@dataclass(frozen=True)
class Lesion:
    """The seeds recording one lesion, in record order, and the one that names it.

    Attributes:
        seeds: every seed of the lesion, in record order.
        primary: the seed whose entity is the lesion's (most specific; ties: first recorded).
    """

    seeds: tuple[TumourSeed, ...]
    primary: TumourSeed

    @property
    def refs(self) -> tuple[str, ...]:
        """``Condition/<id>`` of every seed, the primary's first."""
        return (self.primary.ref, *(s.ref for s in self.seeds if s is not self.primary))


def own_entities(seed: TumourSeed, terminology: Terminology) -> tuple[str, ...]:
    """The entity concepts a seed names as a tumour: without the tissue its components are made of
    ("rhabdomyosarcoma component" names a component, not a rhabdomyosarcoma)."""
    made_of = {attribute(terminology, c, "component_entity") for c in seed.components}
    return tuple(c for c in seed.concepts if c not in made_of)


def generic_name(entities: Sequence[str], components: Iterable[str], matches: Sequence[Match],
                 terminology: Terminology) -> bool:
    """Whether a Condition names its entity only generically: a catch-all entity (spindle cell
    neoplasm NOS), a prefix rule (the ICD-10-CM C49 site class), or one of the entity's
    ``generic_codes`` / ``generic_terms`` (sarcoma NOS, SNOMED Sarcoma of soft tissue); or names
    no entity but is coded as a neoplasm of a soft-tissue site (neoplasm NOS).

    Args:
        entities: the ``entity/*`` concepts the Condition names.
        components: the component findings it names (their tissue is not its entity).
        matches: everything recognised in it.
        terminology: the value sets.
    """
    concept = _entity_named(entities, components, terminology)
    if concept is None:
        return _coded_as_neoplasm_nos(matches)
    if attribute(terminology, concept, "generic"):
        return True
    return _named_only_by_generic_codes_or_terms(concept, matches, terminology)


def _entity_named(entities: Sequence[str], components: Iterable[str],
                  terminology: Terminology) -> str | None:
    """The most specific entity a Condition names as a tumour (not the tissue of a component)."""
    made_of = {attribute(terminology, c, "component_entity") for c in components}
    return terminology.most_specific([e for e in entities if e not in made_of])


def _coded_as_neoplasm_nos(matches: Sequence[Match]) -> bool:
    """Neoplasm NOS: no entity, but a code that classes it as a neoplasm of a site these
    recommendations cover (ICD-10-CM D21, D48.1, C48.0...: a behaviour by prefix rule).

    A behaviour only in words ("malignant neoplasm of breast") is not enough, and an ICD-O
    histology the knowledge base does not know (8500/3 duct carcinoma) names another cancer, not
    a neoplasm NOS.
    """
    if any(m.via == "code" and m.code and parse_icdo(m.code) is not None for m in matches):
        return False
    return any(m.concept.startswith("behaviour/") and m.via != "text" for m in matches)


def _named_only_by_generic_codes_or_terms(concept: str, matches: Sequence[Match],
                                          terminology: Terminology) -> bool:
    """Every match of the entity is a prefix rule or one of its ``generic_codes`` /
    ``generic_terms`` (and there is at least one)."""
    codes = set(attribute(terminology, concept, "generic_codes") or ())
    terms = set(attribute(terminology, concept, "generic_terms") or ())
    found = [m for m in matches if m.concept == concept]
    return bool(found) and all(_generic_match(m, codes, terms) for m in found)


def _generic_match(match: Match, codes: set[str], terms: set[str]) -> bool:
    """One match names the entity generically: by prefix rule, generic code or generic term."""
    if match.via == "prefix":
        return True
    if match.via == "code":
        return (match.code or "").split("/")[0] in codes
    words = " ".join((match.matched or "").lower().replace("-", " ").replace(",", " ").split())
    return words in terms


def as_named(seed: TumourSeed, terminology: Terminology) -> TumourSeed:
    """The seed with only the entities it names as a tumour (see :func:`own_entities`)."""
    own = own_entities(seed, terminology)
    return dataclasses.replace(seed, concepts=own) if own != seed.concepts and own else seed


def group_lesions(seeds: Sequence[TumourSeed], entities: Mapping[str, str | None],
                  terminology: Terminology) -> list[Lesion]:
    """Group seeds into lesions (record order kept).

    A seed joins the first lesion whose every seed it is compatible with (the pinned test is
    pairwise; a lesion never holds two seeds that are not one lesion together).

    Args:
        seeds: the tumour seeds.
        entities: ``ref`` -> the seed's most specific entity concept (None: it names none and
            stays a lesion of its own, unless it names a component of a tumour).
        terminology: the value sets.
    """
    groups: list[list[TumourSeed]] = []
    for seed in seeds:
        home = None
        if _groupable(seed, entities, terminology):
            home = next((g for g in groups if all(
                _groupable(other, entities, terminology)
                and _one_lesion(seed, other, entities, terminology) for other in g)), None)
        if home is None:
            groups.append([seed])
        else:
            home.append(seed)
    return [Lesion(tuple(g), _primary(g, entities, terminology)) for g in groups]


def merge_seeds(lesion: Lesion, terminology: Terminology) -> TumourSeed:
    """One seed for the lesion: the primary's identity, every seed's facts merged as pinned."""
    seeds, primary = lesion.seeds, lesion.primary
    if len(seeds) == 1:
        return primary
    concepts, from_text = _merged_entity(seeds, terminology)
    return TumourSeed(
        ref=primary.ref,
        concepts=concepts,
        from_text=from_text,
        behaviour=_first_of(_BEHAVIOUR, (s.behaviour for s in seeds)),
        verification=_first_of(_CERTAINTY, (s.verification for s in seeds)),
        status=_most_active(seeds),
        diagnosis_date=_earliest_onset(seeds),
        sites=_union(s.sites for s in seeds),
        body_site=_own_or_first(primary.body_site, (s.body_site for s in seeds)),
        laterality=_own_or_first(primary.laterality, (s.laterality for s in seeds)),
        texts=_union(s.texts for s in seeds),
        recurrence_record=any(s.recurrence_record for s in seeds),
        components=_union(s.components for s in seeds),
        records=lesion.refs,
    )


def _merged_entity(seeds: Sequence[TumourSeed],
                   terminology: Terminology) -> tuple[tuple[str, ...], bool]:
    """The lesion's entity concepts, and whether only words name its most specific one."""
    whole = _naming_seeds(seeds, terminology)
    concepts = _union(own_entities(s, terminology) or s.concepts for s in whole)
    best = terminology.most_specific(concepts)
    return concepts, all(s.from_text for s in whole if best in s.concepts)


def _naming_seeds(seeds: Sequence[TumourSeed], terminology: Terminology) -> list[TumourSeed]:
    """The seeds the entity comes from: those that name it specifically, when any does (a
    generic copy, sarcoma NOS or spindle cell neoplasm NOS, never makes the tumour less
    specific)."""
    whole = [s for s in seeds if own_entities(s, terminology)] or list(seeds)
    return [s for s in whole if not s.generic] or whole


def _most_active(seeds: Sequence[TumourSeed]) -> str | None:
    return min((s.status for s in seeds), key=lambda status: _ACTIVITY.get(status, 2))


def _earliest_onset(seeds: Sequence[TumourSeed]) -> dt.date | None:
    return min((s.diagnosis_date for s in seeds if s.diagnosis_date is not None), default=None)


def _own_or_first(own: _Value | None, values: Iterable[_Value | None]) -> _Value | None:
    """The primary's own value, else the first one recorded."""
    return own or next((v for v in values if v), None)


def component_findings(lesion: Lesion, terminology: Terminology) -> list[Finding]:
    """What a Condition naming a component or transformation adds to its tumour: the finding it
    names, present (``rms`` for "rhabdomyosarcomatous component"), dated by that Condition."""
    found = []
    for seed in lesion.seeds:
        for concept in seed.components:
            kind = attribute(terminology, concept, "component")
            found.append(Finding(str(kind), True, seed.ref, seed.diagnosis_date,
                                 (lesion.primary.ref,), from_text=True))
    return found


def retarget(finding: Finding, aliases: Mapping[str, str]) -> Finding:
    """The finding naming each merged Condition by the ref of the tumour that absorbed it."""
    if not any(t in aliases for t in finding.targets):
        return finding
    targets = tuple(dict.fromkeys(aliases.get(t, t) for t in finding.targets))
    return dataclasses.replace(finding, targets=targets)


def _groupable(seed: TumourSeed, entities: Mapping[str, str | None],
               terminology: Terminology) -> bool:
    return entities.get(seed.ref) is not None or _component_only(seed, terminology) \
        or seed.generic


def _one_lesion(a: TumourSeed, b: TumourSeed, entities: Mapping[str, str | None],
                terminology: Terminology) -> bool:
    return _entities_agree(a, b, entities, terminology) and _sites_agree(a, b, terminology)


def _entities_agree(a: TumourSeed, b: TumourSeed, entities: Mapping[str, str | None],
                    terminology: Terminology) -> bool:
    if _component_only(a, terminology) or _component_only(b, terminology):
        return True  # it names a component or transformation of the other
    first, second = entities.get(a.ref), entities.get(b.ref)
    if _generic(a, first, terminology) or _generic(b, second, terminology):
        return True
    return first is not None and second is not None \
        and attribute(terminology, first, "entity") == attribute(terminology, second, "entity")


def _generic(seed: TumourSeed, entity: str | None, terminology: Terminology) -> bool:
    # Generic as the lesion's entity now stands (a morphology result may have named it since).
    if entity is None:
        return seed.generic  # neoplasm NOS
    if attribute(terminology, entity, "generic"):
        return True
    return seed.generic and entity == terminology.most_specific(own_entities(seed, terminology))


def _component_only(seed: TumourSeed, terminology: Terminology) -> bool:
    return bool(seed.components) and not own_entities(seed, terminology)


def _sites_agree(a: TumourSeed, b: TumourSeed, terminology: Terminology) -> bool:
    if a.laterality and b.laterality and a.laterality != b.laterality:
        return False
    first, second = site_of(a.sites, terminology), site_of(b.sites, terminology)
    if first is None or second is None or first == second:
        return True
    return _contains(first, a.sites, second, terminology) \
        or _contains(second, b.sites, first, terminology)


def _contains(inner: Site, concepts: Iterable[str], outer: Site, terminology: Terminology) -> bool:
    """Whether the region ``inner`` (read from ``concepts``) lies within ``outer``: the hand in the
    upper limb, the broad ligament in the pelvis (trunk), as the body-site data rolls them up."""
    regions = [attribute(terminology, c, "region") for c in concepts if c.startswith("site/")]
    rolled = site_of([f"site/{r}" for r in regions if isinstance(r, str)], terminology)
    return rolled == outer and inner != outer


def _primary(group: list[TumourSeed], entities: Mapping[str, str | None],
             terminology: Terminology) -> TumourSeed:
    # The first recorded seed that names the lesion's entity (the most specific entity of the
    # seeds naming it specifically; a generic or component seed only when no other names it).
    named = [s for s in group if not _component_only(s, terminology)] or group
    specific = [s for s in named
                if entities.get(s.ref) and not _generic(s, entities.get(s.ref), terminology)]
    best = terminology.most_specific([e for s in specific or named if (e := entities.get(s.ref))])
    return next((s for s in named if entities.get(s.ref) == best), named[0])


def _first_of(order: Sequence[str], values: Iterable[str | None]) -> str | None:
    present = [v for v in values if v is not None]
    return next((value for value in order if value in present), next(iter(present), None))


def _union(parts: Iterable[Iterable[str]]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(item for part in parts for item in part))
