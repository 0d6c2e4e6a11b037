"""lt-data inside other frameworks: :mod:`~lt_data.integrations.mmseg` (mmsegmentation losses)."""
