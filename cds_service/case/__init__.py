"""The internal case model and the mappers that build it from FHIR R4 resources."""
