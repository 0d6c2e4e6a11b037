"""Layer 4, stores: what an artifact was built from and the refusal of a stale one (``provenance``), the
zarr stores' life cycle (``zarr_store``), the tail bank (``bank/``), the cutmix subsets (``cutmix/``),
and a work directory's paste store opened and checked against it (``open``: :func:`open_store`)."""

from .open import check_store_buckets, open_store

__all__ = ["check_store_buckets", "open_store"]
