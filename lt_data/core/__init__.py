"""Layer 1, foundations: bucket and file names, one-line errors, atomic writes and JSON reads, paths and
fsspec URLs, generators, class tables, model outputs, Markdown/HTML/figure helpers, citations. Imports
nothing of lt_data above it (docs/ARCHITECTURE.md)."""
