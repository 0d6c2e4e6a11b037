"""Layer 7, entry points: the stage table, pipeline files, the ``lt-data`` commands (``cli/``), and the
integrations with other frameworks (``integrations/``) (docs/ARCHITECTURE.md)."""
