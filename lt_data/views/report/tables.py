"""The rows, headers and notes of the report's tables as plain text, shared by the Markdown
(:mod:`~lt_data.views.report.markdown`) and HTML (:mod:`~lt_data.views.report.html`) renderers, which escape and
decorate them."""

from __future__ import annotations

from ...data.buckets import BUCKET_NAMES, BUCKETS_FILE
from .views import pct

EXPOSURE_NOTE = ("Share of the pixels of one training epoch that falls in each bucket, under each sampler "
                 "(lt-data train --sampler; defaults shown), and with pasting at the dose lt-data train derives "
                 "when no paste_args are given, for the trainer's default crop (240x320 after a 0.5-1.5 rescale; "
                 "docs/DOSE.md), estimated from the label maps' crops and the stores: the dose's expected objects "
                 "per image and share of the labelled pixels pasted (the figure lt-data train prints), added to "
                 "the tail of a uniform epoch.")


def ratio(x: float | None) -> str:
    return "–" if x is None else f"{x:,.1f}"


def bucket_rows(data: dict) -> list[list[str]]:
    rows = []
    for b in BUCKET_NAMES:
        s = data["per_bucket"][b]
        rows.append([b, str(s["classes"]), pct(s["pixel_share"]), pct(s["image_share"]),
                     pct(s["mean_class_image_share"]), ratio(s["imbalance_ratio"]) +
                     (f" ({s['empty_classes']} empty)" if s["empty_classes"] else ""),
                     s["most_frequent"] or "–", s["least_frequent"] or "–"])
    return rows


BUCKET_HEADER = ["bucket", "classes", "pixel share", "images with any of its classes", "mean class image share",
                 "imbalance ratio (max/min pixels)", "most frequent", "least frequent"]
CLASS_HEADER = ["rank", "id", "class", "bucket", "pixels", "pixel share", "cumulative", "images", "image share"]


EVAL_HEADER = ["eval pixel share", "eval image share"]


def class_header(data: dict) -> list[str]:
    return CLASS_HEADER + (EVAL_HEADER if "eval" in data else [])


def class_row(c: dict) -> list[str]:
    row = [str(c["rank"]), str(c["id"]), c["name"], c["bucket"], f"{c['pixels']:,}", pct(c["pixel_share"]),
           pct(c["cumulative_share"]), f"{c['images']:,}", pct(c["image_share"])]
    if "eval_pixel_share" in c:
        row += [pct(c["eval_pixel_share"]), pct(c["eval_image_share"])]
    return row


def class_sort_values(c: dict) -> list:
    """What each column of a class row sorts by (None: its text)."""
    values = [c["rank"], c["id"], None, BUCKET_NAMES.index(c["bucket"]), c["pixels"], c["pixel_share"],
              c["cumulative_share"], c["images"], c["image_share"]]
    if "eval_pixel_share" in c:
        values += [c["eval_pixel_share"], c["eval_image_share"]]
    return values


def bank_rows(data: dict) -> list[list[str]]:
    cls = data["classes"]
    rows = []
    by_id = {c["id"]: c for c in data["bank"]["classes"]}
    for c in (c for c in data["frequency_order"] if c in by_id):
        b = by_id[c]
        rows.append([cls[c]["name"], cls[c]["bucket"], f"{b['objects']:,}", f"{b['images']:,}", f"{b['area_min']:,}",
                     f"{b['area_p10']:,}", f"{b['area_median']:,}", f"{b['area_p90']:,}", f"{b['area_max']:,}",
                     f"{b['box_median_hw'][0]}×{b['box_median_hw'][1]}"])
    return rows


BANK_HEADER = ["class", "bucket", "objects", "images", "area min", "p10", "median", "p90", "max", "median box h×w"]
BANK_NOTE = ("Areas in pixels of the object masks (connected components of the class); objects smaller than "
             "the build's min area are not in the bank.")


def rule_text(rule: dict) -> str:
    name = rule.get("name")
    if name == "share":
        return (f"share: head = most frequent classes holding the first {rule['head_share']:.0%} of pixels; "
                f"tail = rarest classes holding at most {rule['tail_share']:.0%}")
    if name == "images" and rule.get("by") == "share":
        return (f"images: share rule on image counts (head first {rule['head_share']:.0%}, "
                f"tail at most {rule['tail_share']:.0%})")
    if name in ("rank", "images"):
        return f"{name}: top {rule['head']} head, bottom {rule['tail']} tail by {rule.get('on', 'pixels')}"
    if name == "preset":
        return f"preset {rule['preset']} (published tail); head = share rule head at {rule['head_share']:.0%}"
    if name == "list":
        return f"list: head {rule['head_classes']}, tail {rule['tail_classes']}"
    return str(rule)


def overview(data: dict) -> list[tuple[str, str]]:
    d = data["dataset"]
    ign = d["ignored_pixels"] / d["total_pixels"] if d["total_pixels"] else 0.0
    items = [("dataset", f"{d['name']} ({d['layout']} layout)"), ("split", str(d["split"])),
             ("root", str(d["root"])), ("images", f"{d['num_images']:,}"
                                         + (f" ({d['skipped']} bad samples skipped)" if d["skipped"] else "")),
             ("classes", str(d["num_classes"])), ("labelled pixels", f"{d['labelled_pixels']:,}"),
             ("ignored pixels", f"{d['ignored_pixels']:,} ({pct(ign)} of all, ignore index {d['ignore_index']})"),
             ("imbalance ratio", f"{ratio(data['imbalance_ratio'])} (most / least frequent class with pixels)"),
             ("bucket rule", rule_text(data["buckets"]["rule"])
              + ("" if data["buckets"]["from_file"] else f" — computed for this report: no {BUCKETS_FILE}"))]
    if data["buckets"]["refine"]:
        r = data["buckets"]["refine"]
        items.append(("refined", f"from a baseline's IoU: low {r['low']}, high {r['high']}, "
                                 f"{len(data['buckets']['moves'])} move(s)"))
    items.append(("statistics", f"{data['source']['stats']} (lt-data {data['source']['version']})"))
    return items


def eval_rows(data: dict) -> list[list[str]]:
    per = data["eval"]["per_bucket"]
    return [[b, pct(data["per_bucket"][b]["pixel_share"]), pct(per[b]),
             ratio(per[b] / data["per_bucket"][b]["pixel_share"]) if data["per_bucket"][b]["pixel_share"] else "–"]
            for b in BUCKET_NAMES]


EVAL_BUCKET_HEADER = ["bucket", "training pixel share", "evaluation pixel share", "evaluation / training"]


def eval_summary(data: dict) -> str:
    ev, cls = data["eval"], data["classes"]
    text = (f"Evaluation split: {ev['split']} ({ev['num_images']:,} images, {ev['labelled_pixels']:,} labelled "
            f"pixels) from {ev['work']}.")
    if ev["absent"]:
        text += (" Classes with no pixels there (their IoU cannot be measured on it): "
                 + ", ".join(cls[c]["name"] for c in ev["absent"]) + ".")
    return text


def paste_cells(r: dict) -> list[str]:
    if not r.get("pasted_objects"):
        return ["–", "–"]
    return [f"{r['pasted_objects']:.2f}", pct(r["pasted_share"])]


__all__ = ["BANK_HEADER", "BANK_NOTE", "BUCKET_HEADER", "CLASS_HEADER", "EVAL_BUCKET_HEADER", "EVAL_HEADER", "EXPOSURE_NOTE",
           "bank_rows", "bucket_rows", "class_header", "class_row", "class_sort_values", "eval_rows", "eval_summary", "overview",
           "paste_cells", "ratio", "rule_text"]
