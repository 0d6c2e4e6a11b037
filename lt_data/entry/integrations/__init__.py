"""lt-data inside other frameworks: :mod:`~lt_data.entry.integrations.mmseg` (mmsegmentation losses and
data-pipeline paste transforms), :mod:`~lt_data.entry.integrations.albumentations` (``BankPaste``), both over
the per-image core :mod:`~lt_data.entry.integrations.image_paste`."""
