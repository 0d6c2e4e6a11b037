"""``python -m lt_data``: the ``lt-data`` command line."""

from .entry.cli import main

main()
