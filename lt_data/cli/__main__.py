"""``python -m lt_data.cli`` (e.g. ``torchrun ... -m lt_data.cli train``): the ``lt-data`` command line."""

from . import main

main()
