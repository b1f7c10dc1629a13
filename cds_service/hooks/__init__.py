"""The CDS Hooks 2.0 wire format: models, parsing, services, prefetch, errors and HTTP views."""
