"""Head / middle / tail buckets of classes (``WORK/buckets.json``), and their refinement from IoU.

Rules (``compute_buckets(stats, rule=..., **params)``); "frequency order" is pixel count descending,
ties broken by class id ascending:

``share`` (default)
    head = the most frequent classes that together hold the first ``head_share`` of all labelled
    pixels: a class is head when the classes before it in frequency order hold less than
    ``head_share``. tail = the rarest classes that together hold at most ``tail_share`` of the
    pixels. The rest is middle; head wins if the two overlap. Defaults ``head_share = 0.7``,
    ``tail_share = 0.05``: on CamVid train this gives head Road, Building, Sky; middle Tree, Car,
    Pavement; tail SignSymbol, Fence, Pole, Pedestrian, Bicyclist (the thin and small-object
    classes). On ADE20K's published frequencies (``objectInfo150.csv``) it gives 13 head classes
    (wall … person), 57 middle (earth … bench) and 80 tail (countertop … flag). See
    ``tests/test_buckets.py`` for both, checked exactly.
``rank``
    the ``head`` most frequent classes are head, the ``tail`` rarest are tail.
``images``
    the ``share`` rule (or ``rank`` when ``head``/``tail`` counts are given) on the number of
    images that contain each class instead of pixel counts.
``preset``
    a published list from ``manifests/aucseg.json`` (AUCSeg's T-Memory Bank ``small_index`` lists
    for Cityscapes, ADE20K and COCO-Stuff 164K) as the tail; ``preset = "aucseg"`` picks the list of
    the statistics' dataset, ``"aucseg:ade20k"`` names it. AUCSeg publishes only the tail; head is
    the ``share`` rule's head (``head_share``) among the other classes, the rest middle.
``list``
    explicit ``head_classes`` and ``tail_classes`` (ids or names); the rest middle.

Classes with no pixels in the split are the rarest: the data-driven rules (share, rank, images)
always put them in tail and say so in ``notes``; the explicit rules (preset, list) keep the list
and warn. The ignore index is never a class.

Refinement (paper 003): after training a baseline, a middle class whose IoU is below ``low`` moves
to tail and a tail class whose IoU is above ``high`` moves to middle. Head classes never move.
Refining refined buckets starts again from the rule's buckets, so it never compounds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Literal, Mapping

import numpy as np

from .. import __version__
from ..core.classes import ClassTable, class_ids_problem, load_manifest
from ..core.errors import ArtifactError, LtDataError, show_path
from ..core.io import atomic_write_json, file_sha256, read_json
from ..core.names import BUCKET_NAMES, BUCKETS_FILE, Bucket

HEAD, MIDDLE, TAIL = 0, 1, 2
Rule = Literal["share", "rank", "images", "preset", "list"]
RULES = ("share", "rank", "images", "preset", "list")

DEFAULT_HEAD_SHARE = 0.7
DEFAULT_TAIL_SHARE = 0.05
DEFAULT_LOW = 0.4   # IoU below which a middle class is "poorly segmented" and moves to tail
DEFAULT_HIGH = 0.6  # IoU above which a tail class is "well segmented" and moves to middle
PRESETS_MANIFEST = "aucseg"

_RULE_PARAMS = {
    "share": {"head_share", "tail_share"},
    "rank": {"head", "tail"},
    "images": {"head_share", "tail_share", "head", "tail"},
    "preset": {"preset", "head_share"},
    "list": {"head_classes", "tail_classes"},
}


@dataclass(frozen=True)
class Buckets:
    """Head, middle and tail of a class table: from :func:`compute_buckets` to ``buckets.json`` and back
    (:func:`load_buckets`, ``WorkDir.buckets()``), one form throughout.

    The class ids of each bucket (ascending), the rule that chose them and its notes; ``classes`` (per
    class: id, name, bucket, rank, pixels, pixel_share, images, image_share) and ``summary`` (per bucket:
    classes, pixel_share, names in frequency order) when computed from statistics (a hand-written file
    may hold only the lists); ``refine`` the IoU refinement (None: not refined); ``source`` what they
    were computed from (``stats``: the statistics' fingerprint). :meth:`to_json` is ``buckets.json``."""

    head: list[int]
    middle: list[int]
    tail: list[int]
    num_classes: int
    rule: dict
    notes: list[str] = field(default_factory=list)
    refine: dict | None = None
    classes: list[dict] = field(default_factory=list, repr=False)
    summary: dict = field(default_factory=dict, repr=False)
    ignore_index: int | None = None
    num_images: int | None = None
    source: dict | None = None

    # buckets.json's keys, in the order it is written (source is added by the stage)
    _KEYS = ("rule", "head", "middle", "tail", "num_classes", "ignore_index", "num_images", "classes", "summary",
             "notes", "refine", "source")

    @classmethod
    def from_json(cls, doc: dict) -> "Buckets":
        lists = {name: [int(c) for c in doc[name]] for name in BUCKET_NAMES}
        return cls(**lists, num_classes=int(doc["num_classes"]), rule=dict(doc.get("rule", {})),
                   notes=list(doc.get("notes", [])), refine=doc.get("refine") or None,
                   classes=list(doc.get("classes", [])), summary=dict(doc.get("summary", {})),
                   ignore_index=doc.get("ignore_index"), num_images=doc.get("num_images"), source=doc.get("source"))

    def to_json(self) -> dict:
        """``buckets.json``'s content (``source`` only once set)."""
        out = {k: getattr(self, k) for k in self._KEYS}
        if out["source"] is None:
            del out["source"]
        return out

    @property
    def stats(self) -> str | None:
        """The fingerprint of the statistics they were computed from."""
        return (self.source or {}).get("stats")

    def ids(self, name: Bucket) -> list[int]:
        return getattr(self, name)

    def union(self, names) -> list[int]:
        """The sorted ids of the buckets ``names`` together (:func:`bucket_spec`'s names)."""
        return sorted({c for name in names for c in self.ids(name)})

    @property
    def lists(self) -> dict[str, list[int]]:
        """``{"head": ids, "middle": ids, "tail": ids}``: what :func:`lt_data.training.metrics.evaluate_confusion` takes."""
        return {name: self.ids(name) for name in BUCKET_NAMES}


def bucket_spec(spec) -> list[str] | None:
    """The bucket names a ``--classes`` value names (``tail``, ``middle+tail``); None for ids or class names."""
    if not isinstance(spec, str):
        return None
    names = [part.strip() for part in spec.split("+")]
    return names if all(name in BUCKET_NAMES for name in names) else None


# ---- pure splitting on a vector of frequencies ----------------------------------------------------

def frequency_order(values: np.ndarray) -> np.ndarray:
    """Class ids sorted by ``values`` descending, ties by id ascending. values: (K,) non-negative."""
    values = np.asarray(values)
    return np.lexsort((np.arange(len(values)), -values.astype(np.float64)))


def split_by_share(values: np.ndarray, head_share: float = DEFAULT_HEAD_SHARE,
                   tail_share: float = DEFAULT_TAIL_SHARE) -> np.ndarray:
    """(K,) bucket index (0 head, 1 middle, 2 tail) from cumulative shares of ``values`` (K,).

    Head: classes whose predecessors in frequency order hold less than ``head_share`` of the total.
    Tail: the rarest classes that together hold at most ``tail_share``. Zero classes are tail.
    """
    if not 0.0 < head_share <= 1.0:
        raise LtDataError(f"head share must lie in (0, 1], got {head_share}")
    if not 0.0 <= tail_share < 1.0:
        raise LtDataError(f"tail share must lie in [0, 1), got {tail_share}")
    values = np.asarray(values, dtype=np.float64)
    total = values.sum()
    if total <= 0:
        raise LtDataError("no labelled pixels: every class is empty, so there is nothing to split")
    order = frequency_order(values)
    v = values[order]
    cum = np.cumsum(v)
    before = cum - v
    suffix = np.cumsum(v[::-1])[::-1]  # this class and every rarer one
    tol = 1e-12 * total  # shares that equal a threshold in exact arithmetic still count
    head = (before < head_share * total - tol) & (v > 0)
    tail = (suffix <= tail_share * total + tol) & ~head
    out = np.full(len(values), MIDDLE, dtype=np.int64)
    out[order[head]] = HEAD
    out[order[tail]] = TAIL
    return out


def split_by_rank(values: np.ndarray, head: int, tail: int) -> np.ndarray:
    """(K,) bucket index: the ``head`` most frequent classes head, the ``tail`` rarest tail."""
    k = len(values)
    if head is None or tail is None:
        raise LtDataError("the rank rule needs both --head N and --tail M (numbers of classes)")
    head, tail = int(head), int(tail)
    if head < 0 or tail < 0 or head + tail > k:
        raise LtDataError(f"rank rule: head {head} + tail {tail} must be non-negative and at most the "
                          f"{k} classes")
    order = frequency_order(values)
    out = np.full(k, MIDDLE, dtype=np.int64)
    out[order[:head]] = HEAD
    if tail:
        out[order[k - tail:]] = TAIL
    return out


# ---- class lists --------------------------------------------------------------------------------

def parse_class_ids(spec: str | Iterable[int | str] | None, names: tuple[str, ...] | list[str],
                    what: str = "classes") -> list[int]:
    """Class ids from ids or names: ``"1,2,road"`` or ``[1, 2, "road"]`` (names case-insensitive)."""
    if spec is None:
        return []
    items = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else list(spec)
    lookup = {n.lower(): i for i, n in enumerate(names)}
    out, unknown = [], []
    for item in items:
        if isinstance(item, str) and item == "":
            continue
        if isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            k = int(item)
        elif isinstance(item, str) and item.lstrip("-").isdigit():
            k = int(item)
        elif isinstance(item, str) and item.lower() in lookup:
            k = lookup[item.lower()]
        else:
            unknown.append(str(item))
            continue
        if not 0 <= k < len(names):
            unknown.append(str(item))
            continue
        if k not in out:
            out.append(k)
    if unknown:
        shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
        raise LtDataError(f"{what}: unknown class(es) {', '.join(repr(u) for u in unknown)}; give ids "
                          f"0..{len(names) - 1} or names ({shown})")
    return sorted(out)


def load_preset(name: str, table: ClassTable) -> tuple[str, list[int]]:
    """``(resolved name, tail ids)`` of a published preset, checked against the class table."""
    manifest = load_manifest(PRESETS_MANIFEST)
    family, _, dataset = name.partition(":")
    if family != "aucseg":
        raise LtDataError(f"unknown preset {name!r}; presets are 'aucseg' (the statistics' dataset) or "
                          f"'aucseg:DATASET' with DATASET in {', '.join(k for k in manifest if k != 'source')}")
    dataset = dataset or table.dataset
    entry = manifest.get(dataset)
    if dataset == "source" or entry is None:
        raise LtDataError(f"preset {name!r}: AUCSeg publishes tail lists for "
                          f"{', '.join(k for k in manifest if k != 'source')}, not {dataset!r}; "
                          f"use --preset aucseg:DATASET or another rule")
    if entry["num_classes"] != table.num_classes:
        raise LtDataError(f"preset aucseg:{dataset} is for {entry['num_classes']} classes but the statistics' "
                          f"class table {table.dataset!r} has {table.num_classes}")
    return f"aucseg:{dataset}", sorted(int(i) for i in entry["tail"])


# ---- buckets from statistics --------------------------------------------------------------------

def split_classes(pixels: np.ndarray, rule: Rule = "share", *, images: np.ndarray | None = None,
                  table: ClassTable | None = None, names: list[str] | None = None,
                  **params) -> tuple[np.ndarray, dict, list[str]]:
    """Bucket index (K,) for per-class ``pixels`` (K,) under ``rule``.

    Returns ``(bucket index, rule record with every parameter, notes)``. ``images`` (K,) is needed
    by the ``images`` rule, ``table`` by ``preset`` and names by ``list``.
    """
    pixels = np.asarray(pixels)
    k = len(pixels)
    names = list(names if names is not None else (table.names if table is not None else map(str, range(k))))
    if rule not in RULES:
        raise LtDataError(f"unknown bucket rule {rule!r}; rules are {', '.join(RULES)}")
    given = {p for p, v in params.items() if v is not None}
    extra = given - _RULE_PARAMS[rule]
    if extra:
        raise LtDataError(f"option(s) {', '.join(sorted(extra))} do not apply to the {rule} rule "
                          f"(it takes {', '.join(sorted(_RULE_PARAMS[rule]))})")
    p = {key: v for key, v in params.items() if v is not None}
    notes: list[str] = []
    record: dict = {"name": rule}

    if rule == "share":
        record |= {"head_share": float(p.get("head_share", DEFAULT_HEAD_SHARE)),
                   "tail_share": float(p.get("tail_share", DEFAULT_TAIL_SHARE)), "on": "pixels"}
        labels = split_by_share(pixels, record["head_share"], record["tail_share"])
    elif rule == "rank":
        record |= {"head": p.get("head"), "tail": p.get("tail"), "on": "pixels"}
        labels = split_by_rank(pixels, p.get("head"), p.get("tail"))
    elif rule == "images":
        if images is None:
            raise LtDataError("the images rule needs per-class image counts")
        if "head" in p or "tail" in p:
            if "head_share" in p or "tail_share" in p:
                raise LtDataError("images rule: give either --head/--tail (ranks) or --head-share/--tail-share")
            record |= {"head": p.get("head"), "tail": p.get("tail"), "on": "images", "by": "rank"}
            labels = split_by_rank(images, p.get("head"), p.get("tail"))
        else:
            record |= {"head_share": float(p.get("head_share", DEFAULT_HEAD_SHARE)),
                       "tail_share": float(p.get("tail_share", DEFAULT_TAIL_SHARE)), "on": "images",
                       "by": "share"}
            labels = split_by_share(images, record["head_share"], record["tail_share"])
    elif rule == "preset":
        if table is None:
            raise LtDataError("the preset rule needs the class table")
        name, tail = load_preset(str(p.get("preset", PRESETS_MANIFEST)), table)
        head_share = float(p.get("head_share", DEFAULT_HEAD_SHARE))
        record |= {"preset": name, "head_share": head_share,
                   "head_from": "share rule head among the classes not in the published tail",
                   "source": load_manifest(PRESETS_MANIFEST).get("source", "")}
        labels = np.where(split_by_share(pixels, head_share, 0.0) == HEAD, HEAD, MIDDLE)
        labels[tail] = TAIL
    else:  # list
        head_ids = parse_class_ids(p.get("head_classes"), names, "--head-classes")
        tail_ids = parse_class_ids(p.get("tail_classes"), names, "--tail-classes")
        both = sorted(set(head_ids) & set(tail_ids))
        if both:
            raise LtDataError(f"class(es) {', '.join(names[i] for i in both)} are listed both as head and as tail")
        if not head_ids and not tail_ids:
            raise LtDataError("the list rule needs --head-classes and/or --tail-classes")
        record |= {"head_classes": head_ids, "tail_classes": tail_ids}
        labels = np.full(k, MIDDLE, dtype=np.int64)
        labels[head_ids] = HEAD
        labels[tail_ids] = TAIL

    empty = np.flatnonzero(pixels == 0)
    if len(empty):
        listed = ", ".join(f"{names[i]} ({i})" for i in empty)
        if rule in ("share", "rank", "images"):
            moved = [i for i in empty if labels[i] != TAIL]
            labels[empty] = TAIL
            notes.append(f"{len(empty)} class(es) have no pixels in this split and are tail, the rarest: {listed}"
                         + (f" ({len(moved)} of them placed in tail beyond the rule's count)" if moved else ""))
        else:
            off = [i for i in empty if labels[i] != TAIL]
            notes.append(f"{len(empty)} class(es) have no pixels in this split: {listed}"
                         + (f"; the {rule} rule keeps {', '.join(names[i] for i in off)} out of tail as listed"
                            if off else ""))
    for b, name in enumerate(BUCKET_NAMES):
        if not (labels == b).any():
            notes.append(f"the {name} bucket is empty")
    return labels, record, notes


def compute_buckets(stats, rule: Rule = "share", **params) -> Buckets:
    """The :class:`Buckets` of a :class:`~lt_data.data.stats.ClassStats` under ``rule`` (see the module
    docstring), without ``source`` (:func:`write_buckets` sets it) and not refined."""
    labels, record, notes = split_classes(stats.pixels, rule, images=stats.images, table=stats.table,
                                          **params)
    pixels, images = stats.pixels, stats.images
    rank = np.empty(len(pixels), dtype=np.int64)
    rank[frequency_order(pixels)] = np.arange(1, len(pixels) + 1)
    pshare, ishare = stats.pixel_share, stats.image_share
    classes = [{"id": k, "name": stats.table.names[k], "bucket": BUCKET_NAMES[labels[k]], "rank": int(rank[k]),
                "pixels": int(pixels[k]), "pixel_share": float(pshare[k]), "images": int(images[k]),
                "image_share": float(ishare[k])} for k in range(len(pixels))]
    return Buckets(**_lists_of(classes), num_classes=len(pixels), rule=record, notes=notes, classes=classes,
                   ignore_index=stats.table.ignore_index, num_images=stats.num_images)


def _lists_of(classes: list[dict]) -> dict:
    """The id lists and the per-bucket summary of ``classes[].bucket`` (Buckets' fields)."""
    out, summary = {}, {}
    for name in BUCKET_NAMES:
        members = [c for c in classes if c["bucket"] == name]
        out[name] = [c["id"] for c in members]
        summary[name] = {
            "classes": len(members),
            "pixel_share": float(sum(c["pixel_share"] for c in members)),
            "names": [c["name"] for c in sorted(members, key=lambda c: c["rank"])],
        }
    return out | {"summary": summary}


def bucket_index(buckets: Buckets) -> np.ndarray:
    """(K,) int64 bucket of each class (0 head, 1 middle, 2 tail)."""
    out = np.full(buckets.num_classes, -1, dtype=np.int64)
    for b, name in enumerate(BUCKET_NAMES):
        out[np.asarray(buckets.ids(name), dtype=np.int64)] = b
    if (out < 0).any():
        raise ArtifactError(f"{BUCKETS_FILE}: class(es) {np.flatnonzero(out < 0).tolist()} are in no bucket")
    return out


# ---- refinement from a baseline's IoU (paper 003) -----------------------------------------------

def read_iou(path: str | Path, names: list[str] | tuple[str, ...]) -> dict[int, float | None]:
    """Per-class IoU from an evaluation file ``{"per_class": [{"id": k, "iou": x}, ...]}``.

    IoU is a fraction in [0, 1]; ``null`` (or NaN) marks a class the evaluation could not score.
    An optional ``name`` per entry must match the class table. Errors name the file and the entry.
    """
    path = Path(path)
    where = show_path(path)  # one line whatever the file is called
    data = read_json(path, "an IoU file (lt-data evaluate's metrics.json)")
    rows = data.get("per_class") if isinstance(data, dict) else None
    if not isinstance(rows, list):
        raise LtDataError(f'{where}: expected {{"per_class": [{{"id": ..., "iou": ...}}, ...]}}, '
                          f"found no per_class list")
    out: dict[int, float | None] = {}
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or "id" not in row or "iou" not in row:
            raise LtDataError(f"{where}: per_class[{i}] needs an 'id' and an 'iou', got {row!r}")
        k = row["id"]
        if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < len(names):
            raise LtDataError(f"{where}: per_class[{i}] has id {k!r}; class ids are 0..{len(names) - 1}")
        if k in out:
            raise LtDataError(f"{where}: class id {k} is listed twice")
        if "name" in row and str(row["name"]).lower() != names[k].lower():
            raise LtDataError(f"{where}: per_class[{i}] names class {k} {row['name']!r} but the statistics call it "
                              f"{names[k]!r}; is this IoU file for another dataset?")
        iou = row["iou"]
        if iou is None or (isinstance(iou, float) and math.isnan(iou)):
            out[k] = None
            continue
        if isinstance(iou, bool) or not isinstance(iou, (int, float)) or not 0.0 <= iou <= 1.0:
            hint = " (percentages? IoU must be a fraction)" if isinstance(iou, (int, float)) and 1 < iou <= 100 else ""
            raise LtDataError(f"{where}: per_class[{i}] (class {k}) has iou {iou!r}; expected a number in [0, 1]{hint}")
        out[k] = float(iou)
    return out


def refine_buckets(buckets: Buckets, per_class_iou: Mapping[int, float | None], low: float = DEFAULT_LOW,
                   high: float = DEFAULT_HIGH) -> Buckets:
    """Move middle classes with IoU < ``low`` to tail and tail classes with IoU > ``high`` to middle.

    ``per_class_iou`` maps class id → IoU in [0, 1] (None: not scored, never moved). Every middle and
    tail class must have an entry. Returns new Buckets whose ``refine`` records the thresholds, the
    buckets before, every move with its reason, and the classes left unjudged.
    """
    if not 0.0 <= low <= 1.0 or not 0.0 <= high <= 1.0:
        raise LtDataError(f"refine thresholds must lie in [0, 1], got low {low}, high {high}")
    if low > high:
        raise LtDataError(f"refine: low {low} is above high {high}; a class could move both ways")
    import copy
    import dataclasses

    classes = copy.deepcopy(buckets.classes)
    before = buckets.refine["before"] if buckets.refine else {n: list(buckets.ids(n)) for n in BUCKET_NAMES}
    start = {k: name for name in BUCKET_NAMES for k in before[name]}
    for c in classes:
        c["bucket"] = start[c["id"]]
    need = sorted(k for k, b in start.items() if b in ("middle", "tail"))
    missing = [k for k in need if k not in per_class_iou]
    if missing:
        by_id = {c["id"]: c["name"] for c in classes}
        raise LtDataError(f"refine: no IoU for class(es) {', '.join(f'{by_id[k]} ({k})' for k in missing)}; "
                          f"every middle and tail class needs one (null for a class that could not be scored)")
    moves, unjudged = [], []
    for c in classes:
        k, b = c["id"], c["bucket"]
        if b == "head":
            continue
        iou = per_class_iou[k]
        if iou is None:
            unjudged.append(k)
        elif b == "middle" and iou < low:
            moves.append({"id": k, "name": c["name"], "from": "middle", "to": "tail", "iou": iou,
                          "reason": f"middle class with IoU {iou:.4f} < low {low}"})
            c["bucket"] = "tail"
        elif b == "tail" and iou > high:
            moves.append({"id": k, "name": c["name"], "from": "tail", "to": "middle", "iou": iou,
                          "reason": f"tail class with IoU {iou:.4f} > high {high}"})
            c["bucket"] = "middle"
    refine = {"low": float(low), "high": float(high),
              "rule": "middle class with IoU < low -> tail; tail class with IoU > high -> middle "
                      "(paper 003); head classes never move",
              "before": before, "moves": moves, "unjudged": unjudged,
              "iou": {str(k): per_class_iou.get(k) for k in sorted(per_class_iou)}}
    return dataclasses.replace(buckets, **_lists_of(classes), classes=classes, refine=refine)


# ---- the stage ----------------------------------------------------------------------------------

def write_buckets(work: str | Path, rule: Rule | None = None, *, refine: str | Path | None = None,
                  low: float | None = None, high: float | None = None, **params) -> Path:
    """The ``buckets`` stage: compute (and optionally refine) buckets, write ``WORK/buckets.json``.

    ``rule`` None means ``share``, except that with ``refine`` an existing ``buckets.json`` keeps its
    rule and parameters (so ``--refine`` alone refines the buckets you already chose).
    Returns the path written.
    """
    from .stats import load_stats, stats_fingerprint

    work = Path(work)
    stats = load_stats(work)
    path = work / BUCKETS_FILE
    if rule is None:
        rule = "share"
        if refine is not None and path.is_file() and not any(v is not None for v in params.values()):
            old = read_json(path).get("rule", {})
            if old.get("name") in RULES:
                rule = old["name"]
                params = {key: v for key, v in old.items() if key in _RULE_PARAMS[rule]}
    if refine is None and (low is not None or high is not None):
        raise LtDataError("--low/--high only apply with --refine IOU.json")
    import dataclasses

    buckets = compute_buckets(stats, rule, **params)
    if refine is not None:
        iou = read_iou(refine, stats.table.names)
        buckets = refine_buckets(buckets, iou, DEFAULT_LOW if low is None else low,
                                 DEFAULT_HIGH if high is None else high)
        buckets.refine["source"] = {"path": str(Path(refine).resolve()), "sha256": file_sha256(refine)}
    ds = stats.dataset
    buckets = dataclasses.replace(buckets, source={
        "stats": stats_fingerprint(work), "dataset": stats.table.dataset, "layout": ds.get("layout"),
        "root": ds.get("root"), "split": ds.get("split"), "tool": "lt-data", "version": __version__})
    atomic_write_json(path, buckets.to_json())
    return path


def load_buckets(work: str | Path, *, check: bool = True) -> Buckets:
    """The :class:`Buckets` of a work directory's ``buckets.json`` (uncached; ``WorkDir.buckets()`` caches).

    Refuses (ArtifactError) buckets computed from other statistics than the ones now in ``work``
    (``stats`` re-run, for another dataset or split), unless ``check`` is False, and, always, bucket
    lists that are not lists of class ids 0..K-1 or that put a class in two buckets (a hand edit).
    A file without ``middle`` gets the classes in neither head nor tail.
    """
    from .stats import DATASET_FILE, stats_fingerprint

    work = Path(work)
    path = work / BUCKETS_FILE
    rerun = f"re-run `lt-data buckets {show_path(work)}`"
    if not path.is_file():
        raise ArtifactError(f"{show_path(path)}: not found; run `lt-data buckets {show_path(work)}` first")
    try:
        buckets = read_json(path)
        buckets["head"], buckets["tail"]
    except (ValueError, KeyError, TypeError):
        raise ArtifactError(f"{show_path(path)}: not a buckets file written by lt-data (unreadable or edited); "
                            f"{rerun}") from None
    k = buckets.get("num_classes")
    if check:
        now = stats_fingerprint(work)
        built_from = (buckets.get("source") or {}).get("stats")
        if built_from != now:
            raise ArtifactError(f"{show_path(path)}: built from other statistics ({built_from}, now {now}); {rerun}")
        k = ClassTable.from_manifest(read_json(work / DATASET_FILE)["class_table"]).num_classes
        if buckets.get("num_classes") != k:
            raise ArtifactError(f"{show_path(path)}: {buckets.get('num_classes')} classes, the statistics have {k}; "
                                f"{rerun}")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ArtifactError(f'{show_path(path)}: "num_classes" is {k!r}, not a number of classes; {rerun}')
    _check_lists(buckets, k, path, rerun)
    try:
        return Buckets.from_json(buckets)
    except (ValueError, KeyError, TypeError):
        raise ArtifactError(f"{show_path(path)}: not a buckets file written by lt-data (unreadable or edited); "
                            f"{rerun}") from None


def _check_lists(buckets: dict, k: int, path: Path, rerun: str) -> None:
    """Refuse bucket lists of a hand-edited file that are not distinct class ids 0..k-1 or that put a
    class in two buckets (train would index out of range, the report count a class twice)."""
    if "middle" not in buckets:  # derived: the classes in neither of the lists given
        for name in ("head", "tail"):
            _check_list(buckets, name, k, path, rerun)
        buckets["middle"] = sorted(set(range(k)) - set(buckets["head"]) - set(buckets["tail"]))
    owner: dict[int, str] = {}
    for name in BUCKET_NAMES:
        _check_list(buckets, name, k, path, rerun)
        for c in buckets[name]:
            if c in owner:
                raise ArtifactError(f'{show_path(path)}: class {c} is both in "{owner[c]}" and in "{name}"; a class '
                                    f"belongs to one bucket; {rerun}")
            owner[c] = name


def _check_list(buckets: dict, name: str, k: int, path: Path, rerun: str) -> None:
    problem = class_ids_problem(buckets[name], k)
    if problem:
        raise ArtifactError(f'{show_path(path)}: "{name}" {problem}; {rerun}')


def format_buckets(buckets: Buckets) -> str:
    """A plain-text summary: one line per bucket, classes in frequency order, then notes and moves."""
    lines = ["rule: " + ", ".join(f"{k}={v}" for k, v in buckets.rule.items() if k not in ("source", "head_from"))]
    for name in BUCKET_NAMES:
        s = buckets.summary[name]
        shown = s["names"] if len(s["names"]) <= 14 else s["names"][:7] + ["..."] + s["names"][-6:]
        lines.append(f"{name:<7} {s['classes']:>4} classes {s['pixel_share']:>8.3%} of pixels: {', '.join(shown)}")
    for m in (buckets.refine or {}).get("moves", []):
        lines.append(f"moved {m['name']} ({m['id']}) {m['from']} -> {m['to']}: {m['reason']}")
    lines += [f"note: {n}" for n in buckets.notes]
    return "\n".join(lines)
