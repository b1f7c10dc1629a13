"""The URIs and keys of this service that EHRs and audits rely on (docs/cards.md, Identifiers)."""

RECOMMENDATION_SYSTEM = "https://sts-cds.org/fhir/CodeSystem/recommendation"
"""``card.source.topic.system``: the recommendation CodeSystem; codes are the catalogue ids."""

OVERRIDE_REASON_SYSTEM = "https://sts-cds.org/fhir/CodeSystem/override-reason"
"""``card.overrideReasons[].system``: why a clinician declined the advice."""

EXTENSION_KEY = "org.sts-cds.explanation"
"""Reverse-DNS key of the machine-readable explanation in card and response ``extension``."""
