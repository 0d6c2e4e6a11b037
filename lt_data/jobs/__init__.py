"""Layer 2, artifacts and work: whole-or-absent writes, locks, markers, file manifests; a function mapped
over samples in worker processes or on Dask. Nothing about what an artifact means (docs/ARCHITECTURE.md)."""
