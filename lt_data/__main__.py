"""``python -m lt_data``: the ``lt-data`` command line."""

from .cli import main

main()
