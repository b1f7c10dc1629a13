"""Human-readable HTML pages of the knowledge base (``/recommendations``)."""
