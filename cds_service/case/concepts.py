"""Reading terminology matches into case-model values: sites, entities, flags."""

from __future__ import annotations

from collections.abc import Collection
from collections.abc import Iterable
from typing import Any

from cds_service.case.model import Site
from cds_service.terminology import Match
from cds_service.terminology import Terminology

# Body-site concepts the catalogue names directly; others roll up through their ``region``.
_SITE_BY_CONCEPT = {
    "site/hand": Site.HAND,
    "site/foot": Site.FOOT,
    "site/skin": Site.SKIN,
    "site/uterus": Site.UTERUS,
    "site/broad-ligament": Site.BROAD_LIGAMENT,
    "site/retroperitoneum": Site.RETROPERITONEUM,
    "site/head-neck": Site.HEAD_NECK,
    "site/lung": Site.CHEST,
    "site/thorax": Site.CHEST,
}
_SITE_BY_REGION = {
    "upper-limb": Site.UPPER_LIMB,
    "lower-limb": Site.LOWER_LIMB,
    "trunk": Site.TRUNK,
    "abdomen": Site.RETROPERITONEUM,
    "pelvis": Site.TRUNK,
    "head-neck": Site.HEAD_NECK,
    "uterus": Site.UTERUS,
    "skin": Site.SKIN,
}
_SPECIFICITY = list(_SITE_BY_CONCEPT.values())


def positive(matches: Iterable[Match]) -> list[Match]:
    """The matches not stated absent."""
    return [m for m in matches if not m.negated]


def in_domain(matches: Iterable[Match], domain: str) -> list[str]:
    """Concept ids of ``domain`` among ``matches``, in order, without repeats."""
    seen: dict[str, None] = {}
    for match in matches:
        if match.concept.startswith(f"{domain}/"):
            seen.setdefault(match.concept)
    return list(seen)


def site_of(concepts: Iterable[str], terminology: Terminology) -> Site | None:
    """The most specific catalogue site among ``site/*`` concepts."""
    found: list[Site] = []
    for concept in concepts:
        if concept in _SITE_BY_CONCEPT:
            found.append(_SITE_BY_CONCEPT[concept])
        elif concept.startswith("site/"):
            region = terminology.attributes(concept).get("region")
            if region in _SITE_BY_REGION:
                found.append(_SITE_BY_REGION[region])
    if not found:
        return None
    return min(found, key=lambda s: _SPECIFICITY.index(s) if s in _SPECIFICITY else 99)


def names_pelvis(concepts: Collection[str]) -> bool:
    """Whether the ``site/*`` concepts name the pelvis itself: imaging of it images the pelvic
    organs, although :func:`site_of` folds the pelvis into the trunk. The buttock, groin and
    perineum (``site/buttock-groin``) roll up to the pelvis region too, but imaging them does not
    image the pelvic organs."""
    return "site/pelvis" in concepts


def splint_of(concepts: Iterable[str], terminology: Terminology) -> str | None:
    """The external splint the ``site/*`` concepts call for (their ``splint`` attribute), or None
    when none says or they disagree."""
    splints = {attribute(terminology, c, "splint") for c in concepts if c.startswith("site/")}
    splints.discard(None)
    return splints.pop() if len(splints) == 1 else None


def attribute(terminology: Terminology, concept: str, name: str) -> Any:
    """An attribute of a concept, None when absent."""
    return terminology.attributes(concept).get(name)


def only_text(matches: Iterable[Match]) -> bool:
    """True when every match came from text (no code)."""
    return all(m.via == "text" for m in matches)


def resource_sites(resource: dict[str, Any], code_matches: Iterable[Match],
                   terminology: Terminology) -> list[str]:
    """``site/*`` concepts of a resource: its own bodySite when that names one, else its code's.

    The bodySite is more precise than the site a code implies (C49.4 "abdomen" covers the
    abdominal wall, which is trunk, not retroperitoneum).
    """
    body_sites: list[str] = []
    for site in resource.get("bodySite") or []:
        body_sites += in_domain(positive(terminology.match_codeable_concept(site, domain="site")),
                                "site")
    return body_sites if site_of(body_sites, terminology) else in_domain(code_matches, "site")
