"""``python -m lt_data.entry.cli`` (e.g. ``torchrun ... -m lt_data.entry.cli train``): the ``lt-data`` command line."""

from . import main

main()
