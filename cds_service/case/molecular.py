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
    genes, from_text = _genes(resource, concepts, terminology)
    method = _method(resource, concepts, terminology)
    ntrk = [g for g in genes if g.startswith("gene/ntrk")]
    if ntrk:
        return _fusions(ntrk, genes, detected, method, from_text)
    return _gene_results(genes, detected, method, from_text)


def _genes(resource: JsonObject, concepts: list[str],
           terminology: Terminology) -> tuple[list[str], bool]:
    """The genes a result is about, once each, and whether only its words name them."""
    genes = [*_component_genes(resource, terminology), *_concept_genes(concepts, terminology)]
    panel = _panel(concepts, terminology)
    if panel:
        genes += _panel_genes_named(resource, panel, terminology)
    if genes:
        return list(dict.fromkeys(genes)), False
    worded = _genes_in_words(_value_texts(resource), terminology)
    return list(dict.fromkeys(worded)), bool(worded)


def _concept_genes(concepts: list[str], terminology: Terminology) -> list[str]:
    """The gene each concept names (attribute ``gene``)."""
    genes = [terminology.attributes(concept).get("gene") for concept in concepts]
    return [gene for gene in genes if gene]


def _panel(concepts: list[str], terminology: Terminology) -> list[str]:
    """The genes the concepts name as a panel (attribute ``genes``: "NTRK fusion")."""
    return [g for concept in concepts for g in terminology.attributes(concept).get("genes") or ()]


def _panel_genes_named(resource: JsonObject, panel: list[str],
                       terminology: Terminology) -> list[str]:
    """The panel's genes the words name, else the whole panel: "NTRK fusion" covers
    NTRK1/2/3, "NTRK3 fusion detected" names the one found."""
    texts = [*_value_texts(resource), *codeable_texts(resource.get("code"))]
    named = _genes_in_words(texts, terminology)
    return [g for g in panel if g in named] or panel


def _value_texts(resource: JsonObject) -> list[Any]:
    return [resource.get("valueString"), *codeable_texts(resource.get("valueCodeableConcept"))]


def _genes_in_words(texts: list[Any], terminology: Terminology) -> list[str]:
    return [g for text in texts
            for g in in_domain(positive(terminology.match_text(text, domain="gene")), "gene")]


def _fusions(ntrk: list[str], genes: list[str], detected: bool | None, method: AssayMethod,
             from_text: bool) -> list[tuple[str, Any, bool]]:
    """One NTRK fusion fact per NTRK gene; another gene named is their partner."""
    partner = next((g for g in genes if not g.startswith("gene/ntrk")), None)
    return [("molecular", {"gene": gene, "finding": "fusion", "detected": detected,
                           "method": method, "partner": partner}, from_text)
            for gene in ntrk]


def _gene_results(genes: list[str], detected: bool | None, method: AssayMethod,
                  from_text: bool) -> list[tuple[str, Any, bool]]:
    """One amplification (MDM2, CDK4) or variant fact per gene."""
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
    """The assay of a result: the most informative one its tests name, else FISH when its
    method says so."""
    tests = _tests_named(resource, concepts, terminology)
    assay = most_informative({_ASSAYS.get(str(terminology.attributes(c).get("assay")))
                              for c in tests})
    if assay is not None and assay is not AssayMethod.UNKNOWN:
        return assay
    fish = in_domain(terminology.match_codeable_concept(resource.get("method"), domain="method"),
                     "method")
    return AssayMethod.FISH if "method/fish" in fish else AssayMethod.UNKNOWN


def _tests_named(resource: JsonObject, concepts: list[str], terminology: Terminology) -> list[str]:
    """The ``test/*`` concepts of the result's code concepts, method, code and prose."""
    found = [c for c in concepts if c.startswith("test/")]
    for field in ("method", "code"):
        found += in_domain(terminology.match_codeable_concept(resource.get(field),
                                                             domain=("test", "method")), "test")
    # The assay is often named only in the result or a note ("... detected by RNA-based NGS").
    texts = [n.get("text") for n in resource.get("note") or [] if isinstance(n, dict)]
    texts.append(resource.get("valueString"))
    notes = " ".join(t for t in texts if isinstance(t, str))
    found += in_domain(positive(terminology.match_text(notes, domain="test")), "test")
    return found
