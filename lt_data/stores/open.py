"""Opening a work directory's paste stores (``bank.zarr``, ``cutmix.zarr``) checked against it.

A store is refused when it was built from other statistics (its fingerprints: :mod:`lt_data.stores.provenance`)
or for a bucket whose classes have changed since (``lt-data buckets --refine``): either would paste old
objects, or the old tail, under today's class ids. Imports no torch.
"""

from __future__ import annotations

from ..core.names import STORES, PasteMode
from ..data.workdir import WorkDir


def open_store(mode: PasteMode, work):
    """The work directory's ``bank.zarr`` or ``cutmix.zarr``, its fingerprints checked against ``work``
    (one built from other statistics is refused). Imports no torch."""
    from .bank import TailBank
    from .cutmix import TailCutmix
    from ..core.errors import LtDataError

    if mode not in STORES:
        raise LtDataError(f"paste mode must be one of {', '.join(STORES)}, not {mode!r}")
    wd = WorkDir.of(work)
    store = (TailBank if mode == "bank" else TailCutmix).open(wd.store(mode), work=wd)
    check_store_buckets(store, wd, mode)
    return store


def check_store_buckets(store, work, mode: PasteMode) -> None:
    """Refuse a store built for a bucket (``--classes tail``, the default) whose classes differ from
    that bucket in ``work``'s buckets.json now (``lt-data buckets --refine`` moved classes since):
    it would paste the old tail and never the new one. One line saying how to rebuild."""
    from ..data.buckets import bucket_spec
    from ..core.errors import ArtifactError

    spec = ((store.params or {}).get("class_source") or {}).get("spec")
    names = bucket_spec(spec)
    if names is None:
        return  # built for explicit classes: the user's choice
    wd = WorkDir.of(work)
    now = wd.buckets().union(names)
    if now != sorted(int(c) for c in store.classes):
        raise ArtifactError(f"{store.url}: built for the {spec} classes {sorted(store.classes)}, but {spec} in "
                            f"{wd.buckets_file} is now {now} (refined since?); run `lt-data {mode} "
                            f"build {work}`, which rebuilds it")


__all__ = ["check_store_buckets", "open_store"]
