"""Layer 6, views: what a person reads: the report (``report/``), comparisons of runs (``compare/``),
preview pictures (docs/ARCHITECTURE.md)."""
