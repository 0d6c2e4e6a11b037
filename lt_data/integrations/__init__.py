"""lt-data inside other frameworks: :mod:`~lt_data.integrations.mmseg` (mmsegmentation losses and
data-pipeline paste transforms), :mod:`~lt_data.integrations.albumentations` (``BankPaste``), both over
the per-image core :mod:`~lt_data.integrations.image_paste`."""
