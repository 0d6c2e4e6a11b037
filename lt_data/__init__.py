"""lt-data: long-tailed semantic segmentation data."""

__version__ = "0.1.0"
