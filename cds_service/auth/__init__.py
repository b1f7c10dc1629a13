"""Authentication of CDS clients by their signed JWT (CDS Hooks 2.0 §Trusting CDS Clients)."""
