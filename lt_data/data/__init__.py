"""Layer 3, data: the datasets' official layouts, the training geometry, per-image class counts, the
buckets, the work directory, where classes sit in the frame, class-aware sampling, the exports
(docs/ARCHITECTURE.md)."""
