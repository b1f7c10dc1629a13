"""Read gene-level results (fusions, amplifications) and the assay that produced them."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from cds_service.case.concepts import in_domain
from cds_service.case.concepts import positive
from cds_service.case.fhir_values import codeable_texts
from cds_service.case.model import AssayMethod
from cds_service.terminology import Terminology

JsonObject = dict[str, Any]

_ASSAYS = {"rna": AssayMethod.RNA_NGS, "dna": AssayMethod.DNA_PANEL, "fish": AssayMethod.FISH,
           "ihc": AssayMethod.IHC, "unknown": AssayMethod.UNKNOWN}
_AMPLIFIED_GENES = {"gene/mdm2", "gene/cdk4"}


def is_molecular(concepts: list[str], terminology: Terminology) -> bool:
    """True when an Observation's code concepts make it a gene-level result.

    NTRK fusion tests have no verified code: an Observation named "NTRK fusion" in words is
    one by the gene(s) its finding concept names.
    """
    return "obs/genomic-variant" in concepts or any(
        c.startswith("test/") or (c.startswith("finding/") and (
            terminology.attributes(c).get("genes") or terminology.attributes(c).get("gene")))
        for c in concepts)


def read_molecular(resource: JsonObject, concepts: list[str], detected: bool | None,
                   terminology: Terminology) -> list[tuple[str, Any, bool]]:
    """One ``molecular`` fact per gene result in a genomic-variant or test Observation."""
    genes = _component_genes(resource, terminology)
    texts = [resource.get("valueString"), *codeable_texts(resource.get("valueCodeableConcept"))]
    from_text = False
    panel: list[str] = []
    for concept in concepts:
        panel += [g for g in terminology.attributes(concept).get("genes") or ()]
        gene = terminology.attributes(concept).get("gene")
        genes += [gene] if gene else []
    if panel:  # "NTRK fusion" covers NTRK1/2/3; "NTRK3 fusion detected" names the one found
        named = [g for text in [*texts, *codeable_texts(resource.get("code"))]
                 for g in in_domain(positive(terminology.match_text(text, domain="gene")),
                                    "gene")]
        genes += [g for g in panel if g in named] or panel
    if not genes:
        for text in texts:
            genes += in_domain(positive(terminology.match_text(text, domain="gene")), "gene")
        from_text = bool(genes)
    genes = list(dict.fromkeys(genes))
    method = _method(resource, concepts, terminology)
    ntrk = [g for g in genes if g.startswith("gene/ntrk")]
    if ntrk:
        partner = next((g for g in genes if not g.startswith("gene/ntrk")), None)
        return [("molecular", {"gene": gene, "finding": "fusion", "detected": detected,
                               "method": method, "partner": partner}, from_text)
                for gene in ntrk]
    return [("molecular", {"gene": gene, "detected": detected, "method": method, "partner": None,
                           "finding": "amplification" if gene in _AMPLIFIED_GENES else "variant"},
             from_text) for gene in genes]


def most_informative(assays: Collection[AssayMethod | None]) -> AssayMethod | None:
    """The assay that says most of several named for one test or result: an RNA assay wins
    ("DNA and RNA hybrid-capture panel" sequences RNA), then a DNA panel, FISH, IHC, unknown."""
    return next((a for a in _PREFERENCE if a in assays), None)


_PREFERENCE = (AssayMethod.RNA_NGS, AssayMethod.DNA_PANEL, AssayMethod.FISH, AssayMethod.IHC,
               AssayMethod.UNKNOWN)


def _component_genes(resource: JsonObject, terminology: Terminology) -> list[str]:
    genes: list[str] = []
    for component in resource.get("component") or []:
        if not isinstance(component, dict):
            continue
        code = terminology.match_codeable_concept(component.get("code"), domain="obs")
        if "obs/gene-studied" in {m.concept for m in code}:
            value = terminology.match_codeable_concept(component.get("valueCodeableConcept"),
                                                       domain="gene")
            genes += in_domain(value, "gene")
    return genes


def _method(resource: JsonObject, concepts: list[str], terminology: Terminology) -> AssayMethod:
    found = [c for c in concepts if c.startswith("test/")]
    for field in ("method", "code"):
        found += in_domain(terminology.match_codeable_concept(resource.get(field),
                                                             domain=("test", "method")), "test")
    # The assay is often named only in the result or a note ("... detected by RNA-based NGS").
    texts = [n.get("text") for n in resource.get("note") or [] if isinstance(n, dict)]
    texts.append(resource.get("valueString"))
    notes = " ".join(t for t in texts if isinstance(t, str))
    found += in_domain(positive(terminology.match_text(notes, domain="test")), "test")
    assay = most_informative({_ASSAYS.get(str(terminology.attributes(c).get("assay")))
                              for c in found})
    if assay is not None and assay is not AssayMethod.UNKNOWN:
        return assay
    fish = in_domain(terminology.match_codeable_concept(resource.get("method"), domain="method"),
                     "method")
    return AssayMethod.FISH if "method/fish" in fish else AssayMethod.UNKNOWN
