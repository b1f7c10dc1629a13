"""CDS Hooks 2.0 service that puts soft-tissue tumour guidance into the EHR."""

__version__ = "0.1.0"
