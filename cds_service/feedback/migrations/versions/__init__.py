"""The store's schema revisions, oldest first; ``cds-service migrate`` applies them."""
