"""FHIR R4 access: the REST client for ``fhirServer`` and parsing into fhir.resources R4B models."""
