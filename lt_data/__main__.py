"""``python -m lt_data``: the ``lt-data`` command line."""

from .cli import app

app(prog_name="lt-data")
