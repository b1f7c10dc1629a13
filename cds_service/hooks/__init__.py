"""The CDS Hooks 2.0 wire format: models, service definitions, prefetch, registry and HTTP views."""
