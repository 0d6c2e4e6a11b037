"""Layer 5, training: pasting (``paste/``), the Dataset and its loader, the losses, the reference models
and trainer, metrics, run directories, options, devices, evaluation, the demo's generated data
(docs/ARCHITECTURE.md)."""
