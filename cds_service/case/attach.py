"""Attach findings to tumours: by reference, then by body site, then to the only tumour."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from collections.abc import Mapping

from cds_service.case.concepts import site_of
from cds_service.case.findings import Finding
from cds_service.case.model import Site
from cds_service.terminology import Terminology


def attach(findings: Iterable[Finding], tumour_sites: Mapping[str, Site | None],
           terminology: Terminology) -> dict[str, list[Finding]]:
    """Group findings by tumour ref; a finding that fits no single tumour is left out.

    A finding that names no Condition but names a Procedure (a margin ``partOf`` its resection)
    goes where that Procedure's own findings went; failing that, by body site or to the only
    tumour like any other.

    Args:
        findings: findings to attach.
        tumour_sites: ``Condition/<id>`` of each tumour -> its site (None when unknown).
        terminology: to read the findings' body sites.
    """
    refs = list(tumour_sites)
    items = list(findings)
    targets: dict[int, list[str]] = {}
    by_procedure: dict[str, list[str]] = defaultdict(list)
    for finding in items:
        if finding.procedures and not finding.targets:
            continue  # placed below, once the Procedures' own findings are
        targets[id(finding)] = target_tumours(finding, refs, tumour_sites, terminology)
        if finding.source.startswith("Procedure/"):
            by_procedure[finding.source] += targets[id(finding)]
    for finding in items:
        if id(finding) not in targets:
            named = [r for procedure in finding.procedures for r in by_procedure.get(procedure, ())]
            targets[id(finding)] = list(dict.fromkeys(named)) or target_tumours(
                finding, refs, tumour_sites, terminology)
    grouped: dict[str, list[Finding]] = defaultdict(list)
    for finding in items:  # record order, as the assembly reads it
        for ref in targets[id(finding)]:
            grouped[ref].append(finding)
    return grouped


def target_tumours(finding: Finding, refs: list[str], tumour_sites: Mapping[str, Site | None],
                   terminology: Terminology) -> list[str]:
    """The tumours one finding belongs to (zero, one, or the named ones)."""
    named = [ref for ref in finding.targets if ref in tumour_sites]
    if named:
        return named
    if finding.targets and not named:
        return []  # it names another Condition (a metastasis's own record, a non-tumour)
    if len(refs) == 1:
        return refs
    site = site_of(finding.sites, terminology)
    same_site = [ref for ref in refs if site is not None and tumour_sites[ref] == site]
    return same_site if len(same_site) == 1 else []
