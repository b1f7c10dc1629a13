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

    Args:
        findings: findings to attach.
        tumour_sites: ``Condition/<id>`` of each tumour -> its site (None when unknown).
        terminology: to read the findings' body sites.
    """
    grouped: dict[str, list[Finding]] = defaultdict(list)
    refs = list(tumour_sites)
    for finding in findings:
        for ref in target_tumours(finding, refs, tumour_sites, terminology):
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
