"""Provenance: every artifact records what it was built from (content fingerprints of the statistics,
the samples and the class table, never timestamps), and every reader compares them with the work
directory it is used with, refusing one built from other inputs with a message naming what differs
and how to rebuild it (docs/STORE.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..data.buckets import bucket_spec, parse_class_ids
from ..core.classes import ClassTable
from ..core.errors import ArtifactError, LtDataError
from ..core.io import file_sha256
from ..data.workdir import WorkDir


def select_classes(spec: str | Sequence[int] | None, table: ClassTable, work: str | Path
                   ) -> tuple[list[int], dict]:
    """The classes a store is built for (``--classes``): a bucket name (``tail``, ``middle``, ``head``,
    joined with ``+``; read from ``WORK/buckets.json``, which must belong to ``work``'s statistics), or
    ids / names as :func:`lt_data.data.buckets.parse_class_ids` reads them. ``None`` means ``tail``.

    Returns (sorted ids, record); the record says where the ids came from (for the store's attributes).
    """
    if spec is None:
        spec = "tail"
    record: dict = {"spec": spec if isinstance(spec, str) else [int(c) for c in spec]}
    names = bucket_spec(spec)
    if names is not None:
        work = WorkDir.of(work)
        ids = work.buckets().union(names)
        record["buckets_fingerprint"] = file_sha256(work.buckets_file)[:16]
    else:
        ids = parse_class_ids(spec, table.names, "--classes")
    if not ids:
        raise LtDataError(f"--classes {spec!r} selects no class (is the bucket empty?)")
    return ids, record


def build_inputs(work: str | Path, classes, out: str | Path | None, store_dir: str):
    """What a store build starts from: (the WorkDir, its verified statistics, selected class ids, where
    they came from, the output path or URL: ``out`` or ``WORK/store_dir``)."""
    work = WorkDir.of(work)
    stats = work.stats()
    ids, record = select_classes(classes, stats.table, work)
    return work, stats, ids, record, str(out) if out is not None else str(work / store_dir)


def dataset_record(stats) -> dict:
    d = stats.dataset
    return {"layout": d.get("layout"), "root": d.get("root"), "split": d.get("split"),
            "options": d.get("options", {}), "num_samples": stats.num_images}


def work_expectations(work: str | Path) -> tuple[str, ClassTable, dict]:
    """(statistics fingerprint, class table, dataset description) of a work directory."""
    work = WorkDir.of(work)
    fp, dataset = work.fingerprint, work.dataset
    desc = {k: dataset.get(k) for k in ("layout", "split", "root", "num_samples")}
    return fp, work.table, desc


def compare_fingerprints(url: str, attrs: dict, *, stats: str | None = None, table: ClassTable | str | None = None,
                         work_desc: dict | None = None, rebuild: str = "rebuild it") -> None:
    """Raise ArtifactError naming what differs between the store's sources and the expected ones."""
    fp = attrs.get("fingerprints", {})
    problems = []
    if table is not None:
        want = table if isinstance(table, str) else table.fingerprint()
        if fp.get("class_table") != want:
            have = ClassTable.from_manifest(attrs["class_table"])
            msg = (f"class table differs: built for {have.dataset!r} ({have.num_classes} classes, fingerprint "
                   f"{fp.get('class_table')})")
            if isinstance(table, ClassTable):
                msg += f", expected {table.dataset!r} ({table.num_classes} classes, fingerprint {want})"
                diff = [i for i in range(min(have.num_classes, table.num_classes)) if have.names[i] != table.names[i]]
                if diff:
                    i = diff[0]
                    msg += f"; first different name: id {i} is {have.names[i]!r} in the store, {table.names[i]!r} expected"
            else:
                msg += f", expected fingerprint {want}"
            problems.append(msg)
    if stats is not None and fp.get("stats") != stats:
        d = attrs.get("dataset", {})
        msg = (f"statistics differ: built from statistics {fp.get('stats')} ({d.get('num_samples')} images of "
               f"{d.get('layout')}/{d.get('split')} at {d.get('root')})")
        if work_desc:
            msg += (f", expected {stats} ({work_desc.get('num_samples')} images of {work_desc.get('layout')}/"
                    f"{work_desc.get('split')} at {work_desc.get('root')})")
        else:
            msg += f", expected {stats}"
        problems.append(msg)
    if problems:
        raise ArtifactError(f"{url}: refused: " + "; ".join(problems) + f"; {rebuild}")


def refuse_mismatch(url: str, attrs: dict, command: str, *, work: str | Path | None = None,
                    expect_stats: str | None = None, expect_table: ClassTable | str | None = None) -> None:
    """Raise ArtifactError when a store was built from other statistics or another class table than
    ``work``'s, or than the given fingerprints; the message says how to rebuild (``lt-data COMMAND``)."""
    if work is not None:
        fp, table, desc = work_expectations(work)
        compare_fingerprints(url, attrs, stats=fp, table=table, work_desc=desc,
                             rebuild=f"rebuild it with `lt-data {command} {work}`")
    if expect_stats is not None or expect_table is not None:
        compare_fingerprints(url, attrs, stats=expect_stats, table=expect_table,
                             rebuild=f"rebuild it with `lt-data {command} WORK`")


__all__ = ["build_inputs", "select_classes", "compare_fingerprints", "dataset_record", "refuse_mismatch", "work_expectations"]
